/** The session store on Deno KV: one atomic commit per lifecycle event. */
import type { SessionEndEvent, SessionStartEvent } from "../../sessions/events.ts";
import {
  baseSessionId,
  candidateId,
  candidateNumber,
  endRecord,
  type EndSource,
  sameStart,
  type SessionRecord,
  startRecord,
  touchRecord,
} from "../../sessions/session.ts";
import {
  eventKey,
  FEED_TTL_MS,
  feedKey,
  idSeqKey,
  indexKeys,
  listPrefix,
  sessionKey,
  statusKey,
  type Unindexed,
  unindexedKey,
  unindexedOf,
} from "./keys.ts";
import { byEvent, takeGroup } from "../groups.ts";
import { INDEX_BATCH, IndexWriter, ORPHAN_AFTER_MS } from "./index_writer.ts";
import { comparePositions, mergePositions, positionsOf } from "./merge.ts";
import { decodeRecord, encodeRecord } from "./records.ts";
import {
  type CursorPosition,
  emptyRange,
  isPositionOf,
  matches,
  type SessionFilter,
  type SessionView,
  viewOf,
  walkLimit,
} from "../../sessions/query.ts";
import { isLockedError, type RetryOptions, withRetry } from "./retry.ts";
import type {
  EndOutcome,
  FeedEntry,
  HeartbeatOutcome,
  ImportOutcome,
  ListPage,
  SessionStore,
  StartOutcome,
  StoreObserver,
} from "../port.ts";

export type { EndOutcome, StartOutcome, StoreObserver } from "../port.ts";

/**
 * Which session an event id created. (Stores written before 0.1.0 was released also hold
 * a digest of the event here; it is not read: a retry is compared with the record.)
 */
interface EventEntry {
  session_id: string;
}

/** An id counter as read from the store, or as this process last wrote it. */
interface Counter {
  key: Deno.KvKey;
  value: number | null;
  versionstamp: string | null;
}

/** Commits `op`, telling `observer` how long it took. */
export async function timedCommit(
  op: Deno.AtomicOperation,
  observer: StoreObserver | null,
): Promise<Deno.KvCommitResult | Deno.KvCommitError> {
  if (!observer) return await op.commit();
  const began = performance.now();
  try {
    return await op.commit();
  } finally {
    observer.commit((performance.now() - began) / 1000);
  }
}

/** A start waiting for the group commit. */
interface PendingStart {
  event: SessionStartEvent;
  trackedBy: string | null;
  now: Date;
  resolve: (result: StartOutcome) => void;
  reject: (error: unknown) => void;
}

// Two checks per start and one per id base (see checksOf): 72 at most, of the 100 checks
// Deno KV allows in one atomic operation.
const MAX_GROUP = 24;
const MAX_GROUP_BYTES = 600_000;
// Counters are per second and component, so only the most recent few are worth keeping.
const SEQ_CACHE_SIZE = 256;

/**
 * How many of `queued` starts the next group commit takes, after one of `lastGroup`.
 *
 * Calls in flight split into two groups that take turns: one commits while the other's
 * answers go out and its next calls come in. A commit costs about the same for one start
 * as for fifteen (one fsync), so the turns are fastest when the groups are equal: a
 * 15/1 split of 16 calls becomes 8/8 (a sixth more starts per second). One call at a time
 * stays a group of one.
 */
export function groupSize(lastGroup: number, queued: number, max = MAX_GROUP): number {
  return Math.min(max, queued, Math.max(1, Math.ceil((lastGroup + queued) / 2)));
}

/** The id base of a queued start (event ids are UUIDs: no base can equal one). */
function baseOf(item: PendingStart): string {
  return baseSessionId(item.event);
}

/** The checks a group commit of `group` makes: event and id per start, a counter per base. */
export function checksOf(group: readonly PendingStart[]): number {
  return 2 * group.length + new Set(group.map(baseOf)).size;
}

/**
 * The session store over an open Deno KV handle. A start is answered once its record is
 * committed; its index keys follow in a batch (see `index_writer.ts`), and every reader
 * here also places the sessions still marked `unindexed`. Call `close` before closing the
 * KV handle, so that what waits is written.
 */
