/**
 * The PostgreSQL half of bench/list_scale.ts: fills a fresh database of the cluster
 * tests/helpers/postgres.ts finds or starts with the KV half's workload in one SQL statement,
 * and EXPLAINs the very statements the store runs for each listing (`listSql`).
 */
import { pg, type PgDatabase, pgMissing } from "../tests/helpers/postgres.ts";
import { listSql, openPostgresStore } from "../src/store/postgres/store.ts";
import { parsePostgresUrl } from "../src/store/postgres/url.ts";
import type { SessionFilter } from "../src/sessions/query.ts";
import type { Filled, Workload } from "./list_scale.ts";
export { pgMissing };

const DAY_MS = 24 * 3600 * 1000;
const WEEK_MS = 7 * DAY_MS;
const YEAR_MS = 365 * DAY_MS;

/**
 * The rank (0-based) of a Zipf-like draw from `u` (a column of uniform draws), in SQL: the
 * inverse of the continuous approximation of the distribution, F(x) ~ 1 - x^(1-s) on
 * [1, n + 1].
 */
function zipfSql(u: string, n: number, s: number): string {
  const t = 1 - s;
  return `least(${n - 1}, greatest(0, floor(power(1 - ${u} * (1 - power(${n + 1}, ${t})), ${
    1 / t
  }))::int - 1))`;
}

/** JSON text of a string column (`to_json` escapes what needs it). */
const js = (column: string) => `to_json(${column})::text`;

