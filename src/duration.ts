/** Durations as the command line writes them: a whole number with s, m, h or d. */
import { UsageError } from "./usage_error.ts";

const DURATION = /^(\d+)(s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Whether `text` is written as a duration (`24h`), whatever its value. */
export function isDuration(text: string): boolean {
  return DURATION.test(text.trim());
}

/**
 * Parses a duration such as `90m`, `12h` or `7d` into milliseconds.
 *
 * @example
 * ```ts
 * parseDuration("90m"); // 5400000
 * ```
 */
export function parseDuration(text: string, what = "duration"): number {
  const m = DURATION.exec(text.trim());
  const ms = m ? Number(m[1]) * UNIT_MS[m[2]!]! : NaN;
  if (!(ms > 0) || !Number.isSafeInteger(ms)) {
    throw new UsageError(`invalid ${what} '${text}': use a whole number with s, m, h or d (12h)`);
  }
  return ms;
}
