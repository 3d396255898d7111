/**
 * Strict ISO 8601 instants as the contract accepts them:
 * `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM]`, no offset meaning UTC.
 */

const ISO_INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$/;

/** The pattern published in JSON Schemas; calendar checks happen in {@linkcode parseInstant}. */
export const ISO_INSTANT_PATTERN = ISO_INSTANT.source;

/** The example the error text shows an operator. */
export const ISO_EXAMPLE = "2026-02-06T12:34:56.789Z";

const MIN_INSTANT = -62167219200000; // 0000-01-01T00:00:00.000Z
const MAX_INSTANT = 253402300799999; // 9999-12-31T23:59:59.999Z

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/**
 * Parses a contract timestamp into epoch milliseconds, or returns `null` when the text is
 * not a real calendar instant in the accepted format.
 *
 * Second 60 is tolerated as a leap second and counted as second 59. Fraction digits past
 * the millisecond are cut, never rounded up.
 *
 * @example
 * ```ts
 * parseInstant("2026-02-06T12:34:56.789Z"); // 1770381296789
 * parseInstant("2026-02-30T00:00:00Z"); // null
 * ```
 */
export function parseInstant(text: string): number | null {
  const m = ISO_INSTANT.exec(text);
  if (!m) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  if (month < 1 || month > 12) return null;
  const monthDays = month === 2 && isLeapYear(year) ? 29 : DAYS_IN_MONTH[month - 1]!;
  if (day < 1 || day > monthDays) return null;
  if (hour > 23 || minute > 59 || second > 60) return null;
  const millis = m[7] ? Number(m[7].slice(0, 3).padEnd(3, "0")) : 0;
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone && zone !== "Z") {
    const offHours = Number(zone.slice(1, 3));
    const offMinutes = Number(zone.slice(4, 6));
    if (offHours > 23 || offMinutes > 59) return null;
    offsetMinutes = (zone[0] === "-" ? -1 : 1) * (offHours * 60 + offMinutes);
  }
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, keeps years 0-99 as written.
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, Math.min(second, 59), millis);
  const instant = date.getTime() - offsetMinutes * 60_000;
  // An offset may carry the instant outside the four-digit years that ids and records use.
  return instant < MIN_INSTANT || instant > MAX_INSTANT ? null : instant;
}

/** An optional instant that an argument schema has already accepted, in milliseconds. */
export function instantMs(text: string | undefined): number | undefined {
  return text === undefined ? undefined : parseInstant(text) ?? undefined;
}

/** Formats epoch milliseconds as `YYYYMMDD-HHMMSS` in UTC, the time part of a session id. */
export function compactUtc(ms: number): string {
  const [date = "", time = ""] = new Date(ms).toISOString().split("T");
  return `${date.replaceAll("-", "")}-${time.slice(0, 8).replaceAll(":", "")}`;
}

/** Formats epoch milliseconds as an ISO 8601 UTC instant with milliseconds. */
export function isoUtc(ms: number): string {
  return new Date(ms).toISOString();
}
