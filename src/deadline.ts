/**
 * Work held to a deadline: the one place that races a promise against a timer, for every
 * store call, health check and shutdown that must answer in time.
 *
 * @example
 * ```ts
 * const value = await withDeadline(() => fetchSomething(), 1000, () => new Error("late"));
 * ```
 */

/**
 * Resolves as `work` does, or rejects with `late()` after `ms` milliseconds, whichever
 * comes first. The timer is cleared either way; `work` itself is not stopped (a promise
 * cannot be), so what it does after the deadline must be harmless.
 */
export function withDeadline<T>(
  work: Promise<T> | (() => Promise<T>),
  ms: number,
  late: () => Error,
): Promise<T> {
  let running: Promise<T>;
  try {
    running = typeof work === "function" ? work() : work;
  } catch (error) {
    // A function that throws before it returns a promise has nothing to wait for.
    return Promise.reject(error);
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
  });
  return Promise.race([running, expired]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
