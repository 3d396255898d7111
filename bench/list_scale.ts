/**
 * Scale benchmark for the reading tools (issue 3, item 5; PostgreSQL: issue 12, item 2).
 *
 * Fills a small store (default 1,000 sessions) and a large one (default 1,000,000) with the
 * exact key layout `KvSessionStore` writes, then times one `list_sessions` page of 50
 * (unfiltered and with each filter) and `get_session` on both through the same
 * `KvSessionStore` code the tools call, interleaving small and large runs so machine noise
 * falls on both alike. Prints the ratio large/small per operation (target: at most 2) and
 * checks that `session_stats` over the last day reads only that day's sessions.
 *
 * Then the same on PostgreSQL (bench/list_scale_pg.ts): two fresh databases of the cluster
 * tests/helpers/postgres.ts finds or starts, filled in SQL with the same workload and
 * ANALYZEd, the same operations through the real store (`openPostgresStore`, in this
 * process), and `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` of the statements each listing runs
 * (`listSql`, so the very ones the store sends) in both databases: an index gives the order,
 * a Limit stops it, and the buffers touched do not grow with the table. Without PostgreSQL
 * that half says it skipped.
 *
 *     deno run -P=bench bench/list_scale.ts [--sessions N] [--small N] [--reps N]
 *       [--warmup N] [--seed N] [--store kv|postgres|all] [--keep]
 *
 * The KV stores go to a temporary directory that is removed at the end unless `--keep` is
 * given (which keeps the PostgreSQL databases too); 1,000,000 sessions take about 2 GB and
 * fill in about 1.5 minutes on 2 cores on Deno KV, about 1.2 GB and under a minute on
 * PostgreSQL.
 *
 * The store holds the same workload at both sizes: components, hosts and users are drawn
 * with a Zipf-like skew (s = 1.2) and 30% of the sessions started in the last 7 days
 * (the rest over the year before), so every measured query fills a page of 50 on the
 * 1,000-session store too and the ratio compares like with like. About half the sessions
 * ended (client end); the others are alive (a heartbeat in the last minutes).
 *
 * Timings are only compared as ratios inside one run. Always exits 0; the last line
 * of stdout is one JSON object with every figure (the PostgreSQL half under `postgres`).
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
const YEAR_MS = 365 * DAY_MS;
const WEEK_MS = 7 * DAY_MS;
/** The server's default `--stale-after` (12h). */
const STALE_AFTER_MS = 12 * 3600 * 1000;
const PAGE = 50;
const TARGET_RATIO = 2;

const COMPONENTS = 200;
const HOSTS = 2000;
const USERS = 5000;
const ZIPF_S = 1.2;
/** Share of sessions started in the last 7 days; the rest spread over the year before. */
const RECENT_SHARE = 0.3;
const ENDED_SHARE = 0.5;

// Deno KV limits per atomic: 1000 mutations, 80 KiB of keys, 800 KiB of keys and values.
// Flush below them, with the sizes estimated on the generous side.
const MAX_MUTATIONS = 990;
const MAX_KEY_BYTES = 76_000;
const MAX_TOTAL_BYTES = 760_000;

const b = new Bench("list_scale", [], [], {
  "--sessions": 1_000_000,
  "--small": 1000,
  "--reps": 200,
  "--warmup": 20,
  "--seed": 42,
  "--store": "all",
  "--keep": false,
});
/** Which stores to measure (Deno KV, PostgreSQL, or both), and the sizes. */
const store = b.str("--store");
if (!["kv", "postgres", "all"].includes(store)) {
  console.error(`--store takes kv, postgres or all, got '${store}'`);
  Deno.exit(2);
}
const o = {
  store,
  sessions: b.num("--sessions"),
  small: b.num("--small"),
  reps: b.num("--reps"),
  warmup: b.num("--warmup"),
  seed: b.num("--seed"),
  keep: b.flag("--keep"),
};
type Options = typeof o;

// ---------------------------------------------------------------------------------------
// Workload

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

const componentName = (i: number) => `svc-${String(i + 1).padStart(3, "0")}`;
const hostName = (i: number) => `host-${String(i + 1).padStart(4, "0")}.dc${i % 4}.example.net`;
const userName = (i: number) => `user${String(i + 1).padStart(4, "0")}`;

/** The filter values measured: the most used of each (rank 1 of the skew). */
const TOP = { component: componentName(0), host: hostName(0), user: userName(0) };