/** `YYYY-MM-DDTHH:MM:SS.mmmZ` of epoch milliseconds, exactly (no floating point). */
const iso = (ms: string) =>
  `to_char(timestamp '1970-01-01' + (${ms}) * interval '1 millisecond', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * Fills the store's table in `db` (schema already created by the store) with `n` sessions:
 * starts over the last year (`recentShare` of them in the last 7 days), written in start
 * order as a live store receives them; ids `{component}-{YYYYMMDD}-{HHMMSS}` and `-2`, `-3`
 * within a second; records as the store writes them (the same JSON text, key order and
 * all). About `endedShare` ended by their client (durations log-normal around 20 minutes);
 * the others alive, seen in the last 5 minutes. The secondary indexes are dropped during
 * the fill and built again from their own definitions after it; then VACUUM ANALYZE.
 */
async function fillPostgres(
  db: PgDatabase,
  n: number,
  nowMs: number,
  seed: number,
  w: Workload,
  label: string,
): Promise<Filled & { tableMb: number; indexMb: number }> {
  const t0 = performance.now();
  let statements = 0;
  const q = async (text: string, params: unknown[] = []) => {
    statements++;
    return await db.query(text, params);
  };
  const indexes = await q(
    `SELECT i.indexname, i.indexdef FROM pg_indexes i
      WHERE i.schemaname = 'session_buddy' AND i.tablename = 'sessions'
        AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                         WHERE c.conname = i.indexname AND c.connamespace = 'session_buddy'::regnamespace)`,
  );
  for (const ix of indexes) await q(`DROP INDEX session_buddy.${String(ix.indexname)}`);
  await q("SELECT setseed($1)", [((seed % 1000) / 1000) * 2 - 1]);
  const minute = 60_000;
  await q(
    `INSERT INTO session_buddy.sessions (session_id, event_id, started_ms, component_name,
         hostname, username, status, last_seen_ms, record)
     WITH draws AS (
       SELECT i, random() AS r_when, random() AS r_at, random() AS r_c, random() AS r_h,
              random() AS r_u, random() AS r_end, random() AS r_z1, random() AS r_z2,
              random() AS r_seen, random() AS r_pid, random() AS r_meta, random() AS r_ticket
         FROM generate_series(1, $1::int) AS i
     ), shaped AS (
       SELECT i, r_end, r_seen, r_pid, r_meta, r_ticket,
              CASE WHEN r_when < $2::float8
                THEN $3::bigint - 1000 - floor(r_at * ($4::bigint - 1000))::bigint
                ELSE $3::bigint - $4::bigint - floor(r_at * ($5::bigint - $4::bigint))::bigint
              END AS started_ms,
              ${zipfSql("r_c", w.components, w.zipfS)} AS c,
              ${zipfSql("r_h", w.hosts, w.zipfS)} AS h,
              ${zipfSql("r_u", w.users, w.zipfS)} AS u,
              greatest(1000, round(1200000 * exp(1.2 * sqrt(-2 * ln(1 - r_z1)) * cos(2 * pi() * r_z2))))::bigint
                AS duration_ms
         FROM draws
     ), named AS (
       SELECT *, 'svc-' || lpad((c + 1)::text, 3, '0') AS component_name,
              'host-' || lpad((h + 1)::text, 4, '0') || '.dc' || (h % 4) || '.example.net' AS hostname,
              'user' || lpad((u + 1)::text, 4, '0') AS username,
              r_end < $6::float8 AND started_ms + duration_ms < $3::bigint - 1000 AS ended
         FROM shaped
     ), based AS (
       SELECT *, component_name || '-' || to_char(timestamp '1970-01-01' +
                   floor(started_ms / 1000.0) * interval '1 second', 'YYYYMMDD-HH24MISS') AS base,
              -- A UUID v4 whose first 8 hex digits count up (inserts in order, as on KV).
              lpad(to_hex(i), 8, '0') || '-' || substr(md5(i::text || $7::text), 1, 4) || '-4' ||
                substr(md5(i::text || $7::text), 5, 3) || '-' ||
                substr('89ab', 1 + (i % 4), 1) || substr(md5(i::text || $7::text), 8, 3) || '-' ||
                substr(md5(i::text || $7::text), 11, 12) AS event_id
         FROM named
     ), numbered AS (
       SELECT *, row_number() OVER (PARTITION BY base ORDER BY started_ms, i) AS seq FROM based
     ), final AS (
       SELECT *, CASE WHEN seq = 1 THEN base ELSE base || '-' || seq END AS session_id,
              CASE WHEN ended THEN started_ms + 3
                ELSE $3::bigint - floor(r_seen * ${5 * minute})::bigint END AS last_seen_ms
         FROM numbered
     )
     SELECT session_id, event_id, started_ms, component_name, hostname, username,
            CASE WHEN ended THEN 'ended' ELSE 'active' END, last_seen_ms,
            '{"session_id":' || ${js("session_id")} ||
            ',"event_version":"1.0","event_id":' || ${js("event_id")} ||
            ',"event_type":"session_start","component_name":' || ${js("component_name")} ||
            ',"shell_type":"MahavishnuShell","timestamp":' || ${js(iso("started_ms"))} ||
            ',"pid":' || (1 + floor(r_pid * 4000000))::int ||
            ',"user":{"username":' || ${js("username")} || ',"home":' ||
              ${js("'/home/' || username")} || '}' ||
            ',"hostname":' || ${js("hostname")} ||
            ',"environment":{"python_version":"3.13.1","platform":"Linux-6.8.0-x86_64","cwd":' ||
              ${js("'/home/' || username || '/projects/' || component_name")} || '}' ||
            ',"metadata":' || CASE WHEN r_meta < 0.5 THEN '{}'
                                ELSE '{"ticket":"OPS-' || floor(r_ticket * 99999)::int || '"}' END ||
            ',"status":' || CASE WHEN ended THEN '"ended"' ELSE '"active"' END ||
            ',"started_at":' || ${js(iso("started_ms"))} ||
            ',"ended_at":' || CASE WHEN ended THEN ${
      js(iso("started_ms + duration_ms"))
    } ELSE 'null' END ||
            ',"duration_seconds":' || CASE WHEN ended THEN trim_scale(duration_ms / 1000.0)::text
                                        ELSE 'null' END ||
            ',"end_metadata":' || CASE WHEN ended THEN '{"exit_code":0}' ELSE 'null' END ||
            ',"end_source":' || CASE WHEN ended THEN '"client"' ELSE 'null' END ||
            ',"last_seen_at":' || ${js(iso("last_seen_ms"))} ||
            ',"tracked_by":null}'
       FROM final ORDER BY started_ms, session_id`,
    [n, w.recentShare, nowMs, WEEK_MS, YEAR_MS, w.endedShare, seed],
  );
  console.error(
    `  ${label}: ${n} rows inserted (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
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
  const [facts = {}] = await q(
    `SELECT count(*) FILTER (WHERE status = 'ended')::int AS ended,
            count(*) FILTER (WHERE started_ms >= $1::bigint - ${DAY_MS})::int AS last_day,
            count(*) FILTER (WHERE started_ms >= $1::bigint - ${WEEK_MS})::int AS last_week,
            count(*) FILTER (WHERE component_name = 'svc-001')::int AS top_component,
            count(*) FILTER (WHERE hostname = 'host-0001.dc0.example.net')::int AS top_host,
            count(*) FILTER (WHERE username = 'user0001')::int AS top_user,
            (pg_table_size('session_buddy.sessions') / 1048576.0)::float8 AS table_mb,
            (pg_indexes_size('session_buddy.sessions') / 1048576.0)::float8 AS index_mb
       FROM session_buddy.sessions`,
    [nowMs],
  );
  const sample = await q(
    `SELECT session_id FROM session_buddy.sessions TABLESAMPLE BERNOULLI ($1) LIMIT 2000`,
    [Math.min(100, (2500 / n) * 100)],
  );
  return {
    sessions: n,
    ms,
    commits: statements,
    ended: Number(facts.ended),
    startedLastDay: Number(facts.last_day),
    startedLastWeek: Number(facts.last_week),
    top: {
      component: Number(facts.top_component),
      host: Number(facts.top_host),
      user: Number(facts.top_user),
    },
    sampleIds: sample.map((r) => String(r.session_id)),
    tableMb: Math.round(Number(facts.table_mb)),
    indexMb: Math.round(Number(facts.index_mb)),
  };
}

/**
 * A fresh database of the test cluster holding `n` sessions, with the store opened on it
 * for reading. The store creates the schema first (a writable open), as a server would.
 */
export async function postgresSide(
  n: number,
  nowMs: number,
  seed: number,
  w: Workload,
  label: string,
) {
  const cluster = await pg();
  if (!cluster) throw new Error(pgMissing() ?? "no PostgreSQL");
  const db = await cluster.createDatabase();
  try {
    await (await openPostgresStore(parsePostgresUrl(db.url))).close();
    const filled = await fillPostgres(db, n, nowMs, seed, w, label);
    const store = await openPostgresStore(parsePostgresUrl(db.url), { readOnly: true });
    return { db, store, filled };
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
