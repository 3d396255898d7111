/** Reading sessions: derived status, filters, cursors and statistics. No store access here. */
import type { SessionRecord } from "./session.ts";

/** A session's status as reported: `stale` is an active session not seen for too long. */
export type ReportedStatus = "active" | "ended" | "stale";

/** A record as the reading tools return it, with its status derived at read time. */
export type SessionView = Omit<SessionRecord, "status"> & { status: ReportedStatus };

/** Derives the reported status of a record at `nowMs`. */
export function reportedStatus(
  record: SessionRecord,
  nowMs: number,
  staleAfterMs: number,
): ReportedStatus {
  if (record.status === "ended") return "ended";
  return nowMs - Date.parse(record.last_seen_at) > staleAfterMs ? "stale" : "active";
}

/** The record as a reader sees it at `nowMs`. */
export function viewOf(record: SessionRecord, nowMs: number, staleAfterMs: number): SessionView {
  return { ...record, status: reportedStatus(record, nowMs, staleAfterMs) };
}

/** What `list_sessions` filters on. Times are epoch milliseconds of the start. */
export interface SessionFilter {
  status: ReportedStatus | "all";
  component_name?: string;
  hostname?: string;
  username?: string;
  sinceMs?: number;
  untilMs?: number;
}

/** Whether a viewed record passes every filter. */
export function matches(view: SessionView, f: SessionFilter): boolean {
  if (f.status !== "all" && view.status !== f.status) return false;
  if (f.component_name !== undefined && view.component_name !== f.component_name) return false;
  if (f.hostname !== undefined && view.hostname !== f.hostname) return false;
  if (f.username !== undefined && view.user.username !== f.username) return false;
  const at = Date.parse(view.started_at);
  if (f.sinceMs !== undefined && at < f.sinceMs) return false;
  if (f.untilMs !== undefined && at >= f.untilMs) return false;
  return true;
}

/** Where a page ended: the index position of its last session. */
export interface CursorPosition {
  at: number;
  id: string;
}

/** Whether a filter's time range selects nothing (its since is at or after its until). */
export function emptyRange(f: SessionFilter): boolean {
  return f.sinceMs !== undefined && f.untilMs !== undefined && f.sinceMs >= f.untilMs;
}

/**
 * How many index entries one page of `limit` may walk when its filters share no index:
 * the same on every store, so a page costs what it holds, not what the store holds.
 */
export function walkLimit(limit: number): number {
  return Math.max(1000, limit * 20);
}

/**
 * Whether `record` is where a listing with filter `f` could have stopped at `position`:
 * a cursor of another listing, or of a session since changed or gone, is not.
 */
export function isPositionOf(
  record: SessionRecord | null,
  position: CursorPosition,
  f: SessionFilter,
): boolean {
  if (!record || Date.parse(record.started_at) !== position.at) return false;
  // Status changes over time (active, stale, ended); every other filter is fixed.
  return matches({ ...record, status: "active" }, { ...f, status: "all" });
}

const CURSOR_VERSION = 1;

/** Fingerprint of a filter, so a cursor is refused on a query it was not made for. */
export function filterKey(f: SessionFilter): string {
  return JSON.stringify([
    f.status,
    f.component_name ?? null,
    f.hostname ?? null,
    f.username ?? null,
    f.sinceMs ?? null,
    f.untilMs ?? null,
  ]);
}

function base64url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64url(text: string): string {
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return new TextDecoder("utf-8", { fatal: true }).decode(
    Uint8Array.from(binary, (c) => c.charCodeAt(0)),
  );
}

/** Encodes an opaque cursor for the next page of a query. */
export function encodeCursor(position: CursorPosition, f: SessionFilter): string {
  return base64url(JSON.stringify({ v: CURSOR_VERSION, q: filterKey(f), ...position }));
}

/**
 * Decodes a cursor made by {@linkcode encodeCursor} for the same filter; returns a reason
 * string when it is forged, from another query, or from an older version.
 */
