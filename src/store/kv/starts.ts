/**
 * How the Deno KV store writes a group of starts for the group commit
 * (src/store/group_commit.ts): one atomic operation checks every event id, candidate id and
 * id counter of the group; a group that cannot be committed as one is answered from the
 * store where its events are stored already, and the rest committed as a group again or
 * one by one.
 */
import type { EntryBody } from "../../seal/entry.ts";
import type { SessionStartEvent } from "../../sessions/events.ts";
import {
  baseSessionId,
  candidateId,
  sameStart,
  type SessionRecord,
  startRecord,
} from "../../sessions/session.ts";
import { byEvent, GroupCommitter, leadersOf } from "../group_commit.ts";
import type { StartOutcome } from "../port.ts";
import type { EventEntry, KvContext } from "./context.ts";
import type { IndexWriter } from "./index_writer.ts";
import { eventKey, idSeqKey, sessionKey, unindexedKey, unindexedOf } from "./keys.ts";
import { markChanged } from "./outbox.ts";
import { encodeRecord } from "./records.ts";
import { isLockedError, withRetry } from "./retry.ts";
import { type Counter, SeqCache } from "./seq_cache.ts";
import { startOne, type StartOneDeps } from "./start_one.ts";

/** A start waiting for the group commit. */
export interface PendingStart {
  event: SessionStartEvent;
  trackedBy: string | null;
  now: Date;
  resolve: (result: StartOutcome) => void;
  reject: (error: unknown) => void;
}

// Two checks per start and one per id base (see checksOf): 72 at most, of the 100 checks
// Deno KV allows in one atomic operation.
export const MAX_GROUP = 24;
// Each record goes in twice: as itself, and in its history entry.
const MAX_GROUP_BYTES = 360_000;

/** The id base of a queued start (event ids are UUIDs: no base can equal one). */
function baseOf(item: PendingStart): string {
  return baseSessionId(item.event);
}

/** The checks a group commit of `group` makes: event and id per start, a counter per base. */
export function checksOf(group: readonly PendingStart[]): number {
  return 2 * group.length + new Set(group.map(baseOf)).size;
}

/** The starts of one Deno KV store: its group committer and what it writes. */
export class KvStarts {
  readonly #ctx: KvContext;
  readonly #indexer: IndexWriter;
  readonly #get: (sessionId: string) => Promise<SessionRecord | null>;
  readonly #seqCache = new SeqCache();
  readonly #one: StartOneDeps;
  readonly #groups: GroupCommitter<PendingStart>;

