/**
 * Index keys written after the record, in batches.
 *
 * A start commits its record, its event id, its id counter and a marker (`unindexedKey`),
 * and is answered then. Its five index keys and its change-feed entry cost as much again
 * as all of that (each key is its own B-tree page under one fsync), so they follow in a
 * later commit that carries up to {@linkcode INDEX_BATCH} sessions and removes their
 * markers. Until then readers place marked sessions themselves (`KvSessionStore`), so a
 * listing never misses a tracked session; a marker left by a process that died is
 * indexed by the next {@linkcode IndexWriter.sweep} (every writable open).
 */
import type { SessionRecord } from "../../sessions/session.ts";
import {
  FEED_TTL_MS,
  feedKey,
  type Indexed,
  indexKeys,
  sessionKey,
  type Unindexed,
  unindexedKey,
} from "./keys.ts";
import { decodeRecord } from "./records.ts";
import { type RetryOptions, withRetry } from "./retry.ts";
import type { KvHandle } from "./deadline.ts";

/**
 * Sessions per index commit. Deno KV allows 100 checks (one per session here) and 80 KiB
 * of keys per atomic operation, which the longest fields the contract allows reach at
 * about 70 sessions (index_writer_test.ts commits full batches of those). Smaller batches
 * wait less: sessions that wait long enough to leave V8's young generation grow the old.
 */
export const INDEX_BATCH = 32;
/** How long a lone start waits for company before its index keys are written. */
export const INDEX_DELAY_MS = 50;
/** How long to wait before trying again after an index commit failed. */
export const RETRY_DELAY_MS = 1000;
/** A marker this old was left by a process that died, or one far behind: index it. */
export const ORPHAN_AFTER_MS = 2000;

/** A committed session whose index keys wait. */
interface Waiting {
  id: string;
  /**
   * What the record as last read or written is indexed by; null when it is gone (only its
   * marker remains). Only this is kept, not the record: what waits here outlives V8's young
   * generation, and whole records kept that long grew the old one (RSS +20% in 100k starts).
   */
  indexed: Indexed | null;
  /** The record's versionstamp, which the index commit checks. */
  versionstamp: string | null;
  /** The writer's clock when the start was committed (the change-feed entry's time). */
  at: number;
}

/** A copy of what a record is indexed by. */
function indexedOf(r: Indexed): Indexed {
  return {
    session_id: r.session_id,
    started_at: r.started_at,
    component_name: r.component_name,
    hostname: r.hostname,
    user: { username: r.user.username },
    status: r.status,
  };
}

/** Writes index keys for committed starts, in batches, off the path of the answer. */
export class IndexWriter {
  readonly #kv: KvHandle;
  readonly #retry: Partial<RetryOptions>;
  readonly #waiting = new Map<string, Waiting>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | null = null;
  #failed = false;
  #closed = false;
  /** Told of a background index commit that failed; its sessions stay queued and marked. */
  onError: (error: unknown) => void = () => {};

  readonly #commitOp: (
    op: Deno.AtomicOperation,
  ) => Promise<Deno.KvCommitResult | Deno.KvCommitError>;
  readonly #batch: number;

  /** `batch` sessions at most per index commit (one check each). */
  constructor(
    kv: KvHandle,
    retry: Partial<RetryOptions> = {},
    commit = (op: Deno.AtomicOperation) => op.commit(),
    batch = INDEX_BATCH,
  ) {
    this.#kv = kv;
    this.#retry = retry;
    this.#commitOp = commit;
    this.#batch = batch;
  }

  /** Queues a start committed at `atMs` (writer's clock) with `versionstamp`. */
  add(record: SessionRecord, versionstamp: string, atMs: number): void {
    const id = record.session_id;
    this.#waiting.set(id, { id, indexed: indexedOf(record), versionstamp, at: atMs });
    this.#schedule();
  }

  /** Writes the index keys of every queued session; settles when none waits or one failed. */
  flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#running ??= this.#drain().then(
      () => {
        this.#failed = false;
      },
      (error) => {
        this.#failed = true;
        this.onError(error);
      },
    ).finally(() => {
      this.#running = null;
      this.#schedule();
    });
    return this.#running;
  }

  /** Writes what waits and stops scheduling more; what still fails stays marked in the store. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#running !== null) await this.#running;
    if (this.#waiting.size > 0) await this.flush();
  }

  /**
   * A full batch is written at once, a smaller one after a short wait for company; after a
   * failure (which the next commit may not repeat) the wait is longer.
   */
  #schedule(): void {
    if (this.#closed || this.#running !== null || this.#waiting.size === 0) return;
    if (this.#waiting.size >= this.#batch && !this.#failed) {
      void this.flush();
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.flush();
      }, this.#failed ? RETRY_DELAY_MS : INDEX_DELAY_MS);
    }
  }

  /**
   * Indexes the sessions of markers written at least `olderThanMs` before `nowMs` by
   * anyone (a process that died leaves its markers). Returns how many it took up (a commit
   * that fails is reported to `onError`, and those sessions stay queued).
   */
  async sweep(nowMs: number, olderThanMs: number): Promise<number> {
    const found: Waiting[] = [];
    for await (const entry of this.#kv.list<Unindexed>({ prefix: ["unindexed"] })) {
      const id = entry.key[1] as string;
      if (this.#waiting.has(id) || !(entry.value.at <= nowMs - olderThanMs)) continue;
      found.push({ id, indexed: null, versionstamp: null, at: entry.value.at });
    }
    if (found.length === 0) return 0;
    await this.#reread(found);
    for (const w of found) this.#waiting.set(w.id, w);
    await this.flush();
    return found.length;
  }

  async #drain(): Promise<void> {
    while (this.#waiting.size > 0) {
      const batch: Waiting[] = [];
      for (const w of this.#waiting.values()) {
        if (batch.length === this.#batch) break;
        batch.push(w);
      }
      await withRetry(() => this.#commit(batch), this.#retry);
      for (const w of batch) this.#waiting.delete(w.id);
    }
  }

  /**
   * One index commit for a batch, checked on each record's versionstamp so that the keys
   * follow the record as it is (an end or heartbeat may have changed its status). When a
   * check fails the batch's records are read again and undefined asks for another try.
   */
  async #commit(batch: Waiting[]): Promise<true | undefined> {
    const op = this.#kv.atomic();
    for (const w of batch) {
      op.check({ key: sessionKey(w.id), versionstamp: w.versionstamp });
      op.delete(unindexedKey(w.id));
      if (!w.indexed) continue;
      for (const key of indexKeys(w.indexed)) op.set(key, null);
      op.set(feedKey(w.at, w.id, "start"), null, { expireIn: FEED_TTL_MS });
    }
    if ((await this.#commitOp(op)).ok) return true;
    await this.#reread(batch);
    return undefined;
  }

  /** Reads the records of waiting sessions again (Deno KV reads at most 10 at once). */
  async #reread(batch: Waiting[]): Promise<void> {
    for (let i = 0; i < batch.length; i += 10) {
      const part = batch.slice(i, i + 10);
      const entries = await withRetry(
        async () => await this.#kv.getMany<Uint8Array[]>(part.map((w) => sessionKey(w.id))),
        this.#retry,
      );
      part.forEach((w, j) => {
        const entry = entries[j]!;
        w.indexed = entry.value ? indexedOf(decodeRecord(entry.value)) : null;
        w.versionstamp = entry.versionstamp;
      });
    }
  }
}
