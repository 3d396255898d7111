/**
 * `deno task bench:list`: the reading tools at scale. A `list_sessions` page of 50 (unfiltered
 * and with each filter) and `get_session`, timed through the real store on a small and a large
 * store of one seeded workload (Zipf-skewed components, hosts and users; 30% started in the
 * last 7 days; about half ended), taking turns. Targets: large/small <= 2 per operation, and
 * `session_stats` over the last day reading only that day's sessions. Deno KV stores get the
 * key layout `KvSessionStore` writes; PostgreSQL databases the store's rows, and each
 * listing's statements EXPLAINed (without PostgreSQL that half skips).
 *
 *     deno task bench:list [--sessions N] [--small N] [--reps N] [--warmup N] [--seed N]
 *       [--store kv|postgres|all] [--keep]
 */
import type { SessionStartEvent } from "../src/sessions/events.ts";
import {
  baseSessionId,
  candidateId,
  endRecord,
  type SessionRecord,
  startRecord,
  touchRecord,
} from "../src/sessions/session.ts";
import { type SessionFilter, StatsAccumulator, viewOf } from "../src/sessions/query.ts";
import type { SessionStore } from "../src/store/port.ts";
import { encodeRecord } from "../src/store/kv/records.ts";
import * as keys from "../src/store/kv/keys.ts";
import { openKvStore } from "../src/store/kv/open.ts";
import { listSql, openPostgresStore } from "../src/store/postgres/store.ts";
import { columnText } from "../src/store/postgres/text.ts";
import { parsePostgresUrl } from "../src/store/postgres/url.ts";
import { pg, type PgDatabase, pgMissing } from "../tests/helpers/postgres.ts";
import { Bench, median, table } from "./harness.ts";

const DAY_MS = 24 * 3600 * 1000;
const WEEK_MS = 7 * DAY_MS;
const YEAR_MS = 365 * DAY_MS;
/** The server's default `--stale-after` (12h). */
const STALE_AFTER_MS = 12 * 3600 * 1000;
const [PAGE, TARGET_RATIO, CHUNK] = [50, 2, 100_000];
const names = [
  (i: number) => `svc-${String(i + 1).padStart(3, "0")}`,
  (i: number) => `host-${String(i + 1).padStart(4, "0")}.dc${i % 4}.example.net`,
  (i: number) => `user${String(i + 1).padStart(4, "0")}`,
] as const;
/** The filter values measured: the most used of each (rank 1 of the skew). */
const TOP = { component: names[0](0), host: names[1](0), user: names[2](0) };

const b = new Bench("list_scale", [], [], {
  "--sessions": 1_000_000,
  "--small": 1000,
  "--reps": 200,
  "--warmup": 20,
  "--seed": 42,
  "--store": "all",
  "--keep": false,
});
const [store, seed, reps] = [b.str("--store"), b.num("--seed"), b.num("--reps")];
const o = { small: b.num("--small"), sessions: b.num("--sessions"), warmup: b.num("--warmup") };
if (!["kv", "postgres", "all"].includes(store)) {
  console.error(`--store takes kv, postgres or all, got '${store}'`);
  Deno.exit(2);
}
type Which = "small" | "large";
const nowMs = Date.now();
const SIDES = [["small", o.small, seed], ["large", o.sessions, seed + 1]] as const;

// ---------------------------------------------------------------------------------------
// The workload, one generator for both stores