export class KvSessionStore implements SessionStore {
  readonly #kv: Deno.Kv;
  readonly #ownsKv: boolean;
  readonly #retry: Partial<RetryOptions>;
  readonly #queue: PendingStart[] = [];
  readonly #seqCache = new Map<string, Counter>();
  readonly #indexer: IndexWriter;
  #observer: StoreObserver | null = null;
  /** Groups being committed now, and how many may be at once. */
  #groupsRunning = 0;
  /** The event ids and id bases of the groups committing now (see src/store/groups.ts). */
  readonly #committing = new Set<string>();
  readonly #groupsAtOnce: number;
  /** Starts per group commit at most, and checks. */
  readonly #maxGroup: number;
  readonly #checksPerCommit: number;
  /** How many starts the last group commit carried. */
  #lastGroup = 1;

  /**
   * With `ownsKv`, `close` closes the KV handle too; `groupsAtOnce` group commits may be
   * under way together (more than one for a remote store), each with at most
   * `checksPerCommit` checks (Deno KV allows 100; a denokv server may allow only 10).
   */
  constructor(
    kv: Deno.Kv,
    retry: Partial<RetryOptions> = {},
    ownsKv = false,
    groupsAtOnce = 1,
    checksPerCommit = 100,
  ) {
    this.#kv = kv;
    this.#ownsKv = ownsKv;
    this.#groupsAtOnce = groupsAtOnce;
    this.#checksPerCommit = checksPerCommit;
    // A start checks its event and its id; a group checks one counter per base.
    this.#maxGroup = Math.max(1, Math.min(MAX_GROUP, Math.floor((checksPerCommit - 1) / 2)));
    this.#retry = { ...retry, onRetry: () => this.#observer?.retry() };
    this.#indexer = new IndexWriter(
      kv,
      this.#retry,
      (op) => timedCommit(op, this.#observer),
      Math.min(INDEX_BATCH, checksPerCommit),
    );
  }

  /** Tells `observer` of every commit and retry from now on. */
  observe(observer: StoreObserver): void {
    this.#observer = observer;
  }

  /** Told of a background index commit that failed (its sessions stay listed). */
  set onIndexError(report: (error: unknown) => void) {
    this.#indexer.onError = report;
  }

  /** Writes the index keys that wait in this process now. */
  async flushIndexes(): Promise<void> {
    await this.#indexer.flush();
  }

  /** Indexes sessions whose markers a process that died left; returns how many it took up. */
  async sweep(nowMs: number = Date.now(), olderThanMs: number = ORPHAN_AFTER_MS): Promise<number> {
    return await this.#indexer.sweep(nowMs, olderThanMs);
  }

