/** Retrying Deno KV work that other processes on the same file can make fail. */
import { StoreError } from "../errors.ts";
import { retry } from "../retry.ts";

/** The store stayed locked by other writers for longer than we wait. */
export class StoreBusyError extends StoreError {
  override name = "StoreBusyError";
  constructor(attempts: number) {
    super("busy", `store stayed locked by other writers after ${attempts} attempts`);
  }
}

/** Limits for {@linkcode withRetry}. */
export interface RetryOptions {
  maxAttempts: number;
  /** Upper bound of the first random pause, in milliseconds; it doubles per attempt to 50. */
  baseDelayMs: number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  /** Told of each attempt that will be made again. */
  onRetry?: () => void;
}

const DEFAULTS: RetryOptions = {
  maxAttempts: 400,
  baseDelayMs: 4,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
};

/** SQLite refuses a commit while another process holds the write lock. */
export function isLockedError(error: unknown): boolean {
  return error instanceof Error && /database is (locked|busy)/i.test(error.message);
}

/**
 * Runs `attempt` until it returns a value other than `undefined`. A return of `undefined`
 * (a failed `.check()`) and a "database is locked" error both lead to another try, the
 * second at once and the later ones after a short random pause; any other error passes
 * through. Out of tries: {@linkcode StoreBusyError}.
 */
export function withRetry<T>(
  attempt: () => Promise<T | undefined>,
  options: Partial<RetryOptions> = {},
): Promise<T> {
  const o = { ...DEFAULTS, ...options };
  return retry(attempt, {
    maxAttempts: o.maxAttempts,
    pause: (n) =>
      n <= 2 ? 0 : 1 + o.random() * Math.min(50, o.baseDelayMs * 2 ** Math.min(n - 3, 4)),
    transient: isLockedError,
    exhausted: (attempts) => new StoreBusyError(attempts),
    onRetry: o.onRetry,
    sleep: o.sleep,
  });
}