/** What the fill learnt about a store, for checks and for `get_session` ids. */
interface Filled {
  sessions: number;
  ms: number;
  commits: number;
  ended: number;
  startedLastDay: number;
  startedLastWeek: number;
  top: { component: number; host: number; user: number };
  sampleIds: string[];
}

/** A generous estimate of a key's encoded size (tag, bytes, terminator per part). */
function keyBytes(key: Deno.KvKey): number {
  let n = 4;
  for (const part of key) n += typeof part === "string" ? part.length * 1.1 + 2 : 10;
  return n;
}

/** Deno KV key order for keys of one family (parts of the same types at each position). */
function compareKeys(a: Deno.KvKey, b: Deno.KvKey): number {
  const len = Math.min(a.length, b.length);
  for (let i = 0; i < len; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (typeof x === "number" && typeof y === "number") return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return a.length - b.length;
}

interface Mutation {
  key: Deno.KvKey;
  value: unknown;
  /** Estimated bytes of key plus value. */
  bytes: number;
  keyBytes: number;
  expireIn?: number;
}

/** Key families in the order they are written; each is sorted before writing. */
const FAMILIES = ["session", "event", "id_seq", "index", "feed"] as const;
type Family = typeof FAMILIES[number];

/**
 * Commits mutations in atomics as large as Deno KV allows, one commit in flight while the
 * next is built.
 */
class BatchWriter {
  #op: Deno.AtomicOperation;
  #mutations = 0;
  #keys = 0;
  #total = 0;
  #inFlight: Promise<Deno.KvCommitResult | Deno.KvCommitError> | null = null;
  commits = 0;

  constructor(readonly kv: Deno.Kv) {
    this.#op = kv.atomic();
  }

  async add(m: Mutation): Promise<void> {
    if (
      this.#mutations + 1 > MAX_MUTATIONS || this.#keys + m.keyBytes > MAX_KEY_BYTES ||
      this.#total + m.bytes > MAX_TOTAL_BYTES
    ) {
      await this.flush();
    }
    if (m.expireIn === undefined) this.#op.set(m.key, m.value);
    else this.#op.set(m.key, m.value, { expireIn: m.expireIn });
    this.#mutations++;
    this.#keys += m.keyBytes;
    this.#total += m.bytes;
  }

  async flush(): Promise<void> {
    if (this.#mutations === 0) return;
    const commit = this.#op.commit();
    await this.settle();
    this.#inFlight = commit;
    this.commits++;
    this.#op = this.kv.atomic();
    this.#mutations = this.#keys = this.#total = 0;
  }

  async settle(): Promise<void> {
    if (!this.#inFlight) return;
    const res = await this.#inFlight;
    this.#inFlight = null;
    if (!res.ok) throw new Error("a fill commit failed its checks");
  }
}

/** Sessions generated and written per chunk; bounds memory, and sorting within it. */
const CHUNK = 100_000;

/** A syntactically valid UUID v4 whose first 8 hex digits count up (see `fill`). */
function sequentialUuid(counter: number, rand: () => number): string {
  const hex = (digits: number) =>
    Math.floor(rand() * 16 ** digits).toString(16).padStart(digits, "0");
  const variant = "89ab"[Math.floor(rand() * 4)]!;
  return `${counter.toString(16).padStart(8, "0")}-${hex(4)}-4${hex(3)}-${variant}${hex(3)}-${
    hex(6)
  }${hex(6)}`;
}

/**
 * Writes `n` sessions into `kv` exactly as `KvSessionStore.start` (then `end` for ended
 * ones, `heartbeat` for live ones) would leave them.
 *
 * For speed the keys of a chunk of sessions are written family by family, each sorted in
 * key order, ~990 mutations per atomic: SQLite inserts in key order cost a tenth of random
 * ones. The end state is the same keys and values the store writes. Event ids are valid
 * UUID v4 whose leading digits count up (so `["event", id]` inserts in order too); only
 * `track_session_start` reads them, never the reading tools.
 */
async function fill(
  kv: Deno.Kv,
  n: number,
  nowMs: number,
  seed: number,
  label: string,
): Promise<Filled> {
  const t0 = performance.now();
  const rand = rng(seed);
  const pickComponent = zipf(COMPONENTS, ZIPF_S);
  const pickHost = zipf(HOSTS, ZIPF_S);
  const pickUser = zipf(USERS, ZIPF_S);

  // Start times, oldest first: RECENT_SHARE in the last week, the rest in the year before.
  // The newest is a second before "now", so the last day is full.
  const times = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    times[i] = rand() < RECENT_SHARE
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
  const SAMPLE = 2000;
  const realNow = Date.now();
  const writer = new BatchWriter(kv);

  // Ids: `{component}-{YYYYMMDD}-{HHMMSS}`, then `-2`, `-3`... within one second.
  let second = -1;
  const seqOfBase = new Map<string, number>();
  const report = (done: number) => {
    const secs = (performance.now() - t0) / 1000;
    console.error(
      `  ${label}: ${done}/${n} sessions (${secs.toFixed(0)} s, ${
        Math.round(done / secs)
      }/s, ${writer.commits} commits)`,
    );
  };

  for (let chunkStart = 0; chunkStart < n; chunkStart += CHUNK) {
    const chunkEnd = Math.min(n, chunkStart + CHUNK);
    const families: Record<Family, Mutation[]> = {
      session: [],
      event: [],
      id_seq: [],
      index: [],
      feed: [],
    };
    const push = (
      family: Family,
      key: Deno.KvKey,
      value: unknown,
      valueBytes: number,
      expireIn?: number,
    ) => {
      const kb = keyBytes(key);
      families[family].push({ key, value, keyBytes: kb, bytes: kb + valueBytes + 16, expireIn });
    };

    for (let i = chunkStart; i < chunkEnd; i++) {
      const at = times[i]!;
      const c = pickComponent(rand());
      const h = pickHost(rand());
      const u = pickUser(rand());
      if (c === 0) out.top.component++;
      if (h === 0) out.top.host++;
      if (u === 0) out.top.user++;
      if (at >= nowMs - DAY_MS) out.startedLastDay++;
      if (at >= nowMs - WEEK_MS) out.startedLastWeek++;

      const username = userName(u);
      const component = componentName(c);
      const event: SessionStartEvent = {
        event_version: "1.0",
        event_id: sequentialUuid(seed * 16_000_000 + i, rand),
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
      if (s !== second) {
        second = s;
        seqOfBase.clear();
      }
      const base = baseSessionId(event);
      const seq = (seqOfBase.get(base) ?? 0) + 1;
      seqOfBase.set(base, seq);
      // The tracker's clock: a few milliseconds after the shell's.
      let record: SessionRecord = startRecord(
        event,
        candidateId(base, seq),
        null,
        new Date(at + 3),
      );

      // Lifecycle after the start: about half end (client), the rest stay alive.
      let endAt: number | null = null;
      if (rand() < ENDED_SHARE) {
        // Log-normal around 20 minutes.
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

      const bytes = encodeRecord(record);
      push("session", sessionKey(record.session_id), bytes, bytes.length);
      push(
        "event",
        eventKey(event.event_id),
        { session_id: record.session_id },
        record.session_id.length + 30,
      );
      push("id_seq", idSeqKey(base), seq, 12);
      for (const key of indexKeys(record)) push("index", key, null, 4);
      // Change-feed entries still within their time to live.
      const startFeedTtl = at + 3 + FEED_TTL_MS - realNow;
      if (startFeedTtl > 60_000) {
        push("feed", feedKey(at + 3, record.session_id, "start"), null, 4, startFeedTtl);
      }
      if (endAt !== null) {
        const endFeedTtl = endAt + 5 + FEED_TTL_MS - realNow;
        if (endFeedTtl > 60_000) {
          push("feed", feedKey(endAt + 5, record.session_id, "end"), null, 4, endFeedTtl);
        }
      }

      // A uniform sample of ids for get_session (reservoir).
      if (out.sampleIds.length < SAMPLE) out.sampleIds.push(record.session_id);
      else {
        const j = Math.floor(rand() * (i + 1));
        if (j < SAMPLE) out.sampleIds[j] = record.session_id;
      }
    }

    // Stable sorts: a base's later `id_seq` value stays after its earlier ones.
    for (const family of FAMILIES) {
      const list = families[family];
      list.sort((a, b) => compareKeys(a.key, b.key));
      for (const m of list) await writer.add(m);
      families[family] = [];
    }
    report(chunkEnd);
  }
  await writer.flush();
  await writer.settle();
  out.commits = writer.commits;
  out.ms = performance.now() - t0;
  return out;
}

// ---------------------------------------------------------------------------------------
// Measurement

interface Side {
  store: SessionStore;
  filled: Filled;
  pick: () => number;
}

interface Operation {
  name: string;
  /** The listing's filter (none for get_session), for the EXPLAIN of its statements. */
  filter: SessionFilter | null;
  /** Runs the operation once; returns how many sessions it produced. */
  run: (side: Side) => Promise<number>;
}

function listOp(name: string, filter: (nowMs: number) => SessionFilter, nowMs: number): Operation {
  const f = filter(nowMs);
  return {
    name,
    filter: f,
    run: async (side) => {
      const page = await side.store.list(f, PAGE, null, Date.now(), STALE_AFTER_MS);
      return page.sessions.length;
    },
  };
}

/** The operations timed on every store: a page of each listing, and `get_session`. */
function operations(nowMs: number): Operation[] {
  return [
    listOp("list unfiltered", () => ({ status: "all" }), nowMs),
    listOp("list component", () => ({ status: "all", component_name: TOP.component }), nowMs),
    listOp("list hostname", () => ({ status: "all", hostname: TOP.host }), nowMs),
    listOp("list username", () => ({ status: "all", username: TOP.user }), nowMs),
    listOp("list status=active", () => ({ status: "active" }), nowMs),
    listOp("list status=ended", () => ({ status: "ended" }), nowMs),
    listOp("list since 7d", (now) => ({ status: "all", sinceMs: now - WEEK_MS }), nowMs),
    listOp(
      "list component+since 7d",
      (now) => ({ status: "all", component_name: TOP.component, sinceMs: now - WEEK_MS }),
      nowMs,
    ),
    {
      name: "get_session",
      filter: null,
      run: async (s) => {
        const record = await s.store.get(s.filled.sampleIds[s.pick()]!);
        if (!record) throw new Error("get_session: a filled id was not found");
        viewOf(record, Date.now(), STALE_AFTER_MS);
        return 1;
      },
    },
  ];
}

interface Timed {
  op: string;
  small_us: number;
  large_us: number;
  ratio: number;
  small_rows: number;
  large_rows: number;
  pass: boolean;
}

/** Times one operation on both stores, alternating which goes first. */
async function measure(op: Operation, small: Side, large: Side, o: Options): Promise<Timed> {
  const times = { small: [] as number[], large: [] as number[] };
  const rows = { small: 0, large: 0 };
  const once = async (which: "small" | "large", record: boolean) => {
    const side = which === "small" ? small : large;
    const t = performance.now();
    const n = await op.run(side);
    const us = (performance.now() - t) * 1000;
    if (record) {
      times[which].push(us);
      rows[which] = n;
    }
  };
  for (let i = 0; i < o.warmup; i++) {
    await once("small", false);
    await once("large", false);
  }
  for (let i = 0; i < o.reps; i++) {
    const order: ("small" | "large")[] = i % 2 ? ["large", "small"] : ["small", "large"];
    for (const which of order) await once(which, true);
  }
  const s = median(times.small);
  const l = median(times.large);
  const ratio = l / s;
  return {
    op: op.name,
    small_us: Math.round(s),
    large_us: Math.round(l),
    ratio: Math.round(ratio * 100) / 100,
    small_rows: rows.small,
    large_rows: rows.large,
    pass: ratio <= TARGET_RATIO,
  };
}

interface StatsRun {
  records: number;
  ms: number;
}

/** `session_stats` over the last day exactly as the tool runs it. */
async function statsLastDay(store: SessionStore, nowMs: number): Promise<StatsRun> {
  const t = performance.now();
  const stats = new StatsAccumulator("component");
  let records = 0;
  for await (const r of store.range(nowMs - DAY_MS, nowMs + 1)) {
    stats.add(viewOf(r, Date.now(), STALE_AFTER_MS));
    records++;
  }
  stats.result();
  return { records, ms: performance.now() - t };
}

/** What one store kind measured: every operation's ratio, and the stats check. */
interface Measured {
  results: Timed[];
  stats: {
    small: ReturnType<typeof statsOf>;
    large: ReturnType<typeof statsOf>;
    pass: boolean;
  };
}

function statsOf(runs: StatsRun[], f: Filled) {
  const ms = median(runs.map((r) => r.ms));
  const records = runs[0]!.records;
  return {
    records,
    started_last_day: f.startedLastDay,
    store_sessions: f.sessions,
    ms: Math.round(ms * 10) / 10,
    us_per_record: records ? Math.round((ms * 1000 / records) * 10) / 10 : 0,
    only_that_day: runs.every((r) => r.records === f.startedLastDay),
  };
}

/** Times every operation on both sides, then `session_stats` over the last day on both. */
async function measureSides(
  label: string,
  ops: Operation[],
  small: Side,
  large: Side,
  o: Options,
  nowMs: number,
): Promise<Measured> {
  console.error(
    `bench: measuring ${label} (${o.warmup} warm-up + ${o.reps} runs per store and op)`,
  );
  const results: Timed[] = [];
  for (const op of ops) {
    const r = await measure(op, small, large, o);
    console.error(`  ${op.name}: ${r.small_us} µs vs ${r.large_us} µs (x${r.ratio})`);
    results.push(r);
  }
  // session_stats over the last day: reads exactly the sessions started that day.
  const runs = { small: [] as StatsRun[], large: [] as StatsRun[] };
  for (let i = 0; i < 5; i++) {
    runs.small.push(await statsLastDay(small.store, nowMs));
    runs.large.push(await statsLastDay(large.store, nowMs));
  }
  const stats = {
    small: statsOf(runs.small, small.filled),
    large: statsOf(runs.large, large.filled),
  };
  return {
    results,
    stats: { ...stats, pass: stats.large.only_that_day && stats.small.only_that_day },
  };
}

// ---------------------------------------------------------------------------------------

const pad = (text: string | number, width: number, left = false) =>
  left ? String(text).padEnd(width) : String(text).padStart(width);

/** The table of ratios and the stats line of one store kind. */
function report(title: string, m: Measured, o: Options): void {
  console.log(
    `\n${title}: ${o.small} vs ${o.sessions} sessions, page ${PAGE}, median of ${o.reps} (interleaved)\n`,
  );
  const rows = m.results.map((r) => [
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
  const short = m.results.filter((r) => r.op !== "get_session" && r.small_rows < PAGE);
  if (short.length > 0) {
    console.log(
      `\nnote: a page on the small store held fewer than ${PAGE} sessions for: ${
        short.map((r) => `${r.op} (${r.small_rows})`).join(", ")
      }; those ratios compare unequal pages.`,
    );
  }
  const { small, large, pass } = m.stats;
  console.log(
    `\nsession_stats last day: large store read ${large.records} records for ${large.started_last_day} started that day ` +
      `(of ${large.store_sessions}) in ${large.ms} ms (${large.us_per_record} µs/record); ` +
      `small store ${small.records}/${small.started_last_day} in ${small.ms} ms (${small.us_per_record} µs/record) ` +
      `-> ${pass ? "PASS (scans only that day)" : "FAIL (read other days' records)"}`,
  );
}

/** The Deno KV half: fills two stores with the exact key layout, then measures both. */
async function runKv(o: Options, nowMs: number, dir: string) {
  const paths = { small: `${dir}/small.kv`, large: `${dir}/large.kv` };
  const filled: Record<"small" | "large", Filled> = {} as Record<"small" | "large", Filled>;
  for (
    const [which, n, seed] of [["small", o.small, o.seed], [
      "large",
      o.sessions,
      o.seed + 1,
    ]] as const
  ) {
    const opened = await openKvStore({ kind: "file", path: paths[which] });
    console.error(`bench: filling ${which} store with ${n} sessions`);
    filled[which] = await fill(opened.kv, n, nowMs, seed, which);
    await opened.store.close();
    const f = filled[which];
    console.error(
      `bench: ${which} filled in ${(f.ms / 1000).toFixed(1)} s (${f.commits} commits, ${
        Math.round(n / (f.ms / 1000))
      } sessions/s)`,
    );
  }

  // Reopen both, as a server would, for the measurements.
  const smallStore = await openKvStore({ kind: "file", path: paths.small }, { readOnly: true });
  const largeStore = await openKvStore({ kind: "file", path: paths.large }, { readOnly: true });
  const pickRand = rng(o.seed + 2);
  const side = (store: SessionStore, f: Filled): Side => ({
    store,
    filled: f,
    pick: () => Math.floor(pickRand() * f.sampleIds.length),
  });
  try {
    const measured = await measureSides(
      "Deno KV",
      operations(nowMs),
      side(smallStore.store, filled.small),
      side(largeStore.store, filled.large),
      o,
      nowMs,
    );
    return { filled, measured };
  } finally {
    await smallStore.store.close();
    await largeStore.store.close();
  }
}

/** The listing with two filters of their own: its page walks at most the scan limit. */
const COMBINED: { name: string; filter: SessionFilter } = {
  name: "list component+hostname",
  filter: { status: "all", component_name: TOP.component, hostname: TOP.host },
};

/**
 * The PostgreSQL half: two databases filled in SQL with the same workload, the same
 * operations through the real store, and EXPLAIN (ANALYZE, BUFFERS) of each listing's
 * statements in both.
 */
async function runPostgres(o: Options, nowMs: number) {
  const pgs = await import("./list_scale_pg.ts");
  const missing = pgs.postgresMissing();
  if (missing) {
    console.log(`\nPostgreSQL: skipped: ${missing}`);
    return { skipped: missing };
  }
  const workload = {
    components: COMPONENTS,
    hosts: HOSTS,
    users: USERS,
    zipfS: ZIPF_S,
    recentShare: RECENT_SHARE,
    endedShare: ENDED_SHARE,
  };
  const sides: Record<"small" | "large", Awaited<ReturnType<typeof pgs.postgresSide>>> =
    {} as never;
  try {
    for (
      const [which, n, seed] of [["small", o.small, o.seed], [
        "large",
        o.sessions,
        o.seed + 1,
      ]] as const
    ) {
      console.error(`bench: filling a PostgreSQL database with ${n} sessions (${which})`);
      sides[which] = await pgs.postgresSide(n, nowMs, seed, workload, which);
      const f = sides[which].filled;
      console.error(
        `bench: ${which} filled in ${
          (f.ms / 1000).toFixed(1)
        } s (${f.tableMb} MB table, ${f.indexMb} MB indexes)`,
      );
    }
    const cluster = await pgs.clusterFacts(sides.large);
    const pickRand = rng(o.seed + 3);
    const side = (s: typeof sides.small): Side => ({
      store: s.store,
      filled: s.filled,
      pick: () => Math.floor(pickRand() * s.filled.sampleIds.length),
    });
    const ops = operations(nowMs);
    const measured = await measureSides(
      "PostgreSQL",
      ops,
      side(sides.small),
      side(sides.large),
      o,
      nowMs,
    );

    // The plans of the very statements the store runs, in both databases.
    const scanLimit = Math.max(1000, PAGE * 20); // the store's default walk for a page
    const explained: {
      op: string;
      small: Awaited<ReturnType<typeof pgs.explainListing>>;
      large: Awaited<ReturnType<typeof pgs.explainListing>>;
      /** On the large store: an index under a Limit, no scan of the table. */
      plan_ok: boolean;
      /** What else the large store's plans show: another index walked, a sort. */
      notes: string[];
      /** Whether it counts for the verdict (the extra two-filter listing does not). */
      counted: boolean;
    }[] = [];
    for (
      const op of [...ops, { name: COMBINED.name, filter: COMBINED.filter, extra: true }]
    ) {
      const of = (s: typeof sides.small) =>
        pgs.explainListing(
          s.db,
          op.filter ?? { get: s.filled.sampleIds[0]! },
          Date.now() - STALE_AFTER_MS,
          PAGE,
          scanLimit,
        );
      const small = await of(sides.small);
      const large = await of(sides.large);
      const own = op.filter ? pgs.ownIndex(op.filter) : "sessions_pkey";
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
      // O(page) on the large store: an index under a Limit, no table scan (get_session: one
      // lookup by primary key).
      const planOk = large.every((e) =>
        e.statement === "get"
          ? e.indexes.includes("sessions_pkey") && !e.seqScanOnSessions
          : e.limitOnTop && !e.seqScanOnSessions && e.indexes.length > 0
      );
      explained.push({
        op: op.name,
        small,
        large,
        plan_ok: planOk,
        notes,
        counted: !("extra" in op),
      });
    }

    report(
      `list/get scale on PostgreSQL ${cluster.version} (${cluster.host}:${cluster.port}, ` +
        `shared_buffers=${cluster.shared_buffers})`,
      measured,
      o,
    );
    console.log(
      `\nEXPLAIN (ANALYZE, BUFFERS) of the statements the store runs (listSql; page ${PAGE}, ` +
        `walk limit ${scanLimit}); buffers = shared hit/read of the whole statement; rows looked ` +
        "at = rows the scans of the table and its indexes produced or filtered out; a plan as " +
        "Node index rows (-removed by filter) > child, children of one node in [..; ..]:",
    );
    for (const e of explained) {
      const verdict = e.plan_ok ? "" : "   <- NOT an index walk under a Limit on the large store";
      const extra = e.counted ? "" : " (extra: two filters that share no index; not a target)";
      console.log(`  ${e.op}${extra}${verdict}${e.notes.length ? `; ${e.notes.join("; ")}` : ""}`);
      for (const [which, list] of [["1k", e.small], ["1M", e.large]] as const) {
        for (const x of list) {
          console.log(
            `    ${which === "1k" ? pad(o.small, 8) : pad(o.sessions, 8)} ${
              pad(x.statement, 4, true)
            } ` +
              `${pad(x.ms.toFixed(3), 7)} ms  hit ${pad(x.hit, 5)} read ${pad(x.read, 5)}  ` +
              `rows looked at ${pad(x.visited, 6)}  ${pgs.renderPlan(x.nodes)}`,
          );
        }
      }
    }
    const pass = measured.results.every((r) => r.pass) && measured.stats.pass &&
      explained.every((e) => e.plan_ok || !e.counted);
    return {
      cluster,
      fill: {
        small_ms: Math.round(sides.small.filled.ms),
        large_ms: Math.round(sides.large.filled.ms),
        large_table_mb: sides.large.filled.tableMb,
        large_index_mb: sides.large.filled.indexMb,
        large_ended: sides.large.filled.ended,
        large_last_week: sides.large.filled.startedLastWeek,
        large_top: sides.large.filled.top,
        small_top: sides.small.filled.top,
      },
      ops: measured.results,
      stats: measured.stats,
      explain: explained,
      pass,
    };
  } finally {
    for (const s of Object.values(sides)) {
      await s.store.close().catch(() => {});
      if (o.keep) console.error(`bench: kept database ${s.db.urlWithoutPassword}`);
      else await s.db.drop().catch(() => {});
    }
  }
}

async function main(): Promise<void> {
  const nowMs = Date.now();
  const dir = await Deno.makeTempDir({ prefix: "session-buddy-bench-" });
  console.error(`bench: stores in ${dir}`);
  try {
    const kv = o.store === "postgres" ? null : await runKv(o, nowMs, dir);
    if (kv) report("list/get scale on Deno KV", kv.measured, o);
    const postgres = o.store === "kv" ? null : await runPostgres(o, nowMs);

    const kvPass = kv === null ||
      (kv.measured.results.every((r) => r.pass) && kv.measured.stats.pass);
    const pgPass = postgres?.pass ?? true;
    const allPass = kvPass && pgPass;
    if (kv) {
      console.log(
        `\nfill (Deno KV): small ${(kv.filled.small.ms / 1000).toFixed(1)} s, large ${
          (kv.filled.large.ms / 1000).toFixed(1)
        } s (${kv.filled.large.commits} commits)`,
      );
    }
    const pgFill = postgres?.fill;
    if (pgFill) {
      console.log(
        `fill (PostgreSQL): small ${(pgFill.small_ms / 1000).toFixed(1)} s, large ${
          (pgFill.large_ms / 1000).toFixed(1)
        } s (${pgFill.large_table_mb} MB table, ${pgFill.large_index_mb} MB indexes)`,
      );
    }
    console.log(`overall: ${allPass ? "PASS" : "FAIL"}\n`);
    b.summary({
      page: PAGE,
      reps: o.reps,
      sessions: { small: o.small, large: o.sessions },
      stores: o.store,
      fill: kv
        ? {
          small_ms: Math.round(kv.filled.small.ms),
          large_ms: Math.round(kv.filled.large.ms),
          large_commits: kv.filled.large.commits,
          large_ended: kv.filled.large.ended,
          large_last_week: kv.filled.large.startedLastWeek,
          large_top: kv.filled.large.top,
          small_top: kv.filled.small.top,
        }
        : null,
      ops: kv?.measured.results ?? [],
      stats: kv?.measured.stats ?? null,
      postgres,
      pass: allPass,
    });
  } finally {
    if (o.keep) console.error(`bench: kept stores in ${dir}`);
    else await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
