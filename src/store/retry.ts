/**
 * The one retry loop of the stores: an attempt that reports "not this time" (a failed
 * check: `undefined`) or throws an error its policy calls transient (a locked file, a
 * dropped connection) is made again after a pause, until it succeeds, the tries run out,
 * the deadline would pass, or nobody waits for the answer any more.
 *
 * @example
 * ```ts
 * const value = await retry(() => commitOnce(), { ...policy, maxAttempts: 50 });
 * ```
 */
import { sleep as realSleep } from "../deadline.ts";

/** When and how often to try again. */
export interface RetryPolicy {
  /** Tries at most. */
  maxAttempts: number;
  /** The pause in milliseconds before try `n` (n >= 2). */
  pause: (n: number) => number;
  /** Whether a thrown error means "try again" (others pass through at once). */
  transient: (error: unknown) => boolean;
  /** The error once the tries ran out; `last` is the last transient error, if any. */
  exhausted: (attempts: number, last: unknown) => unknown;
  /** No try begins at or after this `performance.now()` instant; the last error is thrown. */
  untilMs?: number;
  /** Whether anybody still waits: when not, no further try begins. */
  wanted?: () => boolean;
  /** Told of each try that will be made again. */
  onRetry?: () => void;
  sleep?: (ms: number) => Promise<void>;
}

/** Runs `attempt` (given its number, from 1) until it returns a value other than `undefined`. */
export async function retry<T>(
  attempt: (n: number) => Promise<T | undefined>,
  policy: RetryPolicy,
): Promise<T> {
  const sleep = policy.sleep ?? realSleep;
  let last: unknown = undefined;
  for (let n = 1; n <= policy.maxAttempts; n++) {
    try {
      const result = await attempt(n);
      if (result !== undefined) return result;
    } catch (error) {
      if (!policy.transient(error)) throw error;
      last = error;
    }
    if (n === policy.maxAttempts) break;
    const pause = policy.pause(n + 1);
    if (policy.wanted && !policy.wanted()) break;
    if (policy.untilMs !== undefined && performance.now() + pause >= policy.untilMs) break;
    policy.onRetry?.();
    if (pause > 0) await sleep(pause);
  }
  if (last !== undefined && (policy.untilMs !== undefined || policy.wanted)) {
    // A call out of time or out of callers fails with what it met, not "out of tries".
    throw last;
  }
  throw policy.exhausted(policy.maxAttempts, last);
}