export function decodeCursor(cursor: string, f: SessionFilter): CursorPosition | string {
  let data: Record<string, unknown>;
  try {
    if (!/^[A-Za-z0-9_-]{1,2000}$/.test(cursor)) throw new Error("alphabet");
    data = JSON.parse(fromBase64url(cursor));
  } catch {
    return `Invalid cursor '${cursor.slice(0, 40)}': not a cursor this server made`;
  }
  if (data === null || typeof data !== "object") return "Invalid cursor: not a cursor";
  if (data.v !== CURSOR_VERSION) return "Outdated cursor: start the listing again";
  if (data.q !== filterKey(f)) {
    return "Invalid cursor: it belongs to a listing with other filters";
  }
  if (typeof data.at !== "number" || !Number.isFinite(data.at) || typeof data.id !== "string") {
    return "Invalid cursor: damaged position";
  }
  return { at: data.at, id: data.id };
}

/** Duration figures of a group; `null` when none of its sessions has ended. */
export interface DurationStats {
  mean: number;
  p50: number;
  p95: number;
}

/** One group of `session_stats`. */
export interface StatsGroup {
  key: string;
  active: number;
  ended: number;
  stale: number;
  duration_seconds: DurationStats | null;
}

/** Ways `session_stats` can group. */
export type GroupBy = "component" | "hostname" | "username";

/** Nearest-rank percentile of sorted values (`p` in 0-100). */
export function nearestRank(sorted: number[], p: number): number {
  if (sorted.length === 0) throw new RangeError("nearestRank of no values");
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

const DAY_MS = 24 * 3600 * 1000;

/**
 * The start-time window statistics count over, as `session_stats` and `session-buddy stats`
 * both take it: `until` (exclusive) defaults to just after now, `since` (inclusive) to 24
 * hours before `until`.
 *
 * @example
 * ```ts
 * statsWindow(undefined, undefined, 1_000_000_000); // { sinceMs: 913600001, untilMs: 1000000001 }
 * ```
 */
export function statsWindow(
  sinceMs: number | undefined,
  untilMs: number | undefined,
  nowMs: number,
): { sinceMs: number; untilMs: number } {
  const until = untilMs ?? nowMs + 1;
  return { sinceMs: sinceMs ?? until - DAY_MS, untilMs: until };
}

/** Accumulates viewed sessions into groups. */
export class StatsAccumulator {
  readonly #groups = new Map<string, { counts: StatsGroup; durations: number[] }>();
  constructor(readonly groupBy: GroupBy) {}

  add(view: SessionView): void {
    const key = this.groupBy === "component"
      ? view.component_name
      : this.groupBy === "hostname"
      ? view.hostname
      : view.user.username;
    let group = this.#groups.get(key);
    if (!group) {
      group = {
        counts: { key, active: 0, ended: 0, stale: 0, duration_seconds: null },
        durations: [],
      };
      this.#groups.set(key, group);
    }
    group.counts[view.status]++;
    if (view.status === "ended" && view.duration_seconds !== null) {
      group.durations.push(view.duration_seconds);
    }
  }

  /** Groups ordered by key. */
  result(): StatsGroup[] {
    return [...this.#groups.values()]
      .sort((a, b) => (a.counts.key < b.counts.key ? -1 : a.counts.key > b.counts.key ? 1 : 0))
      .map(({ counts, durations }) => {
        if (durations.length === 0) return counts;
        durations.sort((a, b) => a - b);
        const mean = durations.reduce((sum, d) => sum + d, 0) / durations.length;
        return {
          ...counts,
          duration_seconds: {
            mean: Math.round(mean * 1000) / 1000,
            p50: nearestRank(durations, 50),
            p95: nearestRank(durations, 95),
          },
        };
      });
  }
}

/**
 * Groups the sessions of `records` as `session_stats` reports them, viewed at `nowMs`. An
 * aborted `signal` stops the walk early (leaving the loop closes the store's iterator).
 */
export async function statsOf(
  records: AsyncIterable<SessionRecord>,
  groupBy: GroupBy,
  nowMs: number,
  staleAfterMs: number,
  signal?: AbortSignal,
): Promise<StatsGroup[]> {
  const stats = new StatsAccumulator(groupBy);
  for await (const r of records) {
    if (signal?.aborted) break;
    stats.add(viewOf(r, nowMs, staleAfterMs));
  }
  return stats.result();
}