  /**
   * Writes what waits for its index keys; the store takes no more starts after this. The
   * KV handle is closed too when the store owns it.
   */
  async close(): Promise<void> {
    await this.#indexer.close();
    if (this.#ownsKv) this.#kv.close();
  }

  /**
   * Records a started session under the first free id of its base, exactly once per
   * event id. Returns only after the commit. Starts that arrive while a commit is under
   * way are committed together in one atomic operation (group commit).
   */
  async start(
    event: SessionStartEvent,
    trackedBy: string | null,
    now: Date,
  ): Promise<StartOutcome> {
    return await new Promise<StartOutcome>((resolve, reject) => {
      this.#queue.push({ event, trackedBy, now, resolve, reject });
      this.#pump();
    });
  }

  /**
   * Starts the next group commits, as many as may run at once: one on a local file (its
   * commits are one writer's anyway), several on a remote store, whose round trips would
   * otherwise keep every call of a connection waiting for each other's.
   */
  #pump(): void {
    while (this.#groupsRunning < this.#groupsAtOnce && this.#queue.length > 0) {
      // Id bases matter only where groups commit side by side, and the checks only where
      // a full group could have too many (a local file's never does): neither costs a local
      // store's starts anything.
      const parallel = this.#groupsAtOnce > 1;
      const batch = takeGroup(
        this.#queue,
        groupSize(this.#lastGroup, this.#queue.length, this.#maxGroup),
        (item) =>
          this.#committing.has(item.event.event_id) ||
          (parallel && this.#committing.has(baseOf(item))),
        this.#checksPerCommit < 3 * MAX_GROUP
          ? (group, item) => checksOf([...group, item]) <= this.#checksPerCommit
          : undefined,
      );
      if (batch.length === 0) return;
      this.#lastGroup = batch.length;
      this.#groupsRunning++;
      const busy = [...byEvent(batch).keys(), ...(parallel ? new Set(batch.map(baseOf)) : [])];
      for (const key of busy) this.#committing.add(key);
      void this.#commitBatch(batch).finally(() => {
        for (const key of busy) this.#committing.delete(key);
        this.#groupsRunning--;
        this.#pump();
      });
    }
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
      for (const item of same) await this.#startOne(item).then(item.resolve, item.reject);
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
        reads.push(this.#kv.getMany<EventEntry[]>(ids.slice(i, i + 10).map(eventKey)));
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
        record = await this.get(entry.session_id);
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
        ...this.#retry,
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
    const leaders = new Map<string, PendingStart>();
    for (const item of batch) {
      if (!leaders.has(item.event.event_id)) leaders.set(item.event.event_id, item);
    }
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
        entries = (await Promise.all(chunks.map((c) => this.#kv.getMany(c)))).flat();
      } catch (error) {
        if (isLockedError(error)) throw error;
        return false;
      }
      if (entries.slice(0, evKeys.length).some((e) => e.value)) return false;
      for (const entry of entries.slice(evKeys.length)) {
        seqs.set(entry.key[1] as string, entry as Deno.KvEntryMaybe<number>);
      }
    }
    const op = this.#kv.atomic();
    const next = new Map<string, number>();
    const results = new Map<string, StartOutcome>();
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
      results.set(item.event.event_id, { kind: "tracked", record });
    }
    for (const [base, n] of next) {
      const seq = seqs.get(base)!;
      op.check({ key: seq.key, versionstamp: seq.versionstamp }).set(idSeqKey(base), n);
    }
    let committed: Deno.KvCommitResult | Deno.KvCommitError;
    try {
      committed = await timedCommit(op, this.#observer);
    } catch (error) {
      if (isLockedError(error)) throw error;
      return false;
    }
    if (!committed.ok) return undefined;
    for (const [base, n] of next) {
      this.#rememberSeq(base, idSeqKey(base), n, committed.versionstamp);
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

  async #startOne(item: PendingStart): Promise<StartOutcome> {
    const { event } = item;
    const base = baseSessionId(event);
    const evKey = eventKey(event.event_id);
    const seqKey = idSeqKey(base);
    // First try without reading: a new event under a counter this process saw last (or a
    // counter nobody has used yet) commits at once; anything else fails a check and falls
    // through to the reading path below.
    const known = this.#seqCache.get(base) ?? { key: seqKey, value: 0, versionstamp: null };
    try {
      const fast = await this.#commitStart(item, base, known, (known.value ?? 0) + 1);
      if (fast) return fast;
    } catch (error) {
      if (!isLockedError(error)) throw error;
    }
    // Ids outside the counter (none are written by this program, but a store is shared)
    // can occupy a candidate; a failed commit with nothing else changed means exactly that.
    let skip = 0;
    let lastSeq: string | null | undefined;
    return await withRetry<StartOutcome>(async () => {
      const [ev, seq] = await this.#kv.getMany<[EventEntry, number]>([evKey, seqKey]);
      if (ev.value) return await this.#retried(event, ev.value.session_id);
      if (lastSeq !== undefined && lastSeq === seq.versionstamp) skip++;
      else skip = 0;
      lastSeq = seq.versionstamp;
      try {
        return await this.#commitStart(item, base, seq, (seq.value ?? 0) + 1 + skip);
      } catch (error) {
        // A locked store refused the commit: it says nothing about the candidate id.
        lastSeq = undefined;
        throw error;
      }
    }, this.#retry);
  }

  /** A start whose event id is stored: the same event replays, different data conflicts. */
  async #retried(event: SessionStartEvent, sessionId: string): Promise<StartOutcome> {
    const stored = await this.get(sessionId);
    const kind = stored && sameStart(event, stored) ? "replayed" : "conflict";
    return { kind, sessionId };
  }

  /** One attempt to commit a start as id number `n` of its base; undefined if a check failed. */
  async #commitStart(
    item: PendingStart,
    base: string,
    seq: Counter,
    n: number,
  ): Promise<StartOutcome | undefined> {
    const { event, trackedBy, now } = item;
    const record = startRecord(event, candidateId(base, n), trackedBy, now);
    const evKey = eventKey(event.event_id);
    const op = this.#kv.atomic()
      .check({ key: evKey, versionstamp: null })
      .check({ key: seq.key, versionstamp: seq.versionstamp })
      .check({ key: sessionKey(record.session_id), versionstamp: null })
      .set(seq.key, n)
      .set(evKey, { session_id: record.session_id } satisfies EventEntry)
      .set(sessionKey(record.session_id), encodeRecord(record))
      .set(unindexedKey(record.session_id), unindexedOf(record, now.getTime()));
    const res = await timedCommit(op, this.#observer);
    if (!res.ok) return undefined;
    this.#rememberSeq(base, seq.key, n, res.versionstamp);
    this.#indexer.add(record, res.versionstamp, now.getTime());
    return { kind: "tracked", record };
  }

  /** Keeps the newest counters this process wrote, so the next start can skip its read. */
  #rememberSeq(base: string, key: Deno.KvKey, value: number, versionstamp: string): void {
    this.#seqCache.delete(base);
    this.#seqCache.set(base, { key, value, versionstamp });
    if (this.#seqCache.size > SEQ_CACHE_SIZE) {
      this.#seqCache.delete(this.#seqCache.keys().next().value!);
    }
  }

  /** Ends a session; an end already made by its client stays as it was. */
  async end(
    event: SessionEndEvent,
    source: EndSource = "client",
    now: Date = new Date(),
  ): Promise<EndOutcome> {
    const key = sessionKey(event.session_id);
    return await withRetry<EndOutcome>(async () => {
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
      const res = await timedCommit(op, this.#observer);
      return res.ok ? { kind: "ended", ...outcome } : undefined;
    }, this.#retry);
  }

  /** A small read that succeeds when the store answers (for `/healthz`). */
  async check(): Promise<void> {
    await this.#kv.get(["meta", "layout"]);
  }

  /**
   * Writes an exported record with its index keys, unless its session id or event id is
   * stored; the id counter of its base moves up to it.
   */
  async importRecord(record: SessionRecord): Promise<ImportOutcome> {
    const id = record.session_id;
    const numbered = candidateNumber(record);
    const seqKey = numbered ? idSeqKey(numbered.base) : null;
    return await withRetry<ImportOutcome>(async () => {
      const keys = [sessionKey(id), eventKey(record.event_id), ...(seqKey ? [seqKey] : [])];
      const [session, event, seq] = await this.#kv.getMany<unknown[]>(keys);
      if (session!.value || event!.value) return "skipped";
      const op = this.#kv.atomic().check(session!).check(event!)
        .set(sessionKey(id), encodeRecord(record))
        .set(eventKey(record.event_id), { session_id: id } satisfies EventEntry);
      for (const key of indexKeys(record)) op.set(key, null);
      if (numbered && seq && ((seq.value as number | null) ?? 0) < numbered.n) {
        op.check(seq).set(seq.key, numbered.n);
      }
      if (!(await timedCommit(op, this.#observer)).ok) return undefined;
      // The counter this process remembers is behind now; the next start reads it.
      if (numbered) this.#seqCache.delete(numbered.base);
      return "written";
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
  async heartbeat(sessionId: string, now: Date): Promise<HeartbeatOutcome> {
    const key = sessionKey(sessionId);
    return await withRetry<HeartbeatOutcome>(async () => {
      const entry = await this.#kv.get<Uint8Array>(key);
      if (!entry.value) return "not_found";
      const before = decodeRecord(entry.value);
      const outcome = touchRecord(before, now);
      if (!outcome.changed) return "ended";
      const op = this.#kv.atomic().check(entry).set(key, encodeRecord(outcome.record));
      if (before.status !== outcome.record.status) {
        op.delete(statusKey(before, before.status)).set(statusKey(before, "active"), null);
      }
      return (await timedCommit(op, this.#observer)).ok ? "alive" : undefined;
    }, this.#retry);
  }

  /** Whether a cursor position is a session that this listing could have returned. */
  async isListPosition(position: CursorPosition, filter: SessionFilter): Promise<boolean> {
    return isPositionOf(await this.get(position.id), position, filter);
  }

  /** Records for index entries, in the entries' order (Deno KV reads at most 10 at once). */
  async #records(ids: string[]): Promise<SessionRecord[]> {
    const reads = [];
    for (let i = 0; i < ids.length; i += 10) {
      const keys = ids.slice(i, i + 10).map(sessionKey);
      reads.push(withRetry(async () => await this.#kv.getMany<Uint8Array[]>(keys)));
    }
    // The reads are independent; issuing them together saves a round of waiting each.
    const out: SessionRecord[] = [];
    for (const entries of await Promise.all(reads)) {
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
    scanLimit = walkLimit(limit),
    signal?: AbortSignal,
  ): Promise<ListPage> {
    if (emptyRange(filter)) return { sessions: [], next: null };
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
    // The markers are read before the index (its listing is fetched lazily): a session
    // indexed in between is in both, and merging yields it once.
    const unindexed = await this.#unindexedPositions((m, id) =>
      (filter.component_name === undefined || m.component_name === filter.component_name) &&
      (filter.hostname === undefined || m.hostname === filter.hostname) &&
      (filter.username === undefined || m.username === filter.username) &&
      (filter.sinceMs === undefined || m.started_ms >= filter.sinceMs) &&
      (filter.untilMs === undefined || m.started_ms < filter.untilMs) &&
      (after === null || comparePositions({ at: m.started_ms, id }, after) < 0)
    );
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
    for await (const position of mergePositions(positionsOf(iter), unindexed, true)) {
      signal?.throwIfAborted();
      last = position;
      batch.push(last);
      scanned++;
      if (batch.length === Math.min(50, limit - sessions.length + 10)) {
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
    if (sinceMs >= untilMs) return;
    const entries = this.#kv.list({ start: ["by_start", sinceMs], end: ["by_start", untilMs] }, {
      batchSize: 500,
    });
    const unindexed = await this.#unindexedPositions((m) =>
      m.started_ms >= sinceMs && m.started_ms < untilMs
    );
    yield* this.#recordsOf(mergePositions(positionsOf(entries), unindexed, false));
  }

  /** Active records, oldest start first, for reaping. */
  async *active(): AsyncGenerator<SessionRecord> {
    const entries = this.#kv.list({ prefix: ["by_status", "active"] }, { batchSize: 500 });
    const unindexed = await this.#unindexedPositions(() => true);
    for await (
      const record of this.#recordsOf(mergePositions(positionsOf(entries), unindexed, false))
    ) {
      if (record.status === "active") yield record;
    }
  }

  /** The records at index positions, in their order. */
  async *#recordsOf(positions: AsyncIterable<CursorPosition>): AsyncGenerator<SessionRecord> {
    let ids: string[] = [];
    for await (const position of positions) {
      ids.push(position.id);
      if (ids.length === 100) {
        yield* await this.#records(ids);
        ids = [];
      }
    }
    if (ids.length > 0) yield* await this.#records(ids);
  }

  /** Positions of the sessions still marked unindexed (by any process) that `keep` admits. */
  async #unindexedPositions(
    keep: (marker: Unindexed, id: string) => boolean,
  ): Promise<CursorPosition[]> {
    const out: CursorPosition[] = [];
    for await (const entry of this.#kv.list<Unindexed>({ prefix: ["unindexed"] })) {
      const id = entry.key[1] as string;
      if (keep(entry.value, id)) out.push({ at: entry.value.started_ms, id });
    }
    return out;
  }

  /** Change-feed entries written at or after `sinceMs`, oldest first. */
  async feedSince(sinceMs: number): Promise<FeedEntry[]> {
    const out = [];
    for await (const entry of this.#kv.list({ prefix: ["feed"], start: ["feed", sinceMs] })) {
      const [, at, sessionId, kind] = entry.key as [string, number, string, string];
      out.push({ at, sessionId, kind });
    }
    return out;
  }
}
