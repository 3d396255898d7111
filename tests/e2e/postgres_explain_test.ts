/**
 * SPEC 8.3: on PostgreSQL a page of a listing costs O(page), with an index, never a scan of
 * the table. A fresh database holds 50,000 sessions written in SQL (a year of starts in start
 * order, as a live store receives them) and ANALYZEd; for each listing, the very statements
 * the store runs (`listSql`) are EXPLAINed with ANALYZE, and their plans must show:
 *
 * - no Seq Scan on session_buddy.sessions and no Sort (the index gives the order), a Limit
 *   on top;
 * - for one filter, the index made for it (`sessions_by_start`, `_by_component`, `_by_host`,
 *   `_by_user`, `_by_status`), walking about a page of entries;
 * - for filters that share no index, a walk of at most the scan limit (the CTE's Limit).
 *
 * The data has what a year of a real fleet has and a planner cannot see from its statistics
 * alone: a host retired months ago (common overall, absent from recent starts), a few
 * sessions gone stale, most sessions ended. Takes a few seconds (once the cluster is up).
 */
import assert from "node:assert/strict";
import { type CursorPosition, type SessionFilter, walkLimit } from "../../src/sessions/query.ts";
import { listSql, openPostgresStore } from "../../src/store/postgres/store.ts";
import { parsePostgresUrl } from "../../src/store/postgres/url.ts";
import { pg, skipWithoutPg } from "../helpers/postgres.ts";
import type { PgDatabase } from "../helpers/pg_database.ts";

const ROWS = 50_000;
const PAGE = 50;
/** The store's default walk for a page of 50. */
const SCAN_LIMIT = walkLimit(PAGE);
const STALE_AFTER_MS = 12 * 3600 * 1000;
/** One start every 10 minutes: 50,000 starts span about 347 days. */
const STEP_MS = 600_000;
const DAY_MS = 24 * 3600 * 1000;

/**
 * 50,000 sessions, oldest first. 20 components, 19 hosts and 20 users in turn, and
 * `retired.example.net` on every third of the oldest 15,000 starts (5,000 sessions, none
 * in the last 240 days). The newest 1,500 are active and seen a minute ago; one in 500 of
 * the others is active but last seen when it started (stale); the rest ended.
 */
async function fill(db: PgDatabase, nowMs: number): Promise<void> {
  await db.query(
    `INSERT INTO session_buddy.sessions (session_id, event_id, started_ms, component_name,
         hostname, username, status, last_seen_ms, record)
     SELECT 'comp-' || (i % 20) || '-' || lpad(i::text, 6, '0'),
            md5(i::text)::uuid::text,
            $1::bigint - ($2::int - i) * $3::bigint,
            'comp-' || (i % 20),
            CASE WHEN i <= 15000 AND i % 3 = 0 THEN 'retired.example.net'
                 ELSE 'host-' || (i % 19) || '.example.net' END,
            'user' || (i % 20),
            CASE WHEN i > $2::int - 1500 OR i % 500 = 0 THEN 'active' ELSE 'ended' END,
            CASE WHEN i > $2::int - 1500 THEN $1::bigint - 60000
                 ELSE $1::bigint - ($2::int - i) * $3::bigint + 3 END,
            '{"session_id":"comp-' || (i % 20) || '-' || lpad(i::text, 6, '0') || '","pad":"' ||
              repeat('x', 400) || '"}'
       FROM generate_series(1, $2::int) AS i`,
    [nowMs, ROWS, STEP_MS],
  );
  await db.query("VACUUM (ANALYZE) session_buddy.sessions");
}

type Plan = Record<string, unknown> & { Plans?: Plan[] };

interface Node {
  depth: number;
  /** The node above, by position in the list (-1 for the top). */
  parent: number;
  type: string;
  /** The index or table read, if any. */
  on: string | null;
  /** Rows the node produced, and (scans) those its filter removed, over all loops. */
  rows: number;
  removed: number;
}

function flatten(plan: Plan, depth = 0, parent = -1, out: Node[] = []): Node[] {
  const loops = Number(plan["Actual Loops"] ?? 1);
  const at = out.length;
  out.push({
    depth,
    parent,
    type: String(plan["Node Type"]),
    on: (plan["Index Name"] ?? plan["Relation Name"] ?? null) as string | null,
    rows: Number(plan["Actual Rows"] ?? 0) * loops,
    removed: Number(plan["Rows Removed by Filter"] ?? 0) * loops,
  });
  for (const child of plan.Plans ?? []) flatten(child, depth + 1, at, out);
  return out;
}