  /**
   * `groupsAtOnce` group commits may be under way together (more than one for a remote
   * store), each with at most `checksPerCommit` checks (Deno KV allows 100; a denokv
   * server may allow only 10).
   */
  constructor(
    ctx: KvContext,
    indexer: IndexWriter,
    get: (sessionId: string) => Promise<SessionRecord | null>,
    groupsAtOnce: number,
    checksPerCommit: number,
  ) {
    this.#ctx = ctx;
    this.#indexer = indexer;
    this.#get = get;
    this.#one = { ctx, indexer, get, seqCache: this.#seqCache };
    // Id bases matter only where groups commit side by side, and the checks only where a
    // full group could have too many (a local file's never does): neither costs a local
    // store's starts anything.
    const parallel = groupsAtOnce > 1;
    this.#groups = new GroupCommitter<PendingStart>({
      atOnce: groupsAtOnce,
      // A start checks its event and its id; a group checks one counter per base.
      maxGroup: Math.max(1, Math.min(MAX_GROUP, Math.floor((checksPerCommit - 1) / 2))),
      balanced: true,
      holdKeys: parallel ? (item) => [baseOf(item)] : undefined,
      fits: checksPerCommit < 3 * MAX_GROUP
        ? (group, item) => checksOf([...group, item]) <= checksPerCommit
        : undefined,
      commit: (group) => this.#commitBatch(group),
    });
  }

  /** Records a started session; resolves once it is committed. */
  start(event: SessionStartEvent, trackedBy: string | null, now: Date): Promise<StartOutcome> {
    return new Promise<StartOutcome>((resolve, reject) => {
      this.#groups.enqueue({ event, trackedBy, now, resolve, reject });
    });
  }

  /** The counter this process wrote last for `base` is behind (an import moved it). */
  forget(base: string): void {
    this.#seqCache.delete(base);
  }

  async #commitBatch(batch: PendingStart[]): Promise<void> {
    if (batch.length > 1 && await this.#groupWithRetry(batch)) return;
    // Most often a group fails because one of its events is stored already (a client's
    // retry): those are answered from the store, and the others committed as a group again
    // rather than one by one, whose commits would race for the same counters.
    const rest = batch.length > 1 ? await this.#answerStored(batch) : batch;
    if (rest.length > 1 && await this.#groupWithRetry(rest)) return;
    // One by one: the starts of one event in the order they came, so that the first sent
    // is the one stored; different events at once.
    await Promise.all([...byEvent(rest).values()].map(async (same) => {
      for (const item of same) await startOne(this.#one, item).then(item.resolve, item.reject);
    }));
  }

  /**
   * Answers the starts of `batch` whose event is stored (a retry replays, other data
   * conflicts) and returns the others, in their order. On a failed read, returns them all.
   */
  async #answerStored(batch: PendingStart[]): Promise<PendingStart[]> {
    const events = byEvent(batch);
    const ids = [...events.keys()];
    let found: (EventEntry | null)[];
    try {
      const reads = [];
      for (let i = 0; i < ids.length; i += 10) {
        reads.push(this.#ctx.kv.getMany<EventEntry[]>(ids.slice(i, i + 10).map(eventKey)));
      }
      found = (await Promise.all(reads)).flat().map((entry) => entry.value);
    } catch {
      return batch;
    }
    const stored = new Set<string>();
    await Promise.all(ids.map(async (id, i) => {
      const entry = found[i];
      if (!entry) return;
      stored.add(id);
      let record: SessionRecord | null;
      try {
        record = await this.#get(entry.session_id);
      } catch (error) {
        for (const item of events.get(id)!) item.reject(error);
        return;
      }
      for (const item of events.get(id)!) {
        const kind = record && sameStart(item.event, record) ? "replayed" : "conflict";
        item.resolve({ kind, sessionId: entry.session_id });
      }
    }));
    return batch.filter((item) => !stored.has(item.event.event_id));
  }

  /** Commits a group, retrying it while other writers hold the lock or move its counters. */
  async #groupWithRetry(batch: PendingStart[]): Promise<boolean> {
    try {
      // First without reading, from the counters this process wrote last: in a burst of
      // starts that is always right, and it saves a round trip to the store per group.
      const fast = await this.#startGroup(batch, true);
      if (fast !== undefined) return fast;
    } catch (error) {
      if (!isLockedError(error)) return false;
    }
    try {
      return await withRetry(() => this.#startGroup(batch, false), {
        ...this.#ctx.retry,
        maxAttempts: 50,
      });
    } catch {
      return false;
    }
  }

  /**
   * Commits a group of starts at once. Returns false, having settled nothing, when the
   * group cannot be committed as one (an event id already exists); its starts are then
   * made one by one. Returns undefined when a check failed and the group should be retried.
   * With `fromCache` nothing is read first: the counters are those this process wrote last,
   * and the commit's own checks refuse a stored event id or a counter moved since.
   */
  async #startGroup(batch: PendingStart[], fromCache: boolean): Promise<boolean | undefined> {
    const leaders = leadersOf(batch);
    const bases = new Map<string, string>();
    for (const item of leaders.values()) bases.set(item.event.event_id, baseSessionId(item.event));
    const seqs = new Map<string, Counter>();
    if (fromCache) {
      // The event checks below stand in for reading the event keys.
      for (const base of bases.values()) {
        seqs.set(
          base,
          this.#seqCache.get(base) ?? { key: idSeqKey(base), value: null, versionstamp: null },
        );
      }
    } else {
      const seqKeys = [...new Set(bases.values())].map(idSeqKey);
      const evKeys = [...leaders.keys()].map(eventKey);
      let entries: Deno.KvEntryMaybe<unknown>[];
      try {
        const keys = [...evKeys, ...seqKeys];
        const chunks = [];
        for (let i = 0; i < keys.length; i += 10) chunks.push(keys.slice(i, i + 10));
        entries = (await Promise.all(chunks.map((c) => this.#ctx.kv.getMany(c)))).flat();
      } catch (error) {
        if (isLockedError(error)) throw error;
        return false;
      }
      if (entries.slice(0, evKeys.length).some((e) => e.value)) return false;
      for (const entry of entries.slice(evKeys.length)) {
        seqs.set(entry.key[1] as string, entry as Deno.KvEntryMaybe<number>);
      }
    }
    const op = this.#ctx.kv.atomic();
    const next = new Map<string, number>();
    const results = new Map<string, StartOutcome>();
    const bodies: EntryBody[] = [];
    let bytes = 0;
    for (const item of leaders.values()) {
      const base = bases.get(item.event.event_id)!;
      const n = (next.get(base) ?? (seqs.get(base)?.value ?? 0)) + 1;
      next.set(base, n);
      const record = startRecord(item.event, candidateId(base, n), item.trackedBy, item.now);
      const encoded = encodeRecord(record);
      bytes += encoded.length;
      // Far from Deno KV's 819,200-byte limit for one atomic operation.
      if (bytes > MAX_GROUP_BYTES) return false;
      op.check({ key: eventKey(item.event.event_id), versionstamp: null })
        .check({ key: sessionKey(record.session_id), versionstamp: null })
        .set(
          eventKey(item.event.event_id),
          { session_id: record.session_id } satisfies EventEntry,
        )
        .set(sessionKey(record.session_id), encoded)
        .set(unindexedKey(record.session_id), unindexedOf(record, item.now.getTime()));
      markChanged(op, record.session_id, item.now.getTime());
      bodies.push({ k: "start", id: record.session_id, r: record });
      results.set(item.event.event_id, { kind: "tracked", record });
    }
    for (const [base, n] of next) {
      const seq = seqs.get(base)!;
      op.check({ key: seq.key, versionstamp: seq.versionstamp }).set(idSeqKey(base), n);
    }
    let committed: Deno.KvCommitResult | Deno.KvCommitError;
    try {
      committed = await this.#ctx.record(op, bodies);
    } catch (error) {
      if (isLockedError(error)) throw error;
      return false;
    }
    if (!committed.ok) return undefined;
    for (const [base, n] of next) {
      this.#seqCache.remember(base, idSeqKey(base), n, committed.versionstamp);
    }
    for (const leader of leaders.values()) {
      const result = results.get(leader.event.event_id)!;
      if (result.kind !== "tracked") continue;
      this.#indexer.add(result.record, committed.versionstamp, leader.now.getTime());
    }
    for (const item of batch) {
      const result = results.get(item.event.event_id)!;
      const leader = leaders.get(item.event.event_id)!;
      if (item === leader) item.resolve(result);
      else {
        const sessionId = result.kind === "tracked" ? result.record.session_id : "";
        const kind = sameStart(item.event, leader.event) ? "replayed" : "conflict";
        item.resolve({ kind, sessionId });
      }
    }
    return true;
  }
}
