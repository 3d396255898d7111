/**
 * The PostgreSQL half of bench/list_scale.ts: fresh databases of the cluster
 * tests/helpers/postgres.ts finds or starts, filled with the generated sessions as the store's
 * rows, and EXPLAIN (ANALYZE, BUFFERS) of the very statements the store runs for each listing.
 */
import { pg, type PgDatabase, pgMissing } from "../tests/helpers/postgres.ts";
import { listSql, openPostgresStore } from "../src/store/postgres/store.ts";
import { columnText } from "../src/store/postgres/text.ts";
import { parsePostgresUrl } from "../src/store/postgres/url.ts";
import type { SessionFilter } from "../src/sessions/query.ts";
import type { Filled, Generate } from "./list_scale.ts";
export { pgMissing };

/**
 * A fresh database holding the generated sessions, with the store opened on it for reading.
 * The store creates the schema first (a writable open), as a server would; the sessions go
 * in as the store writes them (its columns, its JSON text), in start order, 10,000 to a
 * statement, the secondary indexes dropped meanwhile and built again from their own
 * definitions after; then the id counters of every base, and VACUUM ANALYZE.
 */
export async function postgresSide(generate: Generate) {
  const cluster = await pg();
  if (!cluster) throw new Error(pgMissing() ?? "no PostgreSQL");
  const db = await cluster.createDatabase();
  try {
    await (await openPostgresStore(parsePostgresUrl(db.url))).close();
    const t0 = performance.now();
    let statements = 0;
    const q = (text: string, params: unknown[] = []) => (statements++, db.query(text, params));
    const indexes = await q(
      `SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.schemaname = 'session_buddy' AND i.tablename = 'sessions'
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                           WHERE c.conname = i.indexname AND c.connamespace = 'session_buddy'::regnamespace)`,
    );
    for (const ix of indexes) await q(`DROP INDEX session_buddy.${String(ix.indexname)}`);
    // One statement in flight while the next rows are made.
    let inFlight: Promise<unknown> = Promise.resolve();
    const filled: Filled = await generate(async (chunk) => {
      for (let i = 0; i < chunk.length; i += 10_000) {
        const rows = chunk.slice(i, i + 10_000).map(({ record: r }) => [
          r.session_id,
          r.event_id,
          Date.parse(r.started_at),
          columnText(r.component_name),
          columnText(r.hostname),
          columnText(r.user.username),
          r.status,
          Date.parse(r.last_seen_at),
          JSON.stringify(r),
        ]);
        await inFlight;
        inFlight = q(
          `INSERT INTO session_buddy.sessions (session_id, event_id, started_ms, component_name,
               hostname, username, status, last_seen_ms, record)
           SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[],
                                $6::text[], $7::text[], $8::bigint[], $9::text[])`,
          rows[0]!.map((_, column) => rows.map((row) => row[column])),
        );
      }
    });
    await inFlight;
    for (const ix of indexes) await q(String(ix.indexdef));
    // How many ids each base has handed out, as the store's counters would say.
    await q(
      `INSERT INTO session_buddy.id_counters (base, n)
       SELECT left(session_id, length(component_name) + 16),
              max(CASE WHEN length(session_id) = length(component_name) + 16 THEN 1
                       ELSE substr(session_id, length(component_name) + 18)::int END)
         FROM session_buddy.sessions GROUP BY 1`,
    );
    await q("VACUUM (ANALYZE) session_buddy.sessions");
    await q("ANALYZE session_buddy.id_counters");
    const ms = performance.now() - t0;
    const [size = {}] = await db.query(
      `SELECT (pg_table_size('session_buddy.sessions') / 1048576.0)::float8 AS table_mb,
              (pg_indexes_size('session_buddy.sessions') / 1048576.0)::float8 AS index_mb`,
    );
    const store = await openPostgresStore(parsePostgresUrl(db.url), { readOnly: true });
    return {
      db,
      store,
      filled: {
        ...filled,
        ms,
        commits: statements,
        tableMb: Math.round(Number(size.table_mb)),
        indexMb: Math.round(Number(size.index_mb)),
      },
    };
  } catch (error) {
    await db.drop().catch(() => {});
    throw error;
  }
}

/** Where the cluster is, for the report. */
export async function clusterFacts(side: { db: PgDatabase }) {
  const cluster = (await pg())!;
  const [s = {}] = await side.db.query(
    `SELECT current_setting('server_version') AS version,
            current_setting('shared_buffers') AS shared_buffers,
            current_setting('fsync') AS fsync`,
  );
  return {
    version: String(s.version),
    host: cluster.host,
    port: cluster.port,
    shared_buffers: String(s.shared_buffers),
    fsync: String(s.fsync),
  };
}

type Plan = Record<string, unknown> & { Plans?: Plan[] };
/** One node of a plan; `removed`: rows its filter removed over all loops. */
interface PlanNode {
  depth: number;
  node: string;
  on: string | null;
  rows: number;
  loops: number;
  removed: number;
  hit: number;
  read: number;
}