function render(nodes: Node[]): string {
  return nodes.map((n) =>
    `${"  ".repeat(n.depth)}${n.type}${n.on ? ` on ${n.on}` : ""} (rows ${n.rows}${
      n.removed ? `, removed by filter ${n.removed}` : ""
    })`
  ).join("\n");
}

async function explain(db: PgDatabase, text: string, values: unknown[]): Promise<Node[]> {
  const [row] = await db.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${text}`, values);
  return flatten((row!["QUERY PLAN"] as { Plan: Plan }[])[0]!.Plan);
}

/** Scans of the sessions table or of one of its indexes. */
function sessionScans(nodes: Node[]): Node[] {
  return nodes.filter((n) =>
    n.type.includes("Scan") && n.type !== "CTE Scan" &&
    (n.on === "sessions" || (n.on ?? "").startsWith("sessions_"))
  );
}

/** The rows a scan looked at: those it produced and those its filter removed. */
const visited = (scans: Node[]) => scans.reduce((a, n) => a + n.rows + n.removed, 0);

interface Case {
  name: string;
  filter: SessionFilter;
  /** The index whose order serves the page (or the walk). */
  index: string;
  /**
   * A condition no index holds (a second filter, last-seen for active/stale): the page is
   * a walk of at most SCAN_LIMIT entries of `index`, then a filter.
   */
  walk?: boolean;
  /** Take the page after the first (a cursor). */
  second?: boolean;
}

/** What is wrong with one statement's plan, for case `c`; empty when nothing is. */
function problemsOf(c: Case, nodes: Node[]): string[] {
  const problems: string[] = [];
  if (nodes[0]?.type !== "Limit") problems.push(`the top node is ${nodes[0]?.type}, not a Limit`);
  if (nodes.some((n) => n.type.includes("Sort"))) {
    problems.push("it sorts (the index should give the order)");
  }
  if (nodes.some((n) => n.type === "Seq Scan" && n.on === "sessions")) {
    problems.push("it scans the table (Seq Scan on sessions)");
  }
  const scans = sessionScans(nodes);
  const used = scans.map((n) => n.on);
  if (!used.includes(c.index)) problems.push(`it reads ${used.join(", ")}, not ${c.index}`);
  if (!c.walk) {
    // About a page: the index's order and bounds pick the rows, not a filter.
    if (visited(scans) > 2 * (PAGE + 1)) {
      problems.push(`it looks at ${visited(scans)} rows for a page of ${PAGE}`);
    }
    return problems;
  }
  // A walk: every read of the table is either under a Limit of at most SCAN_LIMIT rows, or a
  // lookup by primary key of a walked row; nothing reads another filter's index whole.
  for (const n of scans) {
    const underLimit = n.parent >= 0 && nodes[n.parent]!.type === "Limit";
    if (n.on === "sessions_pkey") continue;
    if (!underLimit) {
      problems.push(`it reads ${n.on} (${n.type}) outside a bounded walk`);
    } else if (n.rows + n.removed > SCAN_LIMIT) {
      problems.push(
        `the walk of ${n.on} looks at ${n.rows + n.removed} rows (limit ${SCAN_LIMIT})`,
      );
    }
  }
  if (!scans.some((n) => n.parent >= 0 && nodes[n.parent]!.type === "Limit")) {
    problems.push("no Limit bounds the walk");
  }
  if (visited(scans) > 2 * SCAN_LIMIT + PAGE + 1) {
    problems.push(`it looks at ${visited(scans)} rows (walk limit ${SCAN_LIMIT})`);
  }
  return problems;
}

Deno.test("PostgreSQL: every listing's statements use an index, a Limit and no sort, at 50,000 sessions", async (t) => {
  const cluster = await pg();
  if (!cluster) return skipWithoutPg("the EXPLAIN of the PostgreSQL store's listings");
  const db = await cluster.createDatabase();
  // The store creates its schema (tables and indexes) as a server would.
  const store = await openPostgresStore(parsePostgresUrl(db.url));
  try {
    const nowMs = Date.now();
    await fill(db, nowMs);
    const cutoff = nowMs - STALE_AFTER_MS;
    const since = nowMs - 30 * DAY_MS;
    const until = nowMs - 100 * DAY_MS;
    const cases: Case[] = [
      { name: "unfiltered", filter: { status: "all" }, index: "sessions_by_start" },
      {
        name: "unfiltered, second page",
        filter: { status: "all" },
        index: "sessions_by_start",
        second: true,
      },
      { name: "since", filter: { status: "all", sinceMs: since }, index: "sessions_by_start" },
      { name: "until", filter: { status: "all", untilMs: until }, index: "sessions_by_start" },
      {
        name: "since and until",
        filter: { status: "all", sinceMs: until - 30 * DAY_MS, untilMs: until },
        index: "sessions_by_start",
      },
      {
        name: "component",
        filter: { status: "all", component_name: "comp-7" },
        index: "sessions_by_component",
      },
      {
        name: "component, second page",
        filter: { status: "all", component_name: "comp-7" },
        index: "sessions_by_component",
        second: true,
      },
      {
        name: "component since",
        filter: { status: "all", component_name: "comp-7", sinceMs: since },
        index: "sessions_by_component",
      },
      {
        name: "component until",
        filter: { status: "all", component_name: "comp-7", untilMs: until },
        index: "sessions_by_component",
      },
      {
        name: "component since and until, second page",
        filter: {
          status: "all",
          component_name: "comp-7",
          sinceMs: until - 60 * DAY_MS,
          untilMs: until,
        },
        index: "sessions_by_component",
        second: true,
      },
      {
        name: "hostname",
        filter: { status: "all", hostname: "host-13.example.net" },
        index: "sessions_by_host",
      },
      {
        name: "hostname retired months ago",
        filter: { status: "all", hostname: "retired.example.net" },
        index: "sessions_by_host",
      },
      {
        name: "username",
        filter: { status: "all", username: "user7" },
        index: "sessions_by_user",
      },
      { name: "status=ended", filter: { status: "ended" }, index: "sessions_by_status" },
      {
        name: "status=ended until",
        filter: { status: "ended", untilMs: until },
        index: "sessions_by_status",
      },
      {
        name: "status=active",
        filter: { status: "active" },
        index: "sessions_by_status",
        walk: true,
      },
      {
        name: "status=stale",
        filter: { status: "stale" },
        index: "sessions_by_status",
        walk: true,
      },
      {
        name: "component and hostname",
        filter: { status: "all", component_name: "comp-7", hostname: "host-13.example.net" },
        index: "sessions_by_component",
        walk: true,
      },
      {
        name: "hostname and username",
        filter: { status: "all", hostname: "host-13.example.net", username: "user7" },
        index: "sessions_by_host",
        walk: true,
      },
      {
        name: "component and status=active",
        filter: { status: "active", component_name: "comp-3" },
        index: "sessions_by_component",
        walk: true,
      },
      {
        name: "username and status=ended",
        filter: { status: "ended", username: "user7" },
        index: "sessions_by_user",
        walk: true,
      },
    ];
    for (const c of cases) {
      const what = c.walk ? `a walk of at most ${SCAN_LIMIT} on ${c.index}` : c.index;
      await t.step(`${c.name}: ${what}`, async () => {
        let after: CursorPosition | null = null;
        if (c.second) {
          after = (await store.list(c.filter, PAGE, null, nowMs, STALE_AFTER_MS)).next;
          assert.ok(after, "the first page has a next cursor");
        }
        const sql = listSql(c.filter, after, cutoff, PAGE, SCAN_LIMIT);
        const statements = [{ text: sql.page, values: sql.values, what: "page" }];
        if (sql.edge) statements.push({ text: sql.edge, values: sql.edgeValues, what: "edge" });
        const problems: string[] = [];
        for (const s of statements) {
          const nodes = await explain(db, s.text, s.values);
          const own = problemsOf(c, nodes);
          if (own.length > 0) problems.push(`${s.what}: ${own.join("; ")}\n${render(nodes)}`);
        }
        assert.deepEqual(problems, [], `\n${problems.join("\n\n")}\n${sql.page}`);
      });
    }
  } finally {
    await store.close();
    await db.drop();
  }
});
