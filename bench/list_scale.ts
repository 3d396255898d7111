/**
 * `deno task bench:list`: the reading tools at scale (issue 3, item 5; PostgreSQL: issue 12,
 * item 2). One `list_sessions` page of 50 (unfiltered and with each filter) and `get_session`
 * are timed through the real store on a small store (default 1,000 sessions) and a large one
 * (default 1,000,000) of the same workload, the two taking turns. Targets: large/small at most
 * 2 per operation, and `session_stats` over the last day reading only that day's sessions.
 * One seeded generator makes the sessions with the store's own record functions: components,
 * hosts and users drawn with a Zipf-like skew (s = 1.2), 30% started in the last 7 days (so
 * every query fills a page of 50 on the small store too), about half ended. Deno KV stores get
 * the exact key layout `KvSessionStore` writes; PostgreSQL databases (bench/list_scale_pg.ts)
 * the store's rows, and each listing's statements EXPLAINed in both (without PostgreSQL that
 * half skips). 1,000,000 sessions take about 2 GB on Deno KV, 1.2 GB on PostgreSQL.
 *
 *     deno task bench:list [--sessions N] [--small N] [--reps N] [--warmup N] [--seed N]
 *       [--store kv|postgres|all] [--keep]
 *
 * Always exits 0; the last line of stdout is one JSON object with every figure (the
 * PostgreSQL half under `postgres`).
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
import {
  eventKey,
  FEED_TTL_MS,
  feedKey,
  idSeqKey,
  indexKeys,
  sessionKey,
} from "../src/store/kv/keys.ts";
import { openKvStore } from "../src/store/kv/open.ts";
import { Bench, median, table } from "./harness.ts";

const DAY_MS = 24 * 3600 * 1000;
const WEEK_MS = 7 * DAY_MS;
const YEAR_MS = 365 * DAY_MS;
/** The server's default `--stale-after` (12h). */
const STALE_AFTER_MS = 12 * 3600 * 1000;
const PAGE = 50;
const TARGET_RATIO = 2;
const [COMPONENTS, HOSTS, USERS, ZIPF_S] = [200, 2000, 5000, 1.2];
const componentName = (i: number) => `svc-${String(i + 1).padStart(3, "0")}`;
const hostName = (i: number) => `host-${String(i + 1).padStart(4, "0")}.dc${i % 4}.example.net`;
const userName = (i: number) => `user${String(i + 1).padStart(4, "0")}`;
/** The filter values measured: the most used of each (rank 1 of the skew). */
const TOP = { component: componentName(0), host: hostName(0), user: userName(0) };

const b = new Bench("list_scale", [], [], {
  "--sessions": 1_000_000,
  "--small": 1000,
  "--reps": 200,
  "--warmup": 20,
  "--seed": 42,
  "--store": "all",
  "--keep": false,
});
const o = {
  store: b.str("--store"),
  sessions: b.num("--sessions"),
  small: b.num("--small"),
  reps: b.num("--reps"),
  warmup: b.num("--warmup"),
  seed: b.num("--seed"),
  keep: b.flag("--keep"),
};
if (!["kv", "postgres", "all"].includes(o.store)) {
  console.error(`--store takes kv, postgres or all, got '${o.store}'`);
  Deno.exit(2);
}
type Which = "small" | "large";
/** "Now" for every fill and measurement; each side's size and seed. */
const nowMs = Date.now();
const SIDES = [["small", o.small, o.seed], ["large", o.sessions, o.seed + 1]] as const;

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

