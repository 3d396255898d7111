/**
 * Reading the PostgreSQL store's sessions: keyset pages on an index per filter, so a page
 * costs O(page); ranges and the active ones in pages of {@linkcode PAGE}; the change feed.
 */
import {
  type CursorPosition,
  emptyRange,
  type SessionFilter,
  viewOf,
  walkLimit,
} from "../../sessions/query.ts";
import type { SessionRecord } from "../../sessions/session.ts";
import type { FeedEntry, ListArgs, ListPage } from "../port.ts";
import { deadline, type PgContext } from "./connection.ts";
import { columnText } from "./text.ts";

const PAGE = 500;

interface Row {
  record: string;
  started_ms: string;
  session_id: string;
}

/** The store's readers. */
export class PgListing {
  readonly #ctx: PgContext;

  constructor(ctx: PgContext) {
    this.#ctx = ctx;
  }

  async list(
    ...[filter, limit, after, nowMs, staleAfterMs, scan, signal]: ListArgs
  ): Promise<ListPage> {
    const scanLimit = scan ?? walkLimit(limit);
    if (emptyRange(filter)) return { sessions: [], next: null };
    const sql = listSql(filter, after, nowMs - staleAfterMs, limit, scanLimit);
    const rows = await deadline(async () => {
      signal?.throwIfAborted();
      const r = await this.#ctx.pool.query<Row>(sql.page, sql.values);
      signal?.throwIfAborted();
      if (!sql.edge) return { rows: r.rows, scannedTo: null as CursorPosition | null };
      // Only a walk that used all of its entries can have left some unseen.
      const edge = await this.#ctx.pool.query<{ started_ms: string; session_id: string }>(
        sql.edge,
        sql.edgeValues,
      );
      const last = edge.rows[0];
      return {
        rows: r.rows,
        scannedTo: last ? { at: Number(last.started_ms), id: last.session_id } : null,
      };
    }, "a listing");
    const page = rows.rows.slice(0, limit);
    const sessions = page.map((row) => viewOf(JSON.parse(row.record), nowMs, staleAfterMs));
    let next: CursorPosition | null = null;
    if (rows.rows.length > limit) {
      const last = page.at(-1)!;
      next = { at: Number(last.started_ms), id: last.session_id };
    } else if (rows.scannedTo) {
      // The walk ended before the page filled: more may follow past where it stopped.
      next = rows.scannedTo;
    }
    return { sessions, next };
  }

  /** Records in keyset pages of {@linkcode PAGE}, oldest start first. */
  async *#walk(where: string[], values: unknown[]): AsyncGenerator<SessionRecord> {
    let after: [number, string] | null = null;
    while (true) {
      const conditions = [...where];
      const params = [...values];
      if (after) {
        params.push(after[0], after[1]);
        conditions.push(`(started_ms, session_id) > ($${params.length - 1}, $${params.length})`);
      }
      const r: { rows: Row[] } = await deadline(
        () =>
          this.#ctx.pool.query<Row>(
            `SELECT record, started_ms, session_id FROM session_buddy.sessions
             ${conditions.length ? `WHERE ${conditions.join(" AND ")}` : ""}
             ORDER BY started_ms, session_id LIMIT ${PAGE}`,
            params,
          ),
        "a read",
      );
      for (const row of r.rows) yield JSON.parse(row.record) as SessionRecord;
      if (r.rows.length < PAGE) return;
      const last = r.rows.at(-1)!;
      after = [Number(last.started_ms), last.session_id];
    }
  }

  range(sinceMs: number, untilMs: number): AsyncIterable<SessionRecord> {
    if (sinceMs >= untilMs) return (async function* () {})();
    return this.#walk(["started_ms >= $1", "started_ms < $2"], [sinceMs, untilMs]);
  }

  active(): AsyncIterable<SessionRecord> {
    return this.#walk(["status = 'active'"], []);
  }

  async feedSince(sinceMs: number): Promise<FeedEntry[]> {
    const r = await deadline(
      () =>
        this.#ctx.pool.query<{ at_ms: string; session_id: string; kind: string }>(
          `SELECT at_ms, session_id, kind FROM session_buddy.feed WHERE at_ms >= $1
           ORDER BY at_ms, seq LIMIT 100000`,
          [sinceMs],
        ),
      "a read",
    );
    return r.rows.map((row) => ({
      at: Number(row.at_ms),
      sessionId: row.session_id,
      kind: row.kind,
    }));
  }
}

