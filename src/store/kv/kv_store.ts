/**
 * The session store on Deno KV: one atomic commit per lifecycle event, starts committed in
 * groups. Its parts: `starts.ts` (the group commit's writes), `lifecycle.ts` (end,
 * heartbeat, import, a record), `listing.ts` (pages, ranges, the feed), `index_writer.ts`
 * (the index keys that follow a start).
 */
import type { SessionEndEvent, SessionStartEvent } from "../../sessions/events.ts";
import { type CursorPosition, isPositionOf, type SessionFilter } from "../../sessions/query.ts";
import type { EndSource, SessionRecord } from "../../sessions/session.ts";
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
import { type KvContext, timedCommit } from "./context.ts";
import type { KvHandle } from "./deadline.ts";
import { INDEX_BATCH, IndexWriter, ORPHAN_AFTER_MS } from "./index_writer.ts";
import { endSession, getSession, heartbeat, importRecord } from "./lifecycle.ts";
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
export class KvSessionStore implements SessionStore {
  readonly #kv: KvHandle;
  readonly #ownsKv: boolean;
  readonly #ctx: KvContext;
  readonly #indexer: IndexWriter;
  readonly #starts: KvStarts;
  readonly #listing: KvListing;
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
    this.#kv = kv;
    this.#ownsKv = ownsKv;
    this.#ctx = {
      kv,
      retry: { ...retry, onRetry: () => this.#observer?.retry() },
      commit: (op) => timedCommit(op, this.#observer),
    };
    this.#indexer = new IndexWriter(
      kv,
      this.#ctx.retry,
      this.#ctx.commit,
      Math.min(INDEX_BATCH, checksPerCommit),
    );
    this.#starts = new KvStarts(
      this.#ctx,
      this.#indexer,
      (id) => this.get(id),
      groupsAtOnce,
      checksPerCommit,
    );
    this.#listing = new KvListing(this.#ctx);
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
  start(event: SessionStartEvent, trackedBy: string | null, now: Date): Promise<StartOutcome> {
    return this.#starts.start(event, trackedBy, now);
  }

  /** Ends a session; an end already made by its client stays as it was. */
  end(
    event: SessionEndEvent,
    source: EndSource = "client",
    now: Date = new Date(),
  ): Promise<EndOutcome> {
    return endSession(this.#ctx, event, source, now);
  }

  /** A small read that succeeds when the store answers (for `/healthz`). */
  async check(): Promise<void> {
    await this.#kv.get(["meta", "layout"]);
  }

  /**
   * Writes an exported record with its index keys, unless its session id or event id is
   * stored; the id counter of its base moves up to it.
   */
  importRecord(record: SessionRecord): Promise<ImportOutcome> {
    return importRecord(this.#ctx, record, (base) => this.#starts.forget(base));
  }

  /** The record of a session, or `null` when there is none. */
  get(sessionId: string): Promise<SessionRecord | null> {
    return getSession(this.#ctx, sessionId);
  }

  /**
   * Refreshes a session's last-seen time. Returns `ended` for a session its client ended;
   * a session the reaper closed becomes active again.
   */
  heartbeat(sessionId: string, now: Date): Promise<HeartbeatOutcome> {
    return heartbeat(this.#ctx, sessionId, now);
  }

  /** Whether a cursor position is a session that this listing could have returned. */
  async isListPosition(position: CursorPosition, filter: SessionFilter): Promise<boolean> {
    return isPositionOf(await this.get(position.id), position, filter);
  }

  list(...args: Parameters<SessionStore["list"]>): Promise<ListPage> {
    return this.#listing.list(...args);
  }

  range(sinceMs: number, untilMs: number): AsyncGenerator<SessionRecord> {
    return this.#listing.range(sinceMs, untilMs);
  }

  active(): AsyncGenerator<SessionRecord> {
    return this.#listing.active();
  }

  feedSince(sinceMs: number): Promise<FeedEntry[]> {
    return this.#listing.feedSince(sinceMs);
  }
}
