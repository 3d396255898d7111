/**
 * The session store on Deno KV: one atomic commit per lifecycle event, starts committed in
 * groups. Its parts: `starts.ts` (the group commit's writes), `lifecycle.ts` (end,
 * heartbeat, import, a record), `listing.ts` (pages, ranges, the feed), `index_writer.ts`
 * (the index keys that follow a start).
 */
import { ComposedStore, type StoreParts } from "../composed_store.ts";
import { Lanes } from "../lanes.ts";
import type {
  CarriedHistory,
  CarryOutcome,
  ForwardBacklog,
  PruneOutcome,
  SessionStore,
  StoreHistory,
  StoreObserver,
} from "../port.ts";
import { addEntries, KvHistory } from "./history.ts";
import { pruneBefore } from "./prune.ts";
import { adoptRecords } from "./adopt.ts";
import { carryHistory } from "./carried.ts";
import { KvOutbox } from "./outbox.ts";
import { type KvContext, recorder, timedCommit } from "./context.ts";
import type { KvHandle } from "./deadline.ts";
import { INDEX_BATCH, IndexWriter, ORPHAN_AFTER_MS } from "./index_writer.ts";
import { importMany, importRecord } from "./imports.ts";
import { endSession, getSession, heartbeat } from "./lifecycle.ts";
import { KvListing } from "./listing.ts";
import type { RetryOptions } from "./retry.ts";
import { KvStarts } from "./starts.ts";

export type { EndOutcome, StartOutcome, StoreObserver } from "../port.ts";
export { checksOf } from "./starts.ts";
export { groupSize } from "../group_commit.ts";

/**
 * The session store over an open Deno KV handle. A start is answered once its record is
 * committed; its index keys follow in a batch (see `index_writer.ts`), and every reader
 * here also places the sessions still marked `unindexed`. Call `close` before closing the
 * KV handle, so that what waits is written.
 */
export class KvSessionStore extends ComposedStore implements SessionStore {
  readonly #kv: KvHandle;
  readonly #ownsKv: boolean;
  readonly #indexer: IndexWriter;
  readonly #ctx: KvContext;
  protected readonly parts: StoreParts;
  #observer: StoreObserver | null = null;

  /**
   * With `ownsKv`, `close` closes the KV handle too; `groupsAtOnce` group commits may be
   * under way together (more than one for a remote store), each with at most
   * `checksPerCommit` checks (Deno KV allows 100; a denokv server may allow only 10).
   */
  constructor(
    kv: KvHandle,
    retry: Partial<RetryOptions> = {},
    ownsKv = false,
    groupsAtOnce = 1,
    checksPerCommit = 100,
  ) {
    super();
    this.#kv = kv;
    this.#ownsKv = ownsKv;
    const commit = (op: Deno.AtomicOperation) => timedCommit(op, this.#observer);
    const ctx: KvContext = {
      kv,
      retry: { ...retry, onRetry: () => this.#observer?.retry() },
      commit,
      record: recorder(new Lanes(), commit, addEntries),
    };
    this.#ctx = ctx;
    this.#indexer = new IndexWriter(
      kv,
      ctx.retry,
      ctx.commit,
      Math.min(INDEX_BATCH, checksPerCommit),
    );
    const get = (sessionId: string) => getSession(ctx, sessionId);
    const starts = new KvStarts(ctx, this.#indexer, get, groupsAtOnce, checksPerCommit);
    this.parts = {
      starts,
      changes: {
        end: (event, source, now) => endSession(ctx, event, source, now),
        heartbeat: (sessionId, now) => heartbeat(ctx, sessionId, now),
        // The counter this process remembers for the record's base is behind after it.
        importRecord: (record) => importRecord(ctx, record, (base) => starts.forget(base)),
        importRecords: (records, options) =>
          importMany(ctx, records, (base) => starts.forget(base), checksPerCommit, options),
        get,
      },
      readers: new KvListing(ctx),
    };
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

  /** What waits for the forwarder; null when this store has never been forwarded. */
  async forwardBacklog(): Promise<ForwardBacklog | null> {
    const outbox = new KvOutbox(this.#kv);
    if (await outbox.state() === null) return null;
    const { sessions, oldestAt } = await outbox.waiting();
    return { waiting: sessions, oldestAt };
  }

  /** The store's history: chains, heads and seals (SPEC 10). */
  history(): StoreHistory {
    return new KvHistory(this.#kv);
  }

  /** Takes every record into the history once, for a store written before it began. */
  async adopt(): Promise<number> {
    return await adoptRecords(this.#ctx);
  }

  /** Removes sessions ended before `beforeMs`, leaving tombstone entries that name them. */
  async prune(beforeMs: number): Promise<PruneOutcome> {
    return await pruneBefore(this.#ctx, beforeMs);
  }

  /** Keeps a forwarding host's history as carried copies (see `carried.ts`). */
  async carryHistory(history: CarriedHistory): Promise<CarryOutcome> {
    return await carryHistory(this.#kv, history, Date.now());
  }

  /** A small read that succeeds when the store answers (for `/healthz`). */
  async check(): Promise<void> {
    await this.#kv.get(["meta", "layout"]);
  }

  /**
   * Writes what waits for its index keys; the store takes no more starts after this. The
   * KV handle is closed too when the store owns it.
   */
  async close(): Promise<void> {
    await this.#indexer.close();
    if (this.#ownsKv) this.#kv.close();
  }
}
