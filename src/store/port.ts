/**
 * The store port: what the MCP tools, the operator commands and the HTTP edge ask of a
 * session store. Each store (Deno KV in `kv/`, PostgreSQL in `postgres/`) is an adapter
 * behind it, and one contract suite (tests/e2e, parametrised by store) holds them all to
 * SPEC 3-6.
 */
import type { SessionEndEvent, SessionStartEvent } from "../sessions/events.ts";
import type { CursorPosition, SessionFilter, SessionView } from "../sessions/query.ts";
import type { EndSource, SessionRecord } from "../sessions/session.ts";
import type { Entry } from "../seal/entry.ts";
import type { Seal } from "../seal/seal.ts";
import type { HistorySource } from "../seal/verify.ts";

/** How long change-feed entries are kept for `sessions tail`, on every store. */
export const FEED_TTL_MS = 7 * 24 * 3600 * 1000;

/** What `start` did with an event. */
export type StartOutcome =
  | { kind: "tracked"; record: SessionRecord }
  | { kind: "replayed"; sessionId: string }
  | { kind: "conflict"; sessionId: string };

/** What `end` did with an event. */
export type EndOutcome =
  | { kind: "not_found" }
  | { kind: "ended"; record: SessionRecord; changed: boolean; clamped: boolean };

/** What `heartbeat` did: `ended` for a session its client ended. */
export type HeartbeatOutcome = "alive" | "not_found" | "ended";

/** One page of a listing, and where the next one starts. */
export interface ListPage {
  sessions: SessionView[];
  next: CursorPosition | null;
}

/** The arguments of {@linkcode SessionStore.list}, for the adapters that answer it. */
export type ListArgs = Parameters<SessionStore["list"]>;

/** One start or end as the change feed has it, at the writer's clock. */
export interface FeedEntry {
  at: number;
  sessionId: string;
  kind: string;
}

/**
 * What importing one exported record did, and the id it is stored under now: `written` as
 * it was; `renumbered` under the next free id of its base (its id belonged to another
 * event); `updated` (its event was stored, and lacked what it brought); `unchanged`.
 */
export interface ImportOutcome {
  kind: "written" | "renumbered" | "updated" | "unchanged";
  sessionId: string;
}

/** What waits for `session-buddy forward` in a store it forwards (SPEC 8.7). */
export interface ForwardBacklog {
  /** Sessions changed since they were last delivered. */
  waiting: number;
  /** When the oldest change not yet delivered was made (ms), or null when none waits. */
  oldestAt: number | null;
}

/** How {@linkcode SessionStore.importRecords} runs. */
export interface ImportOptions {
  signal?: AbortSignal;
  /** Hears of each record's outcome as it lands. */
  onOutcome?: (outcome: ImportOutcome) => void;
}

/** Told how the store's commits go (for `/metrics`). */
export interface StoreObserver {
  /** A commit took this many seconds (whether it applied or a check failed). */
  commit(seconds: number): void;
  /** An operation is tried again: another writer held the lock, or a check failed. */
  retry(): void;
}

export { StoreError, type StoreErrorKind } from "./errors.ts";

/** The heads of writers' chains a seal vouches for: writer, its last entry's seq and hash. */
export type SealedHeads = Record<string, { s: number; h: string }>;

/** A store's tamper-evident history (SPEC 10), for sealing, verifying and pruning. */
export interface StoreHistory {
  /** Each writer's last entry dated before `until` (ms), of the heads that moved since `since`. */
  headsBefore(until: number, since: SealedHeads): Promise<SealedHeads>;
  /** Every head the seals of `keyId` have vouched for so far. */
  sealedHeads(keyId: string): Promise<SealedHeads>;
  /** Stores a seal unless its period is sealed already (false then); `all` as above, after it. */
  putSeal(seal: Seal, all: SealedHeads): Promise<boolean>;
  /** The history and records as the verifier reads them. */
  source(): HistorySource;
}

/** A forwarding host's history as it sends it: entries, seals and its chains' heads. */
export interface CarriedHistory {
  entries: Entry[];
  seals: Seal[];
  heads: SealedHeads;
}

