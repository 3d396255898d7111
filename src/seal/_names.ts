/** How the verifier's messages name times, entries and runs of seqs. */

/** An ISO time without milliseconds when they are zero: 2026-12-07T10:15:00Z. */
export function isoTime(ms: number): string {
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return String(ms);
  return new Date(ms).toISOString().replace(".000Z", "Z");
}

/** An entry as `entry w#s (session id)`. */
export function entryName(w: string, s: number, id?: string): string {
  return `entry ${w}#${s}${id ? ` (session ${id})` : ""}`;
}

/** Seqs `#from-#to`, or `#from` when they are one. */
export function seqRange(from: number, to: number): string {
  return from === to ? `#${from}` : `#${from}-#${to}`;
}
