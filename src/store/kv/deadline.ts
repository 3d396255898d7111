/**
 * A KV Connect store answers within a deadline or not at all. Deno's KV client tries a
 * request that failed with a 5xx again and again, without end, so a store that is down
 * would hold a call forever; every read and commit here fails instead after
 * {@linkcode REMOTE_DEADLINE_MS}. A commit that timed out may still be applied later: it
 * is reported as a store error, never as done, and a client retrying the same start (the
 * same `event_id`) gets the same session.
 */
import { withDeadline } from "../../deadline.ts";
import { StoreError } from "../errors.ts";
import type { SessionStore } from "../port.ts";

/** How long one read or commit of a remote store may take. */
export const REMOTE_DEADLINE_MS = 4500;

/** A remote store that did not answer in time. */
export class StoreTimeoutError extends StoreError {
  override name = "StoreTimeoutError";
  constructor(what: string, ms: number) {
    super("timeout", `the store did not answer ${what} within ${ms / 1000} s`);
  }
}

/** `work`, failing with {@linkcode StoreTimeoutError} after `ms`. */
export function inTime<T>(work: Promise<T>, what: string, ms: number): Promise<T> {
  return withDeadline(work, ms, () => new StoreTimeoutError(what, ms));
}

/** What the store uses of a Deno KV handle. */
export type KvHandle = Pick<Deno.Kv, "get" | "getMany" | "list" | "atomic" | "close">;

/** A Deno KV handle whose reads, listings and commits each fail after `ms`. */
export class DeadlineKv implements KvHandle {
  readonly #kv: Deno.Kv;
  readonly #ms: number;

  constructor(kv: Deno.Kv, ms: number = REMOTE_DEADLINE_MS) {
    this.#kv = kv;
    this.#ms = ms;
  }

  get<T = unknown>(key: Deno.KvKey, options?: { consistency?: Deno.KvConsistencyLevel }) {
    return inTime(this.#kv.get<T>(key, options), "a read", this.#ms);
  }

  getMany<T extends readonly unknown[]>(
    keys: readonly [...{ [K in keyof T]: Deno.KvKey }],
    options?: { consistency?: Deno.KvConsistencyLevel },
  ) {
    return inTime(this.#kv.getMany<T>(keys, options), "a read", this.#ms);
  }

  list<T = unknown>(selector: Deno.KvListSelector, options?: Deno.KvListOptions) {
    const iterator = this.#kv.list<T>(selector, options);
    const next = iterator.next.bind(iterator);
    iterator.next = () => inTime(next(), "a listing", this.#ms);
    return iterator;
  }

  atomic() {
    const op = this.#kv.atomic();
    const commit = op.commit.bind(op);
    op.commit = () => inTime(commit(), "a commit", this.#ms);
    return op;
  }

  close() {
    this.#kv.close();
  }
}

/**
 * A store whose calls each fail after `ms` from when they were made: one call of a remote
 * store may take several round trips (a commit whose check failed, a read, another
 * commit), each held to the deadline above, and SPEC's 5 s is for the call. Iterating
 * calls (range, active) are held per round trip by {@linkcode DeadlineKv}.
 */
export class DeadlineStore<S extends SessionStore> implements SessionStore {
  readonly inner: S;
  readonly #ms: number;

  constructor(store: S, ms: number = REMOTE_DEADLINE_MS) {
    this.inner = store;
    this.#ms = ms;
  }

  start(...args: Parameters<SessionStore["start"]>) {
    return inTime(this.inner.start(...args), "a start", this.#ms);
  }
  end(...args: Parameters<SessionStore["end"]>) {
    return inTime(this.inner.end(...args), "an end", this.#ms);
  }
  heartbeat(...args: Parameters<SessionStore["heartbeat"]>) {
    return inTime(this.inner.heartbeat(...args), "a heartbeat", this.#ms);
  }
  get(...args: Parameters<SessionStore["get"]>) {
    return inTime(this.inner.get(...args), "a read", this.#ms);
  }
  isListPosition(...args: Parameters<SessionStore["isListPosition"]>) {
    return inTime(this.inner.isListPosition(...args), "a read", this.#ms);
  }
  list(...args: Parameters<SessionStore["list"]>) {
    return inTime(this.inner.list(...args), "a listing", this.#ms);
  }
  feedSince(...args: Parameters<SessionStore["feedSince"]>) {
    return inTime(this.inner.feedSince(...args), "a read", this.#ms);
  }
  importRecord(...args: Parameters<SessionStore["importRecord"]>) {
    return inTime(this.inner.importRecord(...args), "an import", this.#ms);
  }
  forwardBacklog() {
    const inner = this.inner.forwardBacklog?.() ?? Promise.resolve(null);
    return inTime(inner, "a read", this.#ms);
  }
  // Each read and commit of a batch is held to the deadline by DeadlineKv; the batch is long.
  importRecords(...args: Parameters<SessionStore["importRecords"]>) {
    return this.inner.importRecords(...args);
  }
  check() {
    return inTime(this.inner.check(), "a read", this.#ms);
  }
  range(...args: Parameters<SessionStore["range"]>) {
    return this.inner.range(...args);
  }
  active() {
    return this.inner.active();
  }
  // The history's reads and commits are each held to the deadline by DeadlineKv.
  history() {
    return this.inner.history!();
  }
  prune(...args: Parameters<NonNullable<SessionStore["prune"]>>) {
    return this.inner.prune!(...args);
  }
  carryHistory(...args: Parameters<NonNullable<SessionStore["carryHistory"]>>) {
    return this.inner.carryHistory!(...args);
  }
  observe(...args: Parameters<SessionStore["observe"]>) {
    this.inner.observe(...args);
  }
  close() {
    return this.inner.close();
  }
}