/** Deterministic PRNG (mulberry32), so two runs build the same stores. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Samples ranks 0..n-1 with probability proportional to 1/(rank+1)^1.2. */
function zipf(n: number): (u: number) => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / (i + 1) ** 1.2;
  for (let i = 0; i < n; i++) cdf[i]! /= sum;
  return (u) => {
    let [lo, hi] = [0, n - 1];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

interface Made {
  record: SessionRecord;
  base: string;
  seq: number;
  at: number;
  endAt: number | null;
}
const newFilled = (sessions: number) => ({
  sessions,
  ms: 0,
  commits: 0,
  ended: 0,
  startedLastDay: 0,
  startedLastWeek: 0,
  top: { component: 0, host: 0, user: 0 },
  sampleIds: [] as string[],
  tableMb: 0,
  indexMb: 0,
});
/** What a fill made, for checks and `get_session` ids (commits: statements on PostgreSQL). */
type Filled = ReturnType<typeof newFilled>;
type Generate = (write: (chunk: Made[]) => Promise<void>) => Promise<Filled>;

/**
 * Makes `n` sessions from `seed` in start order, as the store's `start` (then `end` or
 * `heartbeat`) records them, handed to `write` a chunk at a time. Event ids count up in their
 * first 8 hex digits: inserted in key order, they cost a tenth of random ones.
 */
async function generate(n: number, seed: number, label: string, write: Parameters<Generate>[0]) {
  const t0 = performance.now();
  const rand = rng(seed);
  const picks = [200, 2000, 5000].map(zipf);
  const hex = (digits: number) =>
    Math.floor(rand() * 16 ** digits).toString(16).padStart(digits, "0");
  // Start times, oldest first; the newest a second before "now", so the last day is full.
  const times = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    times[i] = rand() < 0.3
      ? nowMs - 1000 - Math.floor(rand() * (WEEK_MS - 1000))
      : nowMs - WEEK_MS - Math.floor(rand() * (YEAR_MS - WEEK_MS));
  }
  times.sort();
  const out = newFilled(n);
  let second = -1;
  const seqOfBase = new Map<string, number>();
  for (let from = 0; from < n; from += CHUNK) {
    const chunk: Made[] = [];
    for (let i = from; i < Math.min(n, from + CHUNK); i++) {
      const at = times[i]!;
      const [c, h, u] = picks.map((pick) => pick(rand())) as [number, number, number];
      if (c === 0) out.top.component++;
      if (h === 0) out.top.host++;
      if (u === 0) out.top.user++;
      if (at >= nowMs - DAY_MS) out.startedLastDay++;
      if (at >= nowMs - WEEK_MS) out.startedLastWeek++;
      const [username, component] = [names[2](u), names[0](c)];
      const counter = (seed * 16_000_000 + i).toString(16).padStart(8, "0");
      const variant = "89ab"[Math.floor(rand() * 4)];
      const event: SessionStartEvent = {
        event_version: "1.0",
        event_id: `${counter}-${hex(4)}-4${hex(3)}-${variant}${hex(3)}-${hex(6)}${hex(6)}`,
        event_type: "session_start",
        component_name: component,
        shell_type: "MahavishnuShell",
        timestamp: new Date(at).toISOString(),
        pid: 1 + Math.floor(rand() * 4_000_000),
        user: { username, home: `/home/${username}` },
        hostname: names[1](h),
        environment: {
          python_version: "3.13.1",
          platform: "Linux-6.8.0-x86_64",
          cwd: `/home/${username}/projects/${component}`,
        },
        metadata: rand() < 0.5 ? {} : { ticket: `OPS-${Math.floor(rand() * 99999)}` },
      };
      // Ids: `{component}-{YYYYMMDD}-{HHMMSS}`, then `-2`, `-3`... within one second.
      const s = Math.floor(at / 1000);
      if (s !== second) second = s, seqOfBase.clear();
      const base = baseSessionId(event);
      const seq = (seqOfBase.get(base) ?? 0) + 1;
      seqOfBase.set(base, seq);
      let record = startRecord(event, candidateId(base, seq), null, new Date(at + 3));
      // About half end (durations log-normal around 20 minutes), the rest stay alive.
      let endAt: number | null = null;
      if (rand() < 0.5) {
        const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
        const duration = Math.max(1000, Math.round(1_200_000 * Math.exp(1.2 * z)));
        if (at + duration < nowMs - 1000) endAt = at + duration;
      }
      if (endAt !== null) {
        record = endRecord(record, {
          session_id: record.session_id,
          timestamp: new Date(endAt).toISOString(),
          event_type: "session_end",
          metadata: { exit_code: 0 },
        }, "client").record;
        out.ended++;
      } else {
        record = touchRecord(record, new Date(nowMs - Math.floor(rand() * 300_000))).record;
      }
      chunk.push({ record, base, seq, at, endAt });
      // A uniform sample of 2,000 ids for get_session (reservoir).
      if (out.sampleIds.length < 2000) out.sampleIds.push(record.session_id);
      else {
        const j = Math.floor(rand() * (i + 1));
        if (j < 2000) out.sampleIds[j] = record.session_id;
      }
    }
    await write(chunk);
    const [secs, done] = [(performance.now() - t0) / 1000, from + chunk.length];
    console.error(
      `  ${label}: ${done}/${n} sessions (${secs.toFixed(0)} s, ${Math.round(done / secs)}/s)`,
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// The Deno KV layout

interface Mutation {
  key: Deno.KvKey;
  value: unknown;
  /** Estimated bytes of key plus value, and of the key. */
  bytes: number;
  keyBytes: number;
  expireIn?: number;
}

/** Deno KV key order for keys of one family (parts of the same types at each position). */
function compareKeys(a: Deno.KvKey, b: Deno.KvKey): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const [x, y] = [a[i]!, b[i]!];
    if (x === y) continue;
    if (typeof x === "number" && typeof y === "number") return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return a.length - b.length;
}

/**
 * Writes the sessions into `kv` exactly as `KvSessionStore` leaves them: a chunk's keys family
 * by family, each in key order, in atomics as large as Deno KV allows (1000 mutations, 80 KiB
 * of keys, 800 KiB in all), one commit in flight while the next is built.
 */
async function fillKv(kv: Deno.Kv, generate: Generate): Promise<Filled> {
  const t0 = performance.now();
  let [op, n, commits] = [kv.atomic(), { mutations: 0, keys: 0, total: 0 }, 0];
  let inFlight: Promise<Deno.KvCommitResult | Deno.KvCommitError> | null = null;
  const settle = async () => {
    const res = await inFlight;
    inFlight = null;
    if (res && !res.ok) throw new Error("a fill commit failed its checks");
  };
  const flush = async () => {
    if (n.mutations === 0) return;
    const commit = op.commit();
    await settle();
    [inFlight, op, n] = [commit, kv.atomic(), { mutations: 0, keys: 0, total: 0 }];
    commits++;
  };
  const realNow = Date.now();
  const filled = await generate(async (chunk) => {
    const families: Record<string, Mutation[]> = {
      session: [],
      event: [],
      seq: [],
      index: [],
      feed: [],
    };
    const push = (f: string, key: Deno.KvKey, value: unknown, size: number, expireIn?: number) => {
      // A generous estimate of a key's encoded size (tag, bytes, terminator per part).
      const kb = key.reduce<number>(
        (a, p) => a + (typeof p === "string" ? p.length * 1.1 + 2 : 10),
        4,
      );
      families[f]!.push({ key, value, keyBytes: kb, bytes: kb + size + 16, expireIn });
    };
    for (const { record, base, seq, at, endAt } of chunk) {
      const id = record.session_id;
      const bytes = encodeRecord(record);
      push("session", keys.sessionKey(id), bytes, bytes.length);
      push("event", keys.eventKey(record.event_id), { session_id: id }, id.length + 30);
      push("seq", keys.idSeqKey(base), seq, 12);
      for (const key of keys.indexKeys(record)) push("index", key, null, 4);
      // Change-feed entries still within their time to live.
      for (const [ms, what] of [[at + 3, "start"], [endAt && endAt + 5, "end"]] as const) {
        const ttl = ms ? ms + keys.FEED_TTL_MS - realNow : 0;
        if (ms && ttl > 60_000) push("feed", keys.feedKey(ms, id, what), null, 4, ttl);
      }
    }
    // Stable sorts: a base's later `id_seq` value stays after its earlier ones.
    for (const family of Object.values(families)) {
      for (const m of family.sort((a, b) => compareKeys(a.key, b.key))) {
        if (n.mutations >= 990 || n.keys + m.keyBytes > 76_000 || n.total + m.bytes > 760_000) {
          await flush();
        }
        op.set(m.key, m.value, m.expireIn === undefined ? undefined : { expireIn: m.expireIn });
        n.mutations++, n.keys += m.keyBytes, n.total += m.bytes;
      }
    }
  });
  await flush();
  await settle();
  return { ...filled, commits, ms: performance.now() - t0 };
}

// ---------------------------------------------------------------------------------------
// The PostgreSQL rows

/**
 * A fresh database holding the sessions, the store opened on it for reading. The store makes
 * the schema; the rows go in as it writes them, 10,000 to a statement, the secondary indexes
 * dropped meanwhile and rebuilt after; then the id counters of every base, VACUUM ANALYZE.
 */
async function fillPostgres(generate: Generate) {
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
    let inFlight: Promise<unknown> = Promise.resolve();
    const filled = await generate(async (chunk) => {
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
    const tableMb = Math.round(Number(size.table_mb));
    const indexMb = Math.round(Number(size.index_mb));
    return {
      db,
      store: await openPostgresStore(parsePostgresUrl(db.url), { readOnly: true }),
      filled: { ...filled, ms, commits: statements, tableMb, indexMb },
    };
  } catch (error) {
    await db.drop().catch(() => {});
    throw error;
  }
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
function flatten(plan: Plan, depth = 0, out: PlanNode[] = []): PlanNode[] {
  const n = (key: string, or = 0) => Number(plan[key] ?? or);
  out.push({
    depth,
    node: `${plan["Node Type"]}${plan["Scan Direction"] === "Backward" ? " Backward" : ""}`,
    on: (plan["Index Name"] ?? plan["Relation Name"] ?? plan["CTE Name"] ?? null) as string | null,
    rows: n("Actual Rows"),
    loops: n("Actual Loops"),
    removed: n("Rows Removed by Filter") * n("Actual Loops", 1),
    hit: n("Shared Hit Blocks"),
    read: n("Shared Read Blocks"),
  });
  for (const child of plan.Plans ?? []) flatten(child, depth + 1, out);
  return out;
}

/**
 * EXPLAIN (ANALYZE, BUFFERS) of the statements one listing page runs in the store: listSql's
 * `page` and, when filters share no index, its `edge`; or `store.get`'s.
 */
async function explain(db: PgDatabase, filter: SessionFilter | { get: string }, scanLimit: number) {
  const statements: { statement: "page" | "edge" | "get"; text: string; values: unknown[] }[] = [];
  if ("get" in filter) {
    const text = "SELECT record FROM session_buddy.sessions WHERE session_id = $1";
    statements.push({ statement: "get", text, values: [filter.get] });
  } else {
    const sql = listSql(filter, null, Date.now() - STALE_AFTER_MS, PAGE, scanLimit);
    statements.push({ statement: "page", text: sql.page, values: sql.values });
    if (sql.edge) statements.push({ statement: "edge", text: sql.edge, values: sql.edgeValues });
  }
  const out = [];
  for (const s of statements) {
    const [row] = await db.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${s.text}`, s.values);
    const doc = (row?.["QUERY PLAN"] as { Plan: Plan; "Execution Time": number }[])[0]!;
    const nodes = flatten(doc.Plan);
    // The top node's buffers include its children's; rows looked at by the scans of the table.
    const sessions = (x: PlanNode) => x.on === "sessions" || (x.on ?? "").startsWith("sessions_");
    out.push({
      statement: s.statement,
      nodes,
      ms: doc["Execution Time"],
      hit: nodes[0]!.hit,
      read: nodes[0]!.read,
      seqScanOnSessions: nodes.some((x) => x.node === "Seq Scan" && x.on === "sessions"),
      sort: nodes.some((x) => x.node.includes("Sort")),
      limitOnTop: nodes[0]!.node === "Limit",
      indexes: nodes.filter((x) => x.node.includes("Index")).map((x) => x.on!),
      visited: nodes.filter((x) =>
        x.node.includes("Scan") && !x.node.startsWith("CTE") && sessions(x)
      )
        .reduce((a, x) => a + x.rows * Math.max(1, x.loops) + x.removed, 0),
    });
  }
  return out;
}

/** A plan on one line: `Limit 51 > Index Scan Backward sessions_by_start 51`, children in [..; ..]. */
function renderPlan(nodes: PlanNode[], i = 0): { text: string; next: number } {
  const n = nodes[i]!;
  let text = `${n.node}${n.on ? ` ${n.on}` : ""} ${n.rows}${n.loops > 1 ? `x${n.loops}` : ""}${
    n.removed ? ` (-${n.removed})` : ""
  }`;
  const children: string[] = [];
  let j = i + 1;
  while (j < nodes.length && nodes[j]!.depth > n.depth) {
    const child = renderPlan(nodes, j);
    children.push(child.text);
    j = child.next;
  }
  if (children.length === 1) text += ` > ${children[0]}`;
  else if (children.length > 1) text += ` > [${children.join("; ")}]`;
  return { text, next: j };
}

/**
 * Whether the large store's plans are O(page): an index under a Limit, no scan of the table
 * (`get`: one primary-key lookup); and what else they show (another index walked, a sort).
 */
function judge(filter: SessionFilter | null, large: Awaited<ReturnType<typeof explain>>) {
  const own = !filter
    ? "sessions_pkey"
    : filter.component_name !== undefined
    ? "sessions_by_component"
    : filter.hostname !== undefined
    ? "sessions_by_host"
    : filter.username !== undefined
    ? "sessions_by_user"
    : filter.status !== "all"
    ? "sessions_by_status"
    : "sessions_by_start";
  const notes: string[] = [];
  for (const e of large) {
    if (e.statement !== "get" && !e.indexes.includes(own)) {
      const walks = e.indexes.join(", ");
      notes.push(
        `${e.statement} walks ${walks} and filters, not ${own} (${e.visited} rows looked at)`,
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

// ---------------------------------------------------------------------------------------
// Measurement: one phase per operation, small and large taking turns

interface Side {
  which: Which;
  store: SessionStore;
  filled: Filled;
  pick: () => number;
}
const SINCE = nowMs - WEEK_MS;
const OPERATIONS: [string, SessionFilter | null][] = [
  ["list unfiltered", { status: "all" }],
  ["list component", { status: "all", component_name: TOP.component }],
  ["list hostname", { status: "all", hostname: TOP.host }],
  ["list username", { status: "all", username: TOP.user }],
  ["list status=active", { status: "active" }],
  ["list status=ended", { status: "ended" }],
  ["list since 7d", { status: "all", sinceMs: SINCE }],
  ["list component+since 7d", { status: "all", component_name: TOP.component, sinceMs: SINCE }],
  ["get_session", null],
];

/** Times one operation on both stores (median µs), alternating which goes first. */
async function measure(name: string, filter: SessionFilter | null, sides: Side[]) {
  const [us, rows] = [{ small: 0, large: 0 }, { small: 0, large: 0 }];
  await b.phase({
    name,
    measures: "median µs of one call on each store",
    rounds: reps,
    warmupRounds: o.warmup,
    alternate: true,
    settle: false,
    setup: () => sides,
    label: (s) => s.which,
    async run(s) {
      const [t, now] = [performance.now(), Date.now()];
      if (filter) {
        const page = await s.store.list(filter, PAGE, null, now, STALE_AFTER_MS);
        rows[s.which] = page.sessions.length;
      } else {
        const record = await s.store.get(s.filled.sampleIds[s.pick()]!);
        if (!record) throw new Error("get_session: a filled id was not found");
        viewOf(record, now, STALE_AFTER_MS);
        rows[s.which] = 1;
      }
      const ms = performance.now() - t;
      return { latencies: [ms * 1000], calls: 1, ms };
    },
    done: (which, s) => us[which as Which] = median(s.latencies),
  });
  const ratio = us.large / us.small;
  console.error(`  ${name}: ${Math.round(us.small)} µs vs ${Math.round(us.large)} µs`);
  return {
    op: name,
    small_us: Math.round(us.small),
    large_us: Math.round(us.large),
    ratio: Math.round(ratio * 100) / 100,
    small_rows: rows.small,
    large_rows: rows.large,
    pass: ratio <= TARGET_RATIO,
  };
}

/** `session_stats` over the last day exactly as the tool runs it, five times. */
async function statsLastDay({ store, filled: f }: Side) {
  const runs: { records: number; ms: number }[] = [];
  for (let i = 0; i < 5; i++) {
    const [t, stats] = [performance.now(), new StatsAccumulator("component")];
    let records = 0;
    for await (const r of store.range(nowMs - DAY_MS, nowMs + 1)) {
      stats.add(viewOf(r, Date.now(), STALE_AFTER_MS));
      records++;
    }
    stats.result();
    runs.push({ records, ms: performance.now() - t });
  }
  const [ms, { records }] = [median(runs.map((r) => r.ms)), runs[0]!];
  return {
    records,
    started_last_day: f.startedLastDay,
    store_sessions: f.sessions,
    ms: Math.round(ms * 10) / 10,
    us_per_record: records ? Math.round((ms * 1000 / records) * 10) / 10 : 0,
    only_that_day: runs.every((r) => r.records === f.startedLastDay),
  };
}

/**
 * One store kind: both sides filled by `open` (into `opened`, for the caller to close), every
 * operation timed on both, `session_stats` over the last day on both, and the table.
 */
async function half<T extends { store: SessionStore; filled: Filled }>(
  label: string,
  open: (generate: Generate) => Promise<T>,
  opened: T[],
  detail: (f: Filled) => string,
  title: (large: T) => Promise<string> | string,
) {
  for (const [which, n, seed] of SIDES) {
    console.error(`bench: filling a ${label} store with ${n} sessions (${which})`);
    const t = await open((write) => generate(n, seed, which, write));
    opened.push(t);
    const s = (t.filled.ms / 1000).toFixed(1);
    console.error(`bench: ${which} filled in ${s} s (${detail(t.filled)})`);
  }
  const pickRand = rng(seed + (label === "Deno KV" ? 2 : 3));
  const sides = opened.map((t, i): Side => ({
    which: SIDES[i]![0],
    ...t,
    pick: () => Math.floor(pickRand() * t.filled.sampleIds.length),
  }));
  console.error(`bench: measuring ${label} (${o.warmup} warm-up + ${reps} runs per op)`);
  const results = [];
  for (const [name, filter] of OPERATIONS) results.push(await measure(name, filter, sides));
  const [small, large] = [await statsLastDay(sides[0]!), await statsLastDay(sides[1]!)];
  const stats = { small, large, pass: large.only_that_day && small.only_that_day };

  console.log(
    `\n${await title(opened[1]!)}: ${o.small} vs ${o.sessions} sessions, page ${PAGE}, ` +
      `median of ${reps} (interleaved)\n`,
  );
  const rows = results.map((r) => [
    r.op,
    String(r.small_us),
    String(r.large_us),
    r.ratio.toFixed(2),
    `≤ ${TARGET_RATIO}`,
    r.pass ? "PASS" : "FAIL",
  ]);
  const header = ["operation", "small µs", "large µs", "ratio", "target", "result"];
  console.log(table(header, rows).join("\n"));
  const short = results.filter((r) => r.op !== "get_session" && r.small_rows < PAGE);
  if (short.length > 0) {
    console.log(
      `\nnote: a page on the small store held fewer than ${PAGE} sessions for: ${
        short.map((r) => `${r.op} (${r.small_rows})`).join(", ")
      }; those ratios compare unequal pages.`,
    );
  }
  console.log(
    `\nsession_stats last day: large store read ${large.records} records for ` +
      `${large.started_last_day} started that day (of ${large.store_sessions}) in ${large.ms} ` +
      `ms (${large.us_per_record} µs/record); small store ${small.records}/` +
      `${small.started_last_day} in ${small.ms} ms (${small.us_per_record} µs/record) -> ${
        stats.pass ? "PASS (scans only that day)" : "FAIL (read other days' records)"
      }`,
  );
  const [s, l] = [opened[0]!.filled, opened[1]!.filled];
  const fill = <E>(extra: E) => ({
    small_ms: Math.round(s.ms),
    large_ms: Math.round(l.ms),
    ...extra,
    large_ended: l.ended,
    large_last_week: l.startedLastWeek,
    large_top: l.top,
    small_top: s.top,
  });
  return { large: l, results, stats, fill, pass: results.every((r) => r.pass) && stats.pass };
}

// ---------------------------------------------------------------------------------------
// The two halves

async function runKv(dir: string) {
  const opened: { store: SessionStore; filled: Filled }[] = [];
  try {
    const m = await half(
      "Deno KV",
      async (generate) => {
        const path = `${dir}/${opened.length ? "large" : "small"}.kv`;
        const filling = await openKvStore({ kind: "file", path });
        const filled = await fillKv(filling.kv, generate);
        await filling.store.close();
        // Reopened for reading, as a server would.
        const store = (await openKvStore({ kind: "file", path }, { readOnly: true })).store;
        return { store, filled };
      },
      opened,
      (f) => `${f.commits} commits, ${Math.round(f.sessions / (f.ms / 1000))} sessions/s`,
      () => "list/get scale on Deno KV",
    );
    return { ...m, fill: m.fill({ large_commits: m.large.commits }) };
  } finally {
    for (const s of opened) await s.store.close();
  }
}

async function runPostgres() {
  const missing = pgMissing();
  if (missing) {
    console.log(`\nPostgreSQL: skipped: ${missing}`);
    return { skipped: missing };
  }
  const sides: Awaited<ReturnType<typeof fillPostgres>>[] = [];
  try {
    let cluster = null;
    const m = await half(
      "PostgreSQL",
      fillPostgres,
      sides,
      (f) => `${f.tableMb} MB table, ${f.indexMb} MB indexes`,
      async ({ db }) => {
        const [s = {}] = await db.query(
          `SELECT current_setting('server_version') AS version,
                  current_setting('shared_buffers') AS shared_buffers,
                  current_setting('fsync') AS fsync`,
        );
        const { host, port } = (await pg())!;
        const shared_buffers = String(s.shared_buffers);
        cluster = {
          version: String(s.version),
          host,
          port,
          shared_buffers,
          fsync: String(s.fsync),
        };
        return `list/get scale on PostgreSQL ${s.version} (${host}:${port}, ` +
          `shared_buffers=${shared_buffers})`;
      },
    );
    // The plans of the statements the store runs, and of a listing with two filters that
    // share no index (its page walks at most the store's default scan limit).
    const scanLimit = Math.max(1000, PAGE * 20);
    const combined = { status: "all", component_name: TOP.component, hostname: TOP.host } as const;
    const explained = [];
    for (const [op, filter] of [...OPERATIONS, ["list component+hostname", combined] as const]) {
      const of = (side: (typeof sides)[number]) =>
        explain(side.db, filter ?? { get: side.filled.sampleIds[0]! }, scanLimit);
      const [small, large] = [await of(sides[0]!), await of(sides[1]!)];
      explained.push({ op, small, large, ...judge(filter, large), counted: filter !== combined });
    }
    console.log(
      `\nEXPLAIN (ANALYZE, BUFFERS) of the statements the store runs (listSql; page ${PAGE}, ` +
        `walk limit ${scanLimit}); buffers = shared hit/read of the whole statement; rows looked ` +
        "at = rows the scans of the table and its indexes produced or filtered out; a plan as " +
        "Node index rows (-removed by filter) > child, children of one node in [..; ..]:",
    );
    const pad = (text: string | number, width: number) => String(text).padStart(width);
    for (const e of explained) {
      const verdict = e.plan_ok ? "" : "   <- NOT an index walk under a Limit on the large store";
      const extra = e.counted ? "" : " (extra: two filters that share no index; not a target)";
      console.log(`  ${e.op}${extra}${verdict}${e.notes.length ? `; ${e.notes.join("; ")}` : ""}`);
      for (const [n, list] of [[o.small, e.small], [o.sessions, e.large]] as const) {
        for (const x of list) {
          console.log(
            `    ${pad(n, 8)} ${x.statement.padEnd(4)} ${pad(x.ms.toFixed(3), 7)} ms  ` +
              `hit ${pad(x.hit, 5)} read ${pad(x.read, 5)}  rows looked at ${pad(x.visited, 6)}  ` +
              (x.nodes.length ? renderPlan(x.nodes).text : ""),
          );
        }
      }
    }
    return {
      cluster,
      fill: m.fill({ large_table_mb: m.large.tableMb, large_index_mb: m.large.indexMb }),
      ops: m.results,
      stats: m.stats,
      explain: explained,
      pass: m.pass && explained.every((e) => e.plan_ok || !e.counted),
    };
  } finally {
    for (const s of sides) {
      await s.store.close().catch(() => {});
      if (b.flag("--keep")) console.error(`bench: kept database ${s.db.urlWithoutPassword}`);
      else await s.db.drop().catch(() => {});
    }
  }
}

const dir = await Deno.makeTempDir({ prefix: "session-buddy-bench-" });
console.error(`bench: stores in ${dir}`);
try {
  const kv = store === "postgres" ? null : await runKv(dir);
  const postgres = store === "kv" ? null : await runPostgres();
  const pgPart = !postgres || "skipped" in postgres ? null : postgres;
  const pass = (kv?.pass ?? true) && (pgPart?.pass ?? true);
  const secs = (ms: number) => (ms / 1000).toFixed(1);
  if (kv) {
    console.log(
      `\nfill (Deno KV): small ${secs(kv.fill.small_ms)} s, large ${secs(kv.fill.large_ms)} s ` +
        `(${kv.fill.large_commits} commits)`,
    );
  }
  if (pgPart) {
    const f = pgPart.fill;
    console.log(
      `fill (PostgreSQL): small ${secs(f.small_ms)} s, large ${secs(f.large_ms)} s ` +
        `(${f.large_table_mb} MB table, ${f.large_index_mb} MB indexes)`,
    );
  }
  console.log(`overall: ${pass ? "PASS" : "FAIL"}\n`);
  await b.finish({
    page: PAGE,
    reps,
    sessions: { small: o.small, large: o.sessions },
    stores: store,
    fill: kv?.fill ?? null,
    ops: kv?.results ?? [],
    stats: kv?.stats ?? null,
    postgres,
    pass,
  });
} finally {
  if (b.flag("--keep")) console.error(`bench: kept stores in ${dir}`);
  else await Deno.remove(dir, { recursive: true });
}