/**
 * The statements of one page of a listing: `page` finds up to `limit + 1` records; when
 * filters share no index (or the status filter needs last-seen), it walks at most
 * `scanLimit` entries of the first filter's index (as the Deno KV store does), and `edge`
 * names the entry where such a walk ends (none when it ended early). Each is ordered by its
 * index's own columns, so the planner walks that index and never sorts. bench/list_scale.ts
 * and tests/e2e/postgres_explain_test.ts EXPLAIN these very statements.
 */
export function listSql(
  filter: SessionFilter,
  after: CursorPosition | null,
  staleCutoffMs: number,
  limit: number,
  scanLimit: number,
): { page: string; edge: string | null; values: unknown[]; edgeValues: unknown[] } {
  const plan = listQuery(filter, after, staleCutoffMs);
  const where = (conditions: string[]) =>
    conditions.length ? ` WHERE ${conditions.join(" AND ")}` : "";
  const order = `ORDER BY ${
    plan.column ? `${plan.column} DESC, ` : ""
  }started_ms DESC, session_id DESC`;
  if (plan.secondary.length === 0 || scanLimit === Number.MAX_SAFE_INTEGER) {
    return {
      page: `SELECT record, started_ms, session_id FROM session_buddy.sessions${
        where([...plan.primary, ...plan.secondary])
      } ${order} LIMIT ${limit + 1}`,
      edge: null,
      values: plan.values,
      edgeValues: [],
    };
  }
  const walk = `FROM session_buddy.sessions${where(plan.primary)} ${order}`;
  return {
    page: `SELECT record, started_ms, session_id FROM (
      SELECT record, started_ms, session_id, component_name, hostname, username, status,
        last_seen_ms ${walk} LIMIT ${scanLimit}) walked${where(plan.secondary)}
      ${order} LIMIT ${limit + 1}`,
    edge: `SELECT started_ms, session_id ${walk} LIMIT 1 OFFSET ${scanLimit - 1}`,
    values: plan.values,
    edgeValues: plan.values.slice(0, plan.primaryValues),
  };
}

/** One filter of a listing: its column and the value it must have. */
interface Filter {
  column: "component_name" | "hostname" | "username" | "status";
  value: string;
}

/**
 * The conditions of a listing. `primary` are those the first filter's index serves (in the
 * Deno KV store's order of filters): its column written as a range, `col BETWEEN v AND v`,
 * which keeps the column in the ORDER BY (PostgreSQL drops one it knows to be constant, and
 * would then walk the start index instead), and the time range and cursor as row
 * comparisons led by it, which position the walk. `secondary` are the other filters and a
 * status filter's last-seen bound, checked on the walked rows. `column` is the index's
 * leading column (none: the start index).
 */
export function listQuery(
  filter: SessionFilter,
  after: CursorPosition | null,
  staleCutoffMs: number,
): {
  primary: string[];
  secondary: string[];
  values: unknown[];
  primaryValues: number;
  column: Filter["column"] | null;
} {
  const values: unknown[] = [];
  const param = (value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  const filters: Filter[] = [];
  if (filter.component_name !== undefined) {
    filters.push({ column: "component_name", value: filter.component_name });
  }
  if (filter.hostname !== undefined) filters.push({ column: "hostname", value: filter.hostname });
  if (filter.username !== undefined) filters.push({ column: "username", value: filter.username });
  // Stale is derived from last-seen: stored, stale sessions are active.
  if (filter.status !== "all") {
    filters.push({ column: "status", value: filter.status === "ended" ? "ended" : "active" });
  }
  const first = filters[0];
  const primary: string[] = [];
  let lead: (columns: string, op: string, params: string) => string;
  if (first) {
    const v = param(columnText(first.value));
    primary.push(`${first.column} BETWEEN ${v} AND ${v}`);
    lead = (columns, op, params) => `(${first.column}, ${columns}) ${op} (${v}, ${params})`;
  } else {
    lead = (columns, op, params) => `(${columns}) ${op} (${params})`;
  }
  if (filter.sinceMs !== undefined) primary.push(lead("started_ms", ">=", param(filter.sinceMs)));
  if (filter.untilMs !== undefined) primary.push(lead("started_ms", "<", param(filter.untilMs)));
  if (after) {
    primary.push(lead("started_ms, session_id", "<", `${param(after.at)}, ${param(after.id)}`));
  }
  const primaryValues = values.length;
  const secondary = filters.slice(1).map((f) => `${f.column} = ${param(columnText(f.value))}`);
  if (filter.status === "active") secondary.push(`last_seen_ms >= ${param(staleCutoffMs)}`);
  if (filter.status === "stale") secondary.push(`last_seen_ms < ${param(staleCutoffMs)}`);
  return { primary, secondary, values, primaryValues, column: first?.column ?? null };
}
