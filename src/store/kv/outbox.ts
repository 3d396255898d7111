/**
 * The outbox of `session-buddy forward` (SPEC 8.7) on a Deno KV store. Every commit that
 * changes a session's record (a start, end, heartbeat, reap or import) also sets the
 * session's marker `["outbox", id]`; the forwarder sends the record as it then is and
 * deletes the marker only if no writer has set it again since it was read. A marker is
 * therefore the store's own position of the forwarder: a restart, or a SIGKILL between a
 * send and its settle, sends again at most the records of one batch, and the fleet's
 * import rules (keyed by `event_id`) make a record sent twice change nothing.
 */
import type { SessionRecord } from "../../sessions/session.ts";
import type { KvHandle } from "./deadline.ts";
import { sessionKey } from "./keys.ts";
import { decodeRecord } from "./records.ts";
import { withRetry } from "./retry.ts";

/** A session's marker: changed since it was last forwarded. */
export function outboxKey(sessionId: string): Deno.KvKey {
  return ["outbox", sessionId];
}

/** What a marker holds: when the oldest change not yet forwarded was made (ms). */
export interface OutboxMark {
  at: number;
}

/** Where the forwarder says how it went, for `forward --status` and `/metrics`. */
export const FORWARD_STATE_KEY: Deno.KvKey = ["forward", "state"];

/** The forwarder's own account, kept in the store beside the outbox. */
export interface ForwardState {
  /** The target as the operator named it (a URL without credentials, or a location). */
  target: string;
  /** Records delivered since the outbox was first forwarded. */
  delivered: number;
  lastDeliveryAt: number | null;
  lastAttemptAt: number | null;
  /** The last failure's one line, cleared by the next delivery. */
  lastError: string | null;
}

/** Marks a session changed at `atMs`, keeping an older mark's time when one is known. */
export function markChanged(
  op: Deno.AtomicOperation,
  sessionId: string,
  atMs: number,
  older?: OutboxMark | null,
): Deno.AtomicOperation {
  return op.set(outboxKey(sessionId), { at: Math.min(older?.at ?? atMs, atMs) });
}

/** One waiting session: its record as read now (null when it is gone) and its marker. */
export interface Waiting {
  sessionId: string;
  record: SessionRecord | null;
  mark: Deno.KvEntry<OutboxMark>;
}

/** How many markers one commit checks on a remote store (a denokv server allows 10). */
const REMOTE_CHECKS = 10;
/** How many on a local file (Deno KV allows 100). */
const LOCAL_CHECKS = 100;

/** The outbox of one store, read and settled by `forward`. */
export class KvOutbox {
  readonly #kv: KvHandle;
  readonly #checks: number;
  #cursor: Deno.KvKey | null = null;

  /** `remote`: a KV Connect store, whose server takes fewer checks in one commit. */
  constructor(kv: KvHandle, remote = false) {
    this.#kv = kv;
    this.#checks = remote ? REMOTE_CHECKS : LOCAL_CHECKS;
  }

