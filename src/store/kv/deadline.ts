/**
 * A KV Connect store answers within a deadline or not at all. Deno's KV client tries a
 * request that failed with a 5xx again and again, without end, so a store that is down
 * would hold a call forever; every read and commit here fails instead after
 * {@linkcode REMOTE_DEADLINE_MS}. A commit that timed out may still be applied later: it
 * is reported as a store error, never as done, and a client retrying the same start (the
 * same `event_id`) gets the same session.
 */

/** How long one read or commit of a remote store may take. */
export const REMOTE_DEADLINE_MS = 4500;

/** A remote store that did not answer in time. */
export class StoreTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`the store did not answer ${what} within ${ms / 1000} s`);
    this.name = "StoreTimeoutError";
  }
}

function race<T>(work: Promise<T>, what: string, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreTimeoutError(what, ms)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** `kv` whose reads, listings and commits each fail after `ms`. */
export function withDeadline(kv: Deno.Kv, ms: number = REMOTE_DEADLINE_MS): Deno.Kv {
  return new Proxy(kv, {
    get(target, property) {
      if (property === "get" || property === "getMany") {
        const method = target[property] as (...args: unknown[]) => Promise<unknown>;
        return (...args: unknown[]) => race(method.apply(target, args), "a read", ms);
      }
      if (property === "atomic") {
        return () => {
          const op = target.atomic();
          const commit = op.commit.bind(op);
          op.commit = () => race(commit(), "a commit", ms);
          return op;
        };
      }
      if (property === "list") {
        return (...args: Parameters<Deno.Kv["list"]>) => {
          const iterator = target.list(...args);
          const next = iterator.next.bind(iterator);
          iterator.next = () => race(next(), "a listing", ms);
          return iterator;
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** What each call of a store is called in an error text. */
const CALLS: Record<string, string> = {
  start: "a start",
  end: "an end",
  heartbeat: "a heartbeat",
  get: "a read",
  isListPosition: "a read",
  list: "a listing",
  feedSince: "a read",
  importRecord: "an import",
};

/**
 * `store` whose calls each fail after `ms` from when they were made: one call of a remote
 * store may take several round trips (a commit whose check failed, a read, another
 * commit), each held to the deadline above, and SPEC's 5 s is for the call.
 */
export function withCallDeadline<S extends object>(store: S, ms: number = REMOTE_DEADLINE_MS): S {
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      const bound = value.bind(target);
      const what = typeof property === "string" ? CALLS[property] : undefined;
      if (what === undefined) return bound;
      return (...args: unknown[]) => race(Promise.resolve(bound(...args)), what, ms);
    },
    // A setter runs on the store itself, whose private fields a Proxy does not have.
    set: (target, property, value) => Reflect.set(target, property, value, target),
  });
}
