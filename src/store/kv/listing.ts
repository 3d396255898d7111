/** Reading the Deno KV store's sessions: pages, ranges, the active ones and the change feed. */
import {
  type CursorPosition,
  emptyRange,
  matches,
  type SessionView,
  viewOf,
  walkLimit,
} from "../../sessions/query.ts";
import type { SessionRecord } from "../../sessions/session.ts";
import type { FeedEntry, ListArgs, ListPage } from "../port.ts";
import type { KvContext } from "./context.ts";
import { listPrefix, sessionKey, type Unindexed } from "./keys.ts";
import { comparePositions, mergePositions, positionsOf } from "./merge.ts";
import { decodeRecord } from "./records.ts";
import { withRetry } from "./retry.ts";

/**
 * The store's readers. Every one also places the sessions still marked `unindexed` (a start's
 * index keys follow its record: see index_writer.ts), so each is listed once either way.
 */
export class KvListing {
  readonly #ctx: KvContext;

  constructor(ctx: KvContext) {
    this.#ctx = ctx;
  }

  /** Records for index entries, in the entries' order (Deno KV reads at most 10 at once). */
  async #records(ids: string[]): Promise<SessionRecord[]> {
    const reads = [];
    for (let i = 0; i < ids.length; i += 10) {
      const keys = ids.slice(i, i + 10).map(sessionKey);
      reads.push(withRetry(async () => await this.#ctx.kv.getMany<Uint8Array[]>(keys)));
    }
    // The reads are independent; issuing them together saves a round of waiting each.
    const out: SessionRecord[] = [];
    for (const entries of await Promise.all(reads)) {
      for (const entry of entries) if (entry.value) out.push(decodeRecord(entry.value));
    }
    return out;
  }

  /**
   * One page of sessions matching `filter`, newest start first. Work is bounded by the
   * page size (and `scanLimit` index entries when filters combine), not the store size.
   */
  async list(
    ...[filter, limit, after, nowMs, staleAfterMs, scan, signal]: ListArgs
  ): Promise<ListPage> {
    const scanLimit = scan ?? walkLimit(limit);
    if (emptyRange(filter)) return { sessions: [], next: null };
    const prefix = listPrefix(filter);
    const lower = filter.sinceMs !== undefined ? [...prefix, filter.sinceMs] : undefined;
    let upper: Deno.KvKey | undefined = filter.untilMs !== undefined
      ? [...prefix, filter.untilMs]
      : undefined;
    if (after) upper = [...prefix, after.at, after.id];
    const selector: Deno.KvListSelector = lower && upper
      ? { start: lower, end: upper }
      : lower
      ? { prefix, start: lower }
      : upper
      ? { prefix, end: upper }
      : { prefix };
    const iter = this.#ctx.kv.list(selector, {
      reverse: true,
      batchSize: Math.min(500, limit + 10),
    });
    // The markers are read before the index (its listing is fetched lazily): a session
    // indexed in between is in both, and merging yields it once.
    const unindexed = await this.#unindexedPositions((m, id) =>
      (filter.component_name === undefined || m.component_name === filter.component_name) &&
      (filter.hostname === undefined || m.hostname === filter.hostname) &&
      (filter.username === undefined || m.username === filter.username) &&
      (filter.sinceMs === undefined || m.started_ms >= filter.sinceMs) &&
      (filter.untilMs === undefined || m.started_ms < filter.untilMs) &&
      (after === null || comparePositions({ at: m.started_ms, id }, after) < 0)
    );
    const sessions: SessionView[] = [];
    let scanned = 0;
    let batch: CursorPosition[] = [];
    let last: CursorPosition | null = null;
    const flush = async (): Promise<CursorPosition | null> => {
      const records = await this.#records(batch.map((p) => p.id));
      const byId = new Map(records.map((r) => [r.session_id, r]));
      for (const position of batch) {
        const record = byId.get(position.id);
        if (!record) continue;
        const view = viewOf(record, nowMs, staleAfterMs);
        if (!matches(view, filter)) continue;
        sessions.push(view);
        if (sessions.length === limit) return position;
      }
      batch = [];
      return null;
    };
    for await (const position of mergePositions(positionsOf(iter), unindexed, true)) {
      signal?.throwIfAborted();
      last = position;
      batch.push(last);
      scanned++;
      if (batch.length === Math.min(50, limit - sessions.length + 10)) {
        const full = await flush();
        if (full) return { sessions, next: full };
      }
      if (scanned >= scanLimit) {
        const full = await flush();
        return { sessions, next: full ?? last };
      }
    }
    const full = await flush();
    // A full page at the very end still says "more" only if something could follow it.
    return { sessions, next: full && full !== last ? full : null };
  }

  /** Every record started in `[sinceMs, untilMs)`, oldest first, read through the start index. */
  async *range(sinceMs: number, untilMs: number): AsyncGenerator<SessionRecord> {
    if (sinceMs >= untilMs) return;
    const entries = this.#ctx.kv.list(
      { start: ["by_start", sinceMs], end: ["by_start", untilMs] },
      {
        batchSize: 500,
      },
    );
    const unindexed = await this.#unindexedPositions((m) =>
      m.started_ms >= sinceMs && m.started_ms < untilMs
    );
    yield* this.#recordsOf(mergePositions(positionsOf(entries), unindexed, false));
  }

  /** Active records, oldest start first, for reaping. */
  async *active(): AsyncGenerator<SessionRecord> {
    const entries = this.#ctx.kv.list({ prefix: ["by_status", "active"] }, { batchSize: 500 });
    const unindexed = await this.#unindexedPositions(() => true);
    for await (
      const record of this.#recordsOf(mergePositions(positionsOf(entries), unindexed, false))
    ) {
      if (record.status === "active") yield record;
    }
  }

  /** The records at index positions, in their order. */
  async *#recordsOf(positions: AsyncIterable<CursorPosition>): AsyncGenerator<SessionRecord> {
    let ids: string[] = [];
    for await (const position of positions) {
      ids.push(position.id);
      if (ids.length === 100) {
        yield* await this.#records(ids);
        ids = [];
      }
    }
    if (ids.length > 0) yield* await this.#records(ids);
  }

  /** Positions of the sessions still marked unindexed (by any process) that `keep` admits. */
  async #unindexedPositions(
    keep: (marker: Unindexed, id: string) => boolean,
  ): Promise<CursorPosition[]> {
    const out: CursorPosition[] = [];
    for await (const entry of this.#ctx.kv.list<Unindexed>({ prefix: ["unindexed"] })) {
      const id = entry.key[1] as string;
      if (keep(entry.value, id)) out.push({ at: entry.value.started_ms, id });
    }
    return out;
  }

  /** Change-feed entries written at or after `sinceMs`, oldest first. */
  async feedSince(sinceMs: number): Promise<FeedEntry[]> {
    const out = [];
    for await (const entry of this.#ctx.kv.list({ prefix: ["feed"], start: ["feed", sinceMs] })) {
      const [, at, sessionId, kind] = entry.key as [string, number, string, string];
      out.push({ at, sessionId, kind });
    }
    return out;
  }
}