  /**
   * Up to `limit` waiting sessions with their records, in id order from where the last
   * batch ended (then from the start again), so that sessions changed over and over do not
   * hold back the rest.
   */
  async next(limit: number): Promise<Waiting[]> {
    let marks = await this.#marks(limit, this.#cursor);
    if (marks.length < limit && this.#cursor !== null) {
      const seen = new Set(marks.map((m) => m.key[1]));
      const wrapped = await this.#marks(limit - marks.length, null);
      marks = marks.concat(wrapped.filter((m) => !seen.has(m.key[1])));
    }
    this.#cursor = marks.at(-1)?.key ?? null;
    // Deno KV reads at most 10 keys at once.
    const reads = chunks(marks.map((m) => sessionKey(m.key[1] as string)), 10)
      .map((keys) => withRetry(() => this.#kv.getMany<Uint8Array[]>(keys)));
    const records = (await Promise.all(reads)).flat().map((e) => e.value);
    return marks.map((mark, i) => ({
      sessionId: mark.key[1] as string,
      record: records[i] ? decodeRecord(records[i]!) : null,
      mark,
    }));
  }

  async #marks(limit: number, after: Deno.KvKey | null): Promise<Deno.KvEntry<OutboxMark>[]> {
    // The string right after an id is the id with U+0000 appended: the listing goes on
    // strictly after the key it ended at.
    const selector: Deno.KvListSelector = after
      ? { prefix: ["outbox"], start: ["outbox", `${after[1] as string}\u0000`] }
      : { prefix: ["outbox"] };
    const marks: Deno.KvEntry<OutboxMark>[] = [];
    for await (const entry of this.#kv.list<OutboxMark>(selector, { limit })) marks.push(entry);
    return marks;
  }

  /**
   * Deletes the markers of sessions that were delivered, each only if no writer set it
   * again since `next` read it (then the session waits for the next batch). Returns how
   * many were settled.
   */
  async settle(delivered: Waiting[]): Promise<number> {
    let settled = 0;
    for (let i = 0; i < delivered.length; i += this.#checks) {
      const part = delivered.slice(i, i + this.#checks);
      if (await this.#settle(part)) {
        settled += part.length;
        continue;
      }
      // One of them changed meanwhile: settle the others one by one.
      for (const w of part) if (await this.#settle([w])) settled++;
    }
    return settled;
  }

  /** One commit deleting `part`'s markers if none changed; whether it applied. */
  async #settle(part: Waiting[]): Promise<boolean> {
    const res = await withRetry(() => {
      const op = this.#kv.atomic();
      for (const w of part) op.check(w.mark).delete(w.mark.key);
      return op.commit();
    });
    return res.ok;
  }

  /** How many sessions wait, and when the oldest change among them was made. */
  async waiting(): Promise<{ sessions: number; oldestAt: number | null }> {
    let sessions = 0;
    let oldestAt: number | null = null;
    for await (const entry of this.#kv.list<OutboxMark>({ prefix: ["outbox"] })) {
      sessions++;
      if (oldestAt === null || entry.value.at < oldestAt) oldestAt = entry.value.at;
    }
    return { sessions, oldestAt };
  }

  /** The forwarder's account, or null when this store has never been forwarded. */
  async state(): Promise<ForwardState | null> {
    return (await withRetry(() => this.#kv.get<ForwardState>(FORWARD_STATE_KEY))).value;
  }

  /** Keeps the forwarder's account. */
  async saveState(state: ForwardState): Promise<void> {
    await withRetry(async () =>
      (await this.#kv.atomic().set(FORWARD_STATE_KEY, state).commit()).ok ? true : undefined
    );
  }

  /**
   * Marks every session that has no marker: the first forward of a store written before
   * it had an outbox sends all it holds (a session sent twice changes nothing). Returns
   * how many it marked.
   */
  async markAll(nowMs: number): Promise<number> {
    let ids: string[] = [];
    let marked = 0;
    const flush = async () => {
      const part = ids;
      ids = [];
      await withRetry(async () => {
        const marks = (await Promise.all(
          chunks(part.map(outboxKey), 10).map((keys) => this.#kv.getMany<OutboxMark[]>(keys)),
        )).flat();
        const op = this.#kv.atomic();
        const unmarked = marks.filter((m) => m.versionstamp === null);
        for (const m of unmarked) markChanged(op.check(m), m.key[1] as string, nowMs);
        if (!(await op.commit()).ok) return undefined;
        marked += unmarked.length;
        return true;
      });
    };
    for await (const entry of this.#kv.list({ prefix: ["session"] })) {
      ids.push(entry.key[1] as string);
      if (ids.length === this.#checks) await flush();
    }
    if (ids.length > 0) await flush();
    return marked;
  }
}

/** `items` in runs of at most `size`. */
function chunks<T>(items: T[], size: number): T[][] {
  const runs: T[][] = [];
  for (let i = 0; i < items.length; i += size) runs.push(items.slice(i, i + size));
  return runs;
}