/** The nodes of a plan, depth first. */
function flatten(plan: Plan, depth = 0, out: PlanNode[] = []): PlanNode[] {
  const on = (plan["Index Name"] ?? plan["Relation Name"] ?? plan["CTE Name"] ?? null) as
    | string
    | null;
  out.push({
    depth,
    node: `${plan["Node Type"]}${plan["Scan Direction"] === "Backward" ? " Backward" : ""}`,
    on,
    rows: Number(plan["Actual Rows"] ?? 0),
    loops: Number(plan["Actual Loops"] ?? 0),
    removed: Number(plan["Rows Removed by Filter"] ?? 0) * Number(plan["Actual Loops"] ?? 1),
    hit: Number(plan["Shared Hit Blocks"] ?? 0),
    read: Number(plan["Shared Read Blocks"] ?? 0),
  });
  for (const child of plan.Plans ?? []) flatten(child, depth + 1, out);
  return out;
}

/** The statement `store.get` runs (src/store/postgres/store.ts). */
const GET_SQL = "SELECT record FROM session_buddy.sessions WHERE session_id = $1";

/**
 * EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) of the statements one listing page runs in the
 * store: listSql's `page` and, when filters share no index, its `edge`; or `store.get`'s.
 */
export async function explainListing(
  db: PgDatabase,
  filter: SessionFilter | { get: string },
  staleCutoffMs: number,
  limit: number,
  scanLimit: number,
) {
  const statements: { statement: "page" | "edge" | "get"; text: string; values: unknown[] }[] = [];
  if ("get" in filter) statements.push({ statement: "get", text: GET_SQL, values: [filter.get] });
  else {
    const sql = listSql(filter, null, staleCutoffMs, limit, scanLimit);
    statements.push({ statement: "page", text: sql.page, values: sql.values });
    if (sql.edge) statements.push({ statement: "edge", text: sql.edge, values: sql.edgeValues });
  }
  const out = [];
  for (const s of statements) {
    const [row] = await db.query(
      `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${s.text}`,
      s.values,
    );
    const doc = (row?.["QUERY PLAN"] as { Plan: Plan; "Execution Time": number }[])[0]!;
    const nodes = flatten(doc.Plan);
    // The buffers the whole statement touched (the top node's, which include its children's)
    // and the rows the scans of the table and its indexes looked at.
    out.push({
      statement: s.statement,
      nodes,
      ms: doc["Execution Time"],
      hit: nodes[0]!.hit,
      read: nodes[0]!.read,
      seqScanOnSessions: nodes.some((x) => x.node === "Seq Scan" && x.on === "sessions"),
      sort: nodes.some((x) => x.node.startsWith("Sort") || x.node.includes("Sort")),
      limitOnTop: nodes[0]!.node === "Limit",
      indexes: nodes.filter((x) => x.node.includes("Index")).map((x) => x.on!),
      visited: nodes.filter((x) =>
        x.node.includes("Scan") && !x.node.startsWith("CTE") &&
        (x.on === "sessions" || (x.on ?? "").startsWith("sessions_"))
      ).reduce((a, x) => a + x.rows * Math.max(1, x.loops) + x.removed, 0),
    });
  }
  return out;
}

/** A plan on one line: `Limit 51 > Index Scan Backward sessions_by_start 51`, children in [..; ..]. */
export function renderPlan(nodes: PlanNode[]): string {
  const render = (i: number): { text: string; next: number } => {
    const n = nodes[i]!;
    let text = `${n.node}${n.on ? ` ${n.on}` : ""} ${n.rows}${n.loops > 1 ? `x${n.loops}` : ""}${
      n.removed ? ` (-${n.removed})` : ""
    }`;
    const children: string[] = [];
    let j = i + 1;
    while (j < nodes.length && nodes[j]!.depth > n.depth) {
      const child = render(j);
      children.push(child.text);
      j = child.next;
    }
    if (children.length === 1) text += ` > ${children[0]}`;
    else if (children.length > 1) text += ` > [${children.join("; ")}]`;
    return { text, next: j };
  };
  return nodes.length ? render(0).text : "";
}

/** The index made for a listing's first filter (listSql's primary one), as the schema names it. */
function ownIndex(filter: SessionFilter): string {
  if (filter.component_name !== undefined) return "sessions_by_component";
  if (filter.hostname !== undefined) return "sessions_by_host";
  if (filter.username !== undefined) return "sessions_by_user";
  if (filter.status !== "all") return "sessions_by_status";
  return "sessions_by_start";
}

/**
 * Whether the large store's plans are O(page): an index under a Limit and no scan of the
 * table (`get`: one lookup by primary key); and what else they show (another index walked,
 * a sort).
 */
export function judge(filter: SessionFilter | null, large: Explained[]) {
  const own = filter ? ownIndex(filter) : "sessions_pkey";
  const notes: string[] = [];
  for (const e of large) {
    if (e.statement !== "get" && !e.indexes.includes(own)) {
      notes.push(
        `${e.statement} walks ${e.indexes.join(", ")} and filters, not ${own} ` +
          `(${e.visited} rows looked at)`,
      );
    }
    if (e.sort) notes.push(`${e.statement} sorts`);
    if (e.seqScanOnSessions) notes.push(`${e.statement} SCANS THE TABLE`);
  }
  const plan_ok = large.every((e) =>
    e.statement === "get"
      ? e.indexes.includes("sessions_pkey") && !e.seqScanOnSessions
      : e.limitOnTop && !e.seqScanOnSessions && e.indexes.length > 0
  );
  return { plan_ok, notes };
}
type Explained = Awaited<ReturnType<typeof explainListing>>[number];