/** What taking a host's history did: new copies, ones held already, and disagreements. */
export interface CarryOutcome {
  written: number;
  unchanged: number;
  conflicts: number;
}

/** What `sessions prune` did. */
export interface PruneOutcome {
  /** Sessions removed (each named in a tombstone entry). */
  removed: number;
}

/**
 * A session store; every method may throw a {@linkcode StoreError} (the tools answer it as
 * `store error: ...`).
 */
export interface SessionStore {
  /**
   * Records a started session under the first free id of its base, exactly once per
   * event id; resolves only after the commit.
   */
  start(event: SessionStartEvent, trackedBy: string | null, now: Date): Promise<StartOutcome>;
  /** Ends a session; an end already made by its client stays as it was. */
  end(event: SessionEndEvent, source?: EndSource, now?: Date): Promise<EndOutcome>;
  /** Refreshes last-seen; a session the reaper closed becomes active again. */
  heartbeat(sessionId: string, now: Date): Promise<HeartbeatOutcome>;
  /** The record of a session, or `null`. */
  get(sessionId: string): Promise<SessionRecord | null>;
  /** Whether a cursor position is a session that this listing could have returned. */
  isListPosition(position: CursorPosition, filter: SessionFilter): Promise<boolean>;
  /**
   * One page of sessions matching `filter`, newest start first, after `after`. Work is
   * bounded by the page (and `scanLimit` entries when filters combine), not the store.
   * An aborted `signal` stops the walk: the call then rejects with the signal's reason.
   */
  list(
    filter: SessionFilter,
    limit: number,
    after: CursorPosition | null,
    nowMs: number,
    staleAfterMs: number,
    scanLimit?: number,
    signal?: AbortSignal,
  ): Promise<ListPage>;
  /** Every record started in `[sinceMs, untilMs)`, oldest first. */
  range(sinceMs: number, untilMs: number): AsyncIterable<SessionRecord>;
  /** Every session not ended, oldest start first, from every process writing the store. */
  active(): AsyncIterable<SessionRecord>;
  /** Change-feed entries written at or after `sinceMs`, oldest first. */
  feedSince(sinceMs: number): Promise<FeedEntry[]>;
  /**
   * Brings an exported record into the store under the rules of src/sessions/imported.ts,
   * in one transaction: its event stored already takes what the record adds; else it is
   * written under its id when that is free (id counters move past it, so later starts do
   * not collide), or under the next free id of its base with `origin_session_id`.
   */
  importRecord(record: SessionRecord): Promise<ImportOutcome>;
  /**
   * Brings a batch of exported records in, several at a time, each with the outcome it
   * would have had imported one after another; outcomes in the records' order. A failure
   * or an aborted `signal` starts no more records and throws; those written stay written.
   */
  importRecords(
    records: readonly SessionRecord[],
    options?: ImportOptions,
  ): Promise<ImportOutcome[]>;
  /**
   * What waits to be forwarded, for a store that `forward` has sent from; null for one it
   * never has. Absent on stores that cannot be forwarded from (PostgreSQL).
   */
  forwardBacklog?(): Promise<ForwardBacklog | null>;
  /** The store's history; absent on stores that keep none. */
  history?(): StoreHistory;
  /**
   * Removes the sessions that ended before `beforeMs`, leaving a tombstone entry that names
   * them, so the history still verifies; absent on stores that keep no history.
   */
  prune?(beforeMs: number): Promise<PruneOutcome>;
  /**
   * Keeps a forwarding host's history as carried copies (SPEC 10): never overwritten; a copy
   * that differs from the one held, or a head short of it, is kept as a conflict that
   * `sessions verify` names. Absent on stores that keep no history.
   */
  carryHistory?(history: CarriedHistory): Promise<CarryOutcome>;
  /** A small read that succeeds when the store answers (for `/healthz`). */
  check(): Promise<void>;
  /** Tells `observer` of every commit and retry from now on. */
  observe(observer: StoreObserver): void;
  /** Writes what waits, then lets go of the store; it takes nothing more afterwards. */
  close(): Promise<void>;
}