/** Samples ranks 0..n-1 with probability proportional to 1/(rank+1)^s. */
function zipf(n: number, s: number): (u: number) => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / (i + 1) ** s;
  for (let i = 0; i < n; i++) cdf[i]! /= sum;
  return (u) => {
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** One generated session: its record, and what the Deno KV layout also keys it by. */
export interface Made {
  record: SessionRecord;
  base: string;
  seq: number;
  at: number;
  endAt: number | null;
}
/** What a fill made, for checks and for `get_session` ids (commits: statements on PG). */
export interface Filled {
  sessions: number;
  ms: number;
  commits: number;
  ended: number;
  startedLastDay: number;
  startedLastWeek: number;
  top: { component: number; host: number; user: number };
  sampleIds: string[];
}
export type Generate = (write: (chunk: Made[]) => Promise<void>) => Promise<Filled>;

/** Sessions generated and written per chunk; bounds memory, and sorting within it. */
const CHUNK = 100_000;

/**
 * Makes `n` sessions from `seed` in start order, as the store's `start` (then `end` for ended
 * ones, `heartbeat` for live ones) records them, and hands them to `write` a chunk at a time.
 * Event ids are UUIDs v4 whose first 8 hex digits count up: inserted in key order, they cost
 * a tenth of random ones (only `track_session_start` reads them). `ms`, `commits`: the
 * writer's.
 */
async function generate(
  n: number,
  seed: number,
  label: string,
  write: (chunk: Made[]) => Promise<void>,
): Promise<Filled> {
  const t0 = performance.now();
  const rand = rng(seed);
  const [pickComponent, pickHost, pickUser] = [COMPONENTS, HOSTS, USERS].map((k) =>
    zipf(k, ZIPF_S)
  );
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
  const out: Filled = {
    sessions: n,
    ms: 0,
    commits: 0,
    ended: 0,
    startedLastDay: 0,
    startedLastWeek: 0,
    top: { component: 0, host: 0, user: 0 },
    sampleIds: [],
  };
  // Ids: `{component}-{YYYYMMDD}-{HHMMSS}`, then `-2`, `-3`... within one second.
  let second = -1;
  const seqOfBase = new Map<string, number>();
  for (let from = 0; from < n; from += CHUNK) {
    const chunk: Made[] = [];
    for (let i = from; i < Math.min(n, from + CHUNK); i++) {
      const at = times[i]!;
      const [c, h, u] = [pickComponent!(rand()), pickHost!(rand()), pickUser!(rand())];
      if (c === 0) out.top.component++;
      if (h === 0) out.top.host++;
      if (u === 0) out.top.user++;
      if (at >= nowMs - DAY_MS) out.startedLastDay++;
      if (at >= nowMs - WEEK_MS) out.startedLastWeek++;
      const [username, component] = [userName(u), componentName(c)];
      const counter = (seed * 16_000_000 + i).toString(16).padStart(8, "0");
      const event: SessionStartEvent = {
        event_version: "1.0",
        event_id: `${counter}-${hex(4)}-4${hex(3)}-${"89ab"[Math.floor(rand() * 4)]}${hex(3)}-${
          hex(6)
        }${hex(6)}`,
        event_type: "session_start",
        component_name: component,
        shell_type: "MahavishnuShell",
        timestamp: new Date(at).toISOString(),
        pid: 1 + Math.floor(rand() * 4_000_000),
        user: { username, home: `/home/${username}` },
        hostname: hostName(h),
        environment: {
          python_version: "3.13.1",
          platform: "Linux-6.8.0-x86_64",
          cwd: `/home/${username}/projects/${component}`,
        },
        metadata: rand() < 0.5 ? {} : { ticket: `OPS-${Math.floor(rand() * 99999)}` },
      };
      const s = Math.floor(at / 1000);
      if (s !== second) second = s, seqOfBase.clear();
      const base = baseSessionId(event);
      const seq = (seqOfBase.get(base) ?? 0) + 1;
      seqOfBase.set(base, seq);
      // The tracker's clock: a few milliseconds after the shell's.
      let record = startRecord(event, candidateId(base, seq), null, new Date(at + 3));
      // About half end (client; durations log-normal around 20 minutes), the rest stay alive.
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
    const secs = (performance.now() - t0) / 1000;
    const done = from + chunk.length;
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
 * Commits mutations in atomics as large as Deno KV allows (1000 mutations, 80 KiB of keys,
 * 800 KiB in all: flushed below them), one commit in flight while the next is built.
 */
class BatchWriter {
  #op: Deno.AtomicOperation;
  #n = { mutations: 0, keys: 0, total: 0 };
  #inFlight: Promise<Deno.KvCommitResult | Deno.KvCommitError> | null = null;
  commits = 0;
  constructor(readonly kv: Deno.Kv) {
    this.#op = kv.atomic();
  }
  async add(m: Mutation): Promise<void> {
    const n = this.#n;
    if (n.mutations >= 990 || n.keys + m.keyBytes > 76_000 || n.total + m.bytes > 760_000) {
      await this.flush();
    }
    this.#op.set(m.key, m.value, m.expireIn === undefined ? undefined : { expireIn: m.expireIn });
    n.mutations++, n.keys += m.keyBytes, n.total += m.bytes;
  }
  async flush(): Promise<void> {
    if (this.#n.mutations === 0) return;
    const commit = this.#op.commit();
    await this.settle();
    this.#inFlight = commit;
    this.commits++;
    this.#op = this.kv.atomic();
    this.#n = { mutations: 0, keys: 0, total: 0 };
  }
  async settle(): Promise<void> {
    const res = await this.#inFlight;
    this.#inFlight = null;
    if (res && !res.ok) throw new Error("a fill commit failed its checks");
  }
}

/**
 * Writes the sessions into `kv` exactly as `KvSessionStore` leaves them. For speed a chunk's
 * keys are written family by family, each sorted in key order (SQLite inserts in key order
 * cost a tenth of random ones).
 */
async function fillKv(kv: Deno.Kv, generate: Generate): Promise<Filled> {
  const t0 = performance.now();
  const writer = new BatchWriter(kv);
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
      push("session", sessionKey(id), bytes, bytes.length);
      push("event", eventKey(record.event_id), { session_id: id }, id.length + 30);
      push("seq", idSeqKey(base), seq, 12);
      for (const key of indexKeys(record)) push("index", key, null, 4);
      // Change-feed entries still within their time to live.
      for (const [ms, what] of [[at + 3, "start"], [endAt && endAt + 5, "end"]] as const) {
        const ttl = ms ? ms + FEED_TTL_MS - realNow : 0;
        if (ms && ttl > 60_000) push("feed", feedKey(ms, id, what), null, 4, ttl);
      }
    }
    // Stable sorts: a base's later `id_seq` value stays after its earlier ones.
    for (const family of Object.values(families)) {
      for (const m of family.sort((a, b) => compareKeys(a.key, b.key))) await writer.add(m);
    }
  });
  await writer.flush();
  await writer.settle();
  return { ...filled, commits: writer.commits, ms: performance.now() - t0 };
}

// ---------------------------------------------------------------------------------------
// Measurement: one phase per operation, small and large taking turns

interface Side {
  which: Which;
  store: SessionStore;
  filled: Filled;
  pick: () => number;
}

/** The operations timed on every store: a page of each listing, and (no filter) `get_session`. */
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

/** Runs one operation; the sessions it returned. */
async function run(filter: SessionFilter | null, side: Side): Promise<number> {
  const now = Date.now();
  if (filter) {
    return (await side.store.list(filter, PAGE, null, now, STALE_AFTER_MS)).sessions.length;
  }
  const record = await side.store.get(side.filled.sampleIds[side.pick()]!);
  if (!record) throw new Error("get_session: a filled id was not found");
  viewOf(record, now, STALE_AFTER_MS);
  return 1;
}

/** Times one operation on both stores (median µs), alternating which goes first. */
async function measure(name: string, filter: SessionFilter | null, sides: Side[]) {
  const us = { small: 0, large: 0 };
  const rows = { small: 0, large: 0 };
  await b.phase({
    name,
    measures: "median µs of one call on each store",
    rounds: o.reps,
    warmupRounds: o.warmup,
    alternate: true,
    settle: false,
    setup: () => sides,
    label: (s) => s.which,
    async run(s) {
      const t = performance.now();
      rows[s.which] = await run(filter, s);
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
async function statsLastDay(side: Side) {
  const runs: { records: number; ms: number }[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const stats = new StatsAccumulator("component");
    let records = 0;
    for await (const r of side.store.range(nowMs - DAY_MS, nowMs + 1)) {
      stats.add(viewOf(r, Date.now(), STALE_AFTER_MS));
      records++;
    }
    stats.result();
    runs.push({ records, ms: performance.now() - t });
  }
  const ms = median(runs.map((r) => r.ms));
  const { records } = runs[0]!;
  const f = side.filled;
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
 * One store kind: both sides filled and opened by `open` (into `opened`, for the caller to
 * close), every operation timed on both, then `session_stats` over the last day on both;
 * the table printed under the title `title` gives once the stores are filled.
 */
async function half<T extends { store: SessionStore; filled: Filled }>(
  label: string,
  pickSeed: number,
  open: (which: Which, generate: Generate) => Promise<T>,
  opened: T[],
  detail: (f: T) => string,
  title: (large: T) => Promise<string> | string,
) {
  for (const [which, n, seed] of SIDES) {
    console.error(`bench: filling a ${label} store with ${n} sessions (${which})`);
    const t = await open(which, (write) => generate(n, seed, which, write));
    opened.push(t);
    console.error(`bench: ${which} filled in ${(t.filled.ms / 1000).toFixed(1)} s (${detail(t)})`);
  }
  const pickRand = rng(pickSeed);
  const sides = opened.map((t, i): Side => ({
    which: SIDES[i]![0],
    store: t.store,
    filled: t.filled,
    pick: () => Math.floor(pickRand() * t.filled.sampleIds.length),
  }));
  console.error(`bench: measuring ${label} (${o.warmup} warm-up + ${o.reps} runs per op)`);
  const results = [];
  for (const [name, filter] of OPERATIONS) results.push(await measure(name, filter, sides));
  const [small, large] = [await statsLastDay(sides[0]!), await statsLastDay(sides[1]!)];
  const stats = { small, large, pass: large.only_that_day && small.only_that_day };

  console.log(
    `\n${await title(opened[1]!)}: ${o.small} vs ${o.sessions} sessions, page ${PAGE}, ` +
      `median of ${o.reps} (interleaved)\n`,
  );
  const rows = results.map((r) => [
    r.op,
    String(r.small_us),
    String(r.large_us),
    r.ratio.toFixed(2),
    `≤ ${TARGET_RATIO}`,
    r.pass ? "PASS" : "FAIL",
  ]);
  console.log(
    table(["operation", "small µs", "large µs", "ratio", "target", "result"], rows).join("\n"),
  );
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
  return {
    large: opened[1]!,
    results,
    stats,
    fill,
    pass: results.every((r) => r.pass) && stats.pass,
  };
}

// ---------------------------------------------------------------------------------------
// The two halves

/** The Deno KV half: two stores filled with the exact key layout, reopened for reading. */
async function runKv(dir: string) {
  const opened: { store: SessionStore; filled: Filled }[] = [];
  try {
    const m = await half(
      "Deno KV",
      o.seed + 2,
      async (which, generate) => {
        const path = `${dir}/${which}.kv`;
        const filling = await openKvStore({ kind: "file", path });
        const filled = await fillKv(filling.kv, generate);
        await filling.store.close();
        // Reopened for reading, as a server would.
        return {
          store: (await openKvStore({ kind: "file", path }, { readOnly: true })).store,
          filled,
        };
      },
      opened,
      (t) =>
        `${t.filled.commits} commits, ${
          Math.round(t.filled.sessions / (t.filled.ms / 1000))
        } sessions/s`,
      () => "list/get scale on Deno KV",
    );
    return { ...m, fill: m.fill({ large_commits: m.large.filled.commits }) };
  } finally {
    for (const s of opened) await s.store.close();
  }
}

/** The PostgreSQL half, and EXPLAIN (ANALYZE, BUFFERS) of each listing's statements. */
async function runPostgres() {
  const pgs = await import("./list_scale_pg.ts");
  const missing = pgs.pgMissing();
  if (missing) {
    console.log(`\nPostgreSQL: skipped: ${missing}`);
    return { skipped: missing };
  }
  const sides: Awaited<ReturnType<typeof pgs.postgresSide>>[] = [];
  try {
    let cluster: Awaited<ReturnType<typeof pgs.clusterFacts>> | null = null;
    const m = await half(
      "PostgreSQL",
      o.seed + 3,
      (_which, generate) => pgs.postgresSide(generate),
      sides,
      (s) => `${s.filled.tableMb} MB table, ${s.filled.indexMb} MB indexes`,
      async (large) => {
        cluster = await pgs.clusterFacts(large);
        return `list/get scale on PostgreSQL ${cluster.version} (${cluster.host}:${cluster.port}, ` +
          `shared_buffers=${cluster.shared_buffers})`;
      },
    );
    // The plans of the very statements the store runs, in both databases, and of a listing
    // with two filters that share no index (its page walks at most the scan limit).
    const scanLimit = Math.max(1000, PAGE * 20); // the store's default walk for a page
    const combined = { status: "all", component_name: TOP.component, hostname: TOP.host } as const;
    const explain = [];
    for (const [op, filter] of [...OPERATIONS, ["list component+hostname", combined] as const]) {
      const of = (side: (typeof sides)[number]) =>
        pgs.explainListing(
          side.db,
          filter ?? { get: side.filled.sampleIds[0]! },
          Date.now() - STALE_AFTER_MS,
          PAGE,
          scanLimit,
        );
      const l = await of(sides[1]!);
      explain.push({
        op,
        small: await of(sides[0]!),
        large: l,
        ...pgs.judge(filter, l),
        counted: filter !== combined,
      });
    }
    console.log(
      `\nEXPLAIN (ANALYZE, BUFFERS) of the statements the store runs (listSql; page ${PAGE}, ` +
        `walk limit ${scanLimit}); buffers = shared hit/read of the whole statement; rows looked ` +
        "at = rows the scans of the table and its indexes produced or filtered out; a plan as " +
        "Node index rows (-removed by filter) > child, children of one node in [..; ..]:",
    );
    const pad = (text: string | number, width: number) => String(text).padStart(width);
    for (const e of explain) {
      const verdict = e.plan_ok ? "" : "   <- NOT an index walk under a Limit on the large store";
      const extra = e.counted ? "" : " (extra: two filters that share no index; not a target)";
      console.log(`  ${e.op}${extra}${verdict}${e.notes.length ? `; ${e.notes.join("; ")}` : ""}`);
      for (const [n, list] of [[o.small, e.small], [o.sessions, e.large]] as const) {
        for (const x of list) {
          console.log(
            `    ${pad(n, 8)} ${x.statement.padEnd(4)} ${pad(x.ms.toFixed(3), 7)} ms  ` +
              `hit ${pad(x.hit, 5)} read ${pad(x.read, 5)}  rows looked at ${pad(x.visited, 6)}  ` +
              pgs.renderPlan(x.nodes),
          );
        }
      }
    }
    return {
      cluster,
      fill: m.fill({
        large_table_mb: m.large.filled.tableMb,
        large_index_mb: m.large.filled.indexMb,
      }),
      ops: m.results,
      stats: m.stats,
      explain,
      pass: m.pass && explain.every((e) => e.plan_ok || !e.counted),
    };
  } finally {
    for (const s of sides) {
      await s.store.close().catch(() => {});
      if (o.keep) console.error(`bench: kept database ${s.db.urlWithoutPassword}`);
      else await s.db.drop().catch(() => {});
    }
  }
}

const dir = await Deno.makeTempDir({ prefix: "session-buddy-bench-" });
console.error(`bench: stores in ${dir}`);
try {
  const kv = o.store === "postgres" ? null : await runKv(dir);
  const postgres = o.store === "kv" ? null : await runPostgres();
  const pg = !postgres || "skipped" in postgres ? null : postgres;
  const pass = (kv?.pass ?? true) && (pg?.pass ?? true);
  const secs = (ms: number) => (ms / 1000).toFixed(1);
  if (kv) {
    console.log(
      `\nfill (Deno KV): small ${secs(kv.fill.small_ms)} s, large ${secs(kv.fill.large_ms)} s ` +
        `(${kv.fill.large_commits} commits)`,
    );
  }
  if (pg) {
    console.log(
      `fill (PostgreSQL): small ${secs(pg.fill.small_ms)} s, large ${secs(pg.fill.large_ms)} s ` +
        `(${pg.fill.large_table_mb} MB table, ${pg.fill.large_index_mb} MB indexes)`,
    );
  }
  console.log(`overall: ${pass ? "PASS" : "FAIL"}\n`);
  await b.finish({
    page: PAGE,
    reps: o.reps,
    sessions: { small: o.small, large: o.sessions },
    stores: o.store,
    fill: kv?.fill ?? null,
    ops: kv?.results ?? [],
    stats: kv?.stats ?? null,
    postgres,
    pass,
  });
} finally {
  if (o.keep) console.error(`bench: kept stores in ${dir}`);
  else await Deno.remove(dir, { recursive: true });
}
