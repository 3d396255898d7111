/** Retrying Deno KV work that other processes on the same file can make fail. */

/** The store stayed locked by other writers for longer than we wait. */
export class StoreBusyError extends Error {
  constructor(attempts: number) {
    super(`store stayed locked by other writers after ${attempts} attempts`);
    this.name = "StoreBusyError";
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
 * (a failed `.check()`) and a "database is locked" error both lead to another try after
 * a short random pause; any other error passes through.
 */
export async function withRetry<T>(
  attempt: () => Promise<T | undefined>,
  options: Partial<RetryOptions> = {},
): Promise<T> {
  const o = { ...DEFAULTS, ...options };
  for (let n = 1; n <= o.maxAttempts; n++) {
    try {
      const result = await attempt();
      if (result !== undefined) return result;
    } catch (error) {
      if (!isLockedError(error)) throw error;
    }
    if (n < o.maxAttempts) o.onRetry?.();
    if (n > 1) {
      const ceiling = Math.min(50, o.baseDelayMs * 2 ** Math.min(n - 2, 4));
      await o.sleep(1 + o.random() * ceiling);
    }
  }
  throw new StoreBusyError(o.maxAttempts);
}
