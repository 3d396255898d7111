/** The session store on Deno KV: one atomic commit per lifecycle event. */
import type { SessionEndEvent, SessionStartEvent } from "../sessions/events.ts";
import {
  baseSessionId,
  candidateId,
  canonicalJson,
  endRecord,
  type EndSource,
  type SessionRecord,
  startRecord,
  touchRecord,
} from "../sessions/session.ts";
import {
  eventKey,
  FEED_TTL_MS,
  feedKey,
  idSeqKey,
  indexKeys,
  listPrefix,
  sessionKey,
  statusKey,
} from "./keys.ts";
import {
  type CursorPosition,
  matches,
  type SessionFilter,
  type SessionView,
  viewOf,
} from "../sessions/query.ts";
import { type RetryOptions, withRetry } from "./retry.ts";

/** What `start` did with an event. */
export type StartResult =
  | { kind: "tracked"; record: SessionRecord }
  | { kind: "replayed"; sessionId: string }
  | { kind: "conflict"; sessionId: string };

/** What `end` did with an event. */
export type EndResult =
  | { kind: "not_found" }
  | { kind: "ended"; record: SessionRecord; changed: boolean; clamped: boolean };

interface EventEntry {
  session_id: string;
  digest: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Records are stored as UTF-8 JSON so their size is exactly what validation bounded. */
export function encodeRecord(record: SessionRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

/** Reads a stored record back. */
export function decodeRecord(bytes: Uint8Array): SessionRecord {
  return JSON.parse(decoder.decode(bytes)) as SessionRecord;
}

async function digestOf(event: SessionStartEvent): Promise<string> {
  const normalised = { ...event, metadata: event.metadata ?? null };
  const hash = await crypto.subtle.digest("SHA-256", encoder.encode(canonicalJson(normalised)));
  return Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The session store over an open Deno KV handle. */
export class KvSessionStore {
  readonly #kv: Deno.Kv;
  readonly #retry: Partial<RetryOptions>;

  constructor(kv: Deno.Kv, retry: Partial<RetryOptions> = {}) {
    this.#kv = kv;
    this.#retry = retry;
  }

  /**
   * Records a started session under the first free id of its base, exactly once per
   * event id. Returns only after the commit.
   */
  async start(event: SessionStartEvent, trackedBy: string | null, now: Date): Promise<StartResult> {
    const digest = await digestOf(event);
    const base = baseSessionId(event);
    const evKey = eventKey(event.event_id);
    const seqKey = idSeqKey(base);
    // Ids outside the counter (none are written by this program, but a store is shared)
    // can occupy a candidate; a failed commit with nothing else changed means exactly that.
    let skip = 0;
    let lastSeq: string | null | undefined;
    return await withRetry<StartResult>(async () => {
      const [ev, seq] = await this.#kv.getMany<[EventEntry, number]>([evKey, seqKey]);
      if (ev.value) {
        const kind = ev.value.digest === digest ? "replayed" : "conflict";
        return { kind, sessionId: ev.value.session_id };
      }
      if (lastSeq !== undefined && lastSeq === seq.versionstamp) skip++;
      else skip = 0;
      lastSeq = seq.versionstamp;
      const n = (seq.value ?? 0) + 1 + skip;
      const record = startRecord(event, candidateId(base, n), trackedBy, now);
      const op = this.#kv.atomic()
        .check({ key: evKey, versionstamp: null })
        .check(seq)
        .check({ key: sessionKey(record.session_id), versionstamp: null })
        .set(seqKey, n)
        .set(evKey, { session_id: record.session_id, digest } satisfies EventEntry)
        .set(sessionKey(record.session_id), encodeRecord(record));
      for (const key of indexKeys(record)) op.set(key, null);
      op.set(feedKey(now.getTime(), record.session_id, "start"), null, { expireIn: FEED_TTL_MS });
      const res = await op.commit();
      return res.ok ? { kind: "tracked", record } : undefined;
    }, this.#retry);
  }

  /** Ends a session; an end already made by its client stays as it was. */
  async end(
    event: SessionEndEvent,
    source: EndSource = "client",
    now: Date = new Date(),
  ): Promise<EndResult> {
    const key = sessionKey(event.session_id);
    return await withRetry<EndResult>(async () => {
      const entry = await this.#kv.get<Uint8Array>(key);
      if (!entry.value) return { kind: "not_found" };
      const before = decodeRecord(entry.value);
      const outcome = endRecord(before, event, source);
      if (!outcome.changed) return { kind: "ended", ...outcome };
      const op = this.#kv.atomic().check(entry).set(key, encodeRecord(outcome.record));
      if (before.status !== outcome.record.status) {
        op.delete(statusKey(before, before.status)).set(statusKey(outcome.record, "ended"), null);
      }
      op.set(feedKey(now.getTime(), event.session_id, "end"), null, { expireIn: FEED_TTL_MS });
      const res = await op.commit();
      return res.ok ? { kind: "ended", ...outcome } : undefined;
    }, this.#retry);
  }

  /** The record of a session, or `null` when there is none. */
  async get(sessionId: string): Promise<SessionRecord | null> {
    const entry = await withRetry(async () =>
      await this.#kv.get<Uint8Array>(sessionKey(sessionId))
    );
    return entry.value ? decodeRecord(entry.value) : null;
  }

  /**
   * Refreshes a session's last-seen time. Returns `ended` for a session its client ended;
   * a session the reaper closed becomes active again.
   */
  async heartbeat(sessionId: string, now: Date): Promise<"alive" | "not_found" | "ended"> {
    const key = sessionKey(sessionId);
    return await withRetry<"alive" | "not_found" | "ended">(async () => {
      const entry = await this.#kv.get<Uint8Array>(key);
      if (!entry.value) return "not_found";
      const before = decodeRecord(entry.value);
      const outcome = touchRecord(before, now);
      if (!outcome.changed) return "ended";
      const op = this.#kv.atomic().check(entry).set(key, encodeRecord(outcome.record));
      if (before.status !== outcome.record.status) {
        op.delete(statusKey(before, before.status)).set(statusKey(before, "active"), null);
      }
      return (await op.commit()).ok ? "alive" : undefined;
    }, this.#retry);
  }

  /** Records for index entries, in the entries' order (Deno KV reads at most 10 at once). */
  async #records(ids: string[]): Promise<SessionRecord[]> {
    const out: SessionRecord[] = [];
    for (let i = 0; i < ids.length; i += 10) {
      const keys = ids.slice(i, i + 10).map(sessionKey);
      const entries = await withRetry(async () => await this.#kv.getMany<Uint8Array[]>(keys));
      for (const entry of entries) if (entry.value) out.push(decodeRecord(entry.value));
    }
    return out;
  }

  /**
   * One page of sessions matching `filter`, newest start first. Work is bounded by the
   * page size (and `scanLimit` index entries when filters combine), not the store size.
   */
  async list(
    filter: SessionFilter,
    limit: number,
    after: CursorPosition | null,
    nowMs: number,
    staleAfterMs: number,
    scanLimit = Math.max(1000, limit * 20),
  ): Promise<{ sessions: SessionView[]; next: CursorPosition | null }> {
    const prefix = listPrefix(filter);
    const lower = filter.sinceMs !== undefined ? [...prefix, filter.sinceMs] : undefined;
    let upper: Deno.KvKey | undefined = filter.untilMs !== undefined
      ? [...prefix, filter.untilMs]
      : undefined;
    if (after) upper = [...prefix, after.at, after.id];
    const selector: Deno.KvListSelector = lower && upper
      ? { start: lower, end: upper }
      : lower
      ? { prefix, start: lower }
      : upper
      ? { prefix, end: upper }
      : { prefix };
    const iter = this.#kv.list(selector, { reverse: true, batchSize: Math.min(500, limit + 10) });
    const sessions: SessionView[] = [];
    let scanned = 0;
    let batch: CursorPosition[] = [];
    let last: CursorPosition | null = null;
    const flush = async (): Promise<CursorPosition | null> => {
      const records = await this.#records(batch.map((p) => p.id));
      const byId = new Map(records.map((r) => [r.session_id, r]));
      for (const position of batch) {
        const record = byId.get(position.id);
        if (!record) continue;
        const view = viewOf(record, nowMs, staleAfterMs);
        if (!matches(view, filter)) continue;
        sessions.push(view);
        if (sessions.length === limit) return position;
      }
      batch = [];
      return null;
    };
    for await (const entry of iter) {
      const at = entry.key[entry.key.length - 2] as number;
      const id = entry.key[entry.key.length - 1] as string;
      last = { at, id };
      batch.push(last);
      scanned++;
      if (batch.length === 10) {
        const full = await flush();
        if (full) return { sessions, next: full };
      }
      if (scanned >= scanLimit) {
        const full = await flush();
        return { sessions, next: full ?? last };
      }
    }
    const full = await flush();
    // A full page at the very end still says "more" only if something could follow it.
    return { sessions, next: full && full !== last ? full : null };
  }

  /** Every record started in `[sinceMs, untilMs)`, oldest first, read through the start index. */
  async *range(sinceMs: number, untilMs: number): AsyncGenerator<SessionRecord> {
    const iter = this.#kv.list({ start: ["by_start", sinceMs], end: ["by_start", untilMs] }, {
      batchSize: 500,
    });
    let ids: string[] = [];
    for await (const entry of iter) {
      ids.push(entry.key[2] as string);
      if (ids.length === 100) {
        yield* await this.#records(ids);
        ids = [];
      }
    }
    if (ids.length > 0) yield* await this.#records(ids);
  }

  /** Active records, newest start first, for reaping. */
  async *active(): AsyncGenerator<SessionRecord> {
    let ids: string[] = [];
    for await (const entry of this.#kv.list({ prefix: ["by_status", "active"] })) {
      ids.push(entry.key[3] as string);
      if (ids.length === 100) {
        yield* await this.#records(ids);
        ids = [];
      }
    }
    if (ids.length > 0) yield* await this.#records(ids);
  }

  /** Change-feed entries written at or after `sinceMs`, oldest first. */
  async feedSince(sinceMs: number): Promise<{ at: number; sessionId: string; kind: string }[]> {
    const out = [];
    for await (const entry of this.#kv.list({ prefix: ["feed"], start: ["feed", sinceMs] })) {
      const [, at, sessionId, kind] = entry.key as [string, number, string, string];
      out.push({ at, sessionId, kind });
    }
    return out;
  }
}
