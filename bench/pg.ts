/**
 * `deno task bench:pg`: the PostgreSQL store's benchmark (issue 12, item 7).
 *
 * Runs our server on PostgreSQL (`SESSION_BUDDY_DB=postgres://...`, a fresh database per
 * phase) beside FLOOR-PG (bench/floor_pg.ts: a bare MCP SDK stdio server doing one `INSERT`
 * per call through the same driver, npm:pg, on a database of its own), interleaved in one
 * run on one cluster, every server started with the runtime flags of `deno task start` and
 * spoken to over stdio (newline-delimited JSON-RPC, written and read here directly so that
 * the client costs the same, and little, for both):
 *
 * - sequential: `track_session_start` latency p50/p99 and calls/s, one call at a time;
 * - pipelined: calls/s with 16 calls in flight on one connection;
 * - 4 processes on one database (16 in flight each) against 4 FLOOR-PG processes on one;
 * - over HTTP: two collectors (`serve --http`) sharing one database, 64 clients (each on its
 *   own keep-alive connection, half on each collector) calling back to back: calls/s,
 *   latency, failed calls, lost ones.
 *
 * After each phase the databases are asked for every acknowledged id (and their rows are
 * counted), so lost writes show. Targets are ratios inside this run, printed as pass/fail.
 *
 * The cluster: `SESSION_BUDDY_TEST_PG_URL` (an admin URL) when set; else a throwaway cluster of
 * the PostgreSQL binaries found here, durable as a production one is (`fsync=on`,
 * `synchronous_commit=on`, `full_page_writes=on`: every commit waits for its WAL flush);
 * `--fsync-off` uses the tests' cluster instead (`fsync=off`: CPU and round trips only).
 *
 *     deno task bench:pg              # full size (about a minute on 2 cores)
 *     deno task bench:pg --quick      # tiny counts, a smoke run (seconds)
 *     deno task bench:pg --fsync-off  # on a cluster whose commits do not wait for the disk
 *     deno task bench:pg --keep       # keep the databases (their URLs are printed)
 *
 * Always exits 0 once the run completes (targets are reported, not enforced); exits 1 when
 * there is no PostgreSQL here or a server does not start. The last line of stdout is one
 * JSON object with every figure.
 */
import {
  CONFIG,
  DEV_FLAGS,
  programCommand,
  ROOT,
  RUNTIME_FLAGS,
  spawnPiped,
  startArgs,
} from "../tests/helpers/server.ts";
import { freePort } from "../tests/helpers/http.ts";
import { type Command, HttpConn, type Message, percentile, RpcClient } from "./clients.ts";
import {
  pg,
  type PgCluster,
  type PgDatabase,
  pgMissing,
  startOwnCluster,
} from "../tests/helpers/postgres.ts";

// ---------------------------------------------------------------------------------------
// Options

interface Sizes {
  /** Sequential phase: rounds, and calls per round per server. */
  seqRounds: number;
  seqCalls: number;
  /** Pipelined phase: rounds, calls per round per server, calls in flight. */
  pipeRounds: number;
  pipeCalls: number;
  depth: number;
  /** Several processes on one database: processes, starts per process per round, rounds. */
  multiProcs: number;
  multiCalls: number;
  multiRounds: number;
  /** HTTP phase: collectors, clients, rounds, and how long each round lasts. */
  collectors: number;
  clients: number;
  httpRounds: number;
  httpMs: number;
}

const FULL: Sizes = {
  seqRounds: 8,
  seqCalls: 250,
  pipeRounds: 4,
  pipeCalls: 2000,
  depth: 16,
  multiProcs: 4,
  multiCalls: 2000,
  multiRounds: 4,
  collectors: 2,
  clients: 64,
  httpRounds: 4,
  httpMs: 3000,
};

const QUICK: Sizes = {
  seqRounds: 2,
  seqCalls: 10,
  pipeRounds: 1,
  pipeCalls: 64,
  depth: 16,
  multiProcs: 4,
  multiCalls: 40,
  multiRounds: 1,
  collectors: 2,
  clients: 64,
  httpRounds: 1,
  httpMs: 300,
};

function parseOptions(args: string[]) {
  const o = { quick: false, keep: false, fsyncOff: false };
  for (const arg of args) {
    if (arg === "--quick") o.quick = true;
    else if (arg === "--keep") o.keep = true;
    else if (arg === "--fsync-off") o.fsyncOff = true;
    else {
      console.error(`unknown argument '${arg}' (use --quick, --keep, --fsync-off)`);
      Deno.exit(2);
    }
  }
  return o;
}

// ---------------------------------------------------------------------------------------
// A minimal MCP client over a child's stdio (as bench/perf.ts's)

// ---------------------------------------------------------------------------------------
// The servers

interface Kind {
  label: string;
  command(url: string): Command;
  tool: string;
  /** Where the store keeps one row per start: the table and its id column. */
  table: string;
  idColumn: string;
}

function structured(reply: Message | null): Record<string, unknown> | null {
  const result = reply?.result as Record<string, unknown> | undefined;
  if (!result || result.isError) return null;
  return (result.structuredContent as Record<string, unknown> | undefined) ?? null;
}

/** The id a reply acknowledges as stored (`tracked` for both kinds), else null. */
function acknowledged(reply: Message | null): string | null {
  const s = structured(reply);
  return s?.status === "tracked" && typeof s.session_id === "string" ? s.session_id : null;
}

const OURS: Kind = {
  label: "ours",
  command: (url) => ({
    ...programCommand(),
    env: { HOME: tmp, SESSION_BUDDY_DB: url },
  }),
  tool: "track_session_start",
  table: "session_buddy.sessions",
  idColumn: "session_id",
};

const FLOOR_PG: Kind = {
  label: "FLOOR-PG",
  command: (url) => ({
    command: Deno.execPath(),
    args: [
      "run",
      ...RUNTIME_FLAGS,
      ...DEV_FLAGS,
      "--config",
      CONFIG,
      `${ROOT}bench/floor_pg.ts`,
      url,
    ],
    env: { HOME: tmp },
  }),
  tool: "pg_insert",
  table: "bench_floor.records",
  idColumn: "id",
};

/** A server process of one kind on one database, and what it acknowledged. */
class Instance {
  readonly client: RpcClient;
  readonly acked: string[] = [];
  failed = 0;

  constructor(readonly kind: Kind, readonly db: PgDatabase, readonly name = kind.label) {
    this.client = new RpcClient(kind.command(db.url));
  }

  async handshake(): Promise<void> {
    try {
      await this.client.handshake(this.name);
    } catch (error) {
      throw new Error(`${this.name} did not start: ${error}\n${this.client.stderrTail}`);
    }
  }
}

/**
 * Runs `n` starts with `depth` in flight on one connection. Returns per-call latencies (ms)
 * and the wall time.
 */
async function drive(
  inst: Instance,
  n: number,
  depth: number,
): Promise<{ latencies: number[]; wallMs: number }> {
  const latencies: number[] = [];
  let issued = 0;
  const lane = async () => {
    while (issued < n) {
      issued++;
      const args = startArgs();
      const t0 = performance.now();
      const reply = await inst.client.request("tools/call", {
        name: inst.kind.tool,
        arguments: args,
      });
      latencies.push(performance.now() - t0);
      const id = acknowledged(reply);
      if (id === null) inst.failed++;
      else inst.acked.push(id);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: depth }, lane));
  return { latencies, wallMs: performance.now() - t0 };
}

// ---------------------------------------------------------------------------------------
// Over HTTP: one simulated client holds one keep-alive connection (as bench/http.ts's)

/** One `track_session_start` on `conn`: the acknowledged id (or null) and the latency. */
async function startOver(conn: HttpConn): Promise<{ id: string | null; ms: number }> {
  const body = conn.body("tools/call", { name: "track_session_start", arguments: startArgs() });
  const t0 = performance.now();
  let reply: Message | null = null;
  try {
    reply = (await conn.post(body)).message;
  } catch { /* a failed call */ }
  return { id: acknowledged(reply), ms: performance.now() - t0 };
}

/** `session-buddy serve --http` on a loopback port, on a PostgreSQL database. */
class Collector {
  readonly child: Deno.ChildProcess;
  readonly port = freePort();
  readonly origin = `http://127.0.0.1:${this.port}`;
  readonly acked: string[] = [];
  failed = 0;
  #errTail = "";
  #exit: Deno.CommandStatus | null = null;
  readonly #drained: Promise<unknown>;

  constructor(readonly name: string, readonly db: PgDatabase) {
    const cmd = programCommand(["serve", "--http", `127.0.0.1:${this.port}`]);
    this.child = spawnPiped(cmd, { HOME: tmp, SESSION_BUDDY_DB: db.url });
    this.child.stdin.close().catch(() => {});
    this.child.status.then((s) => this.#exit = s);
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        this.#errTail = (this.#errTail + chunk).slice(-4000);
      }
    };
    this.#drained = Promise.all([drain(this.child.stdout), drain(this.child.stderr)]);
  }

  /** Polls GET /healthz until a 200. */
  async healthy(timeoutMs = 30_000): Promise<void> {
    const conn = new HttpConn(this.origin);
    const since = performance.now();
    try {
      while (true) {
        try {
          if (await conn.health() === 200) return;
        } catch { /* not listening yet */ }
        if (this.#exit) {
          throw new Error(`${this.name} exited (${this.#exit.code}):\n${this.#errTail}`);
        }
        if (performance.now() - since > timeoutMs) {
          throw new Error(`${this.name} not healthy after ${timeoutMs} ms:\n${this.#errTail}`);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      conn.close();
    }
  }

  /** SIGTERM (a graceful stop: what waits for the store is written), SIGKILL if it lingers. */
  async stop(): Promise<number> {
    const waited = async (ms: number) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.child.status, new Promise((r) => timer = setTimeout(r, ms))]);
      clearTimeout(timer);
    };
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      if (this.#exit) break;
      try {
        this.child.kill(signal);
      } catch { /* gone */ }
      await waited(15_000);
    }
    const { code } = await this.child.status;
    await this.#drained.catch(() => {});
    return code;
  }
}

// ---------------------------------------------------------------------------------------
// Reporting helpers

interface StoredRow {
  phase: string;
  server: string;
  acknowledged: number;
  /** Acknowledged ids the database holds. */
  stored: number;
  /** Rows in the table (every phase on that database so far, warm-ups included). */
  rows: number;
  failed_calls: number;
  lost: number;
  /** The exit status, once stopped (HTTP collectors); null while running. */
  exit: number | null;
}

const storedRows: StoredRow[] = [];

/** Looks up every acknowledged id of `group` (one database) in the database itself. */
async function countPhase(
  phase: string,
  server: string,
  kind: Kind,
  db: PgDatabase,
  group: { acked: string[]; failed: number }[],
  exit: number | null = null,
): Promise<StoredRow> {
  const ids = group.flatMap((g) => g.acked);
  const [row] = await db.query(
    `SELECT (SELECT count(*) FROM ${kind.table})::int AS rows,
            (SELECT count(*) FROM ${kind.table} WHERE ${kind.idColumn} = ANY($1::text[]))::int AS found`,
    [ids],
  );
  const found = Number(row?.found ?? 0);
  const stored: StoredRow = {
    phase,
    server,
    acknowledged: ids.length,
    stored: found,
    rows: Number(row?.rows ?? 0),
    failed_calls: group.reduce((a, g) => a + g.failed, 0),
    lost: ids.length - found,
    exit,
  };
  storedRows.push(stored);
  return stored;
}

/** A checkpoint and a pause before each measured block, so that neither lands in one. */
async function settle(ms = 150): Promise<void> {
  await adminDb.query("CHECKPOINT").catch(() => {});
  await new Promise((r) => setTimeout(r, ms));
}

function log(message: string): void {
  console.error(`[bench:pg ${((performance.now() - BEGAN) / 1000).toFixed(1)}s] ${message}`);
}

const round = (x: number, digits = 2) => Number.isFinite(x) ? Number(x.toFixed(digits)) : null;
const decoder = new TextDecoder();

/** A file of /proc as text (Deno lets only --allow-all read /proc; `cat` needs just run). */
function proc(path: string): string {
  return decoder.decode(new Deno.Command("cat", { args: [path] }).outputSync().stdout);
}

// ---------------------------------------------------------------------------------------
// CPU time per call: the server processes, the PostgreSQL backends serving them, this client

const CLK_TCK = Number(
  decoder.decode(new Deno.Command("getconf", { args: ["CLK_TCK"] }).outputSync().stdout).trim(),
) || 100;

/** User + system CPU time, in µs, of each of `pids` that is alive (one `cat` for all). */
function cpuUs(pids: number[]): Map<number, number> {
  const times = new Map<number, number>();
  if (pids.length === 0) return times;
  const out = new Deno.Command("cat", {
    args: pids.map((p) => `/proc/${p}/stat`),
    stderr: "null",
  }).outputSync();
  for (const line of decoder.decode(out.stdout).split("\n")) {
    const close = line.lastIndexOf(")");
    if (close < 0) continue;
    const fields = line.slice(close + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    times.set(Number(line.slice(0, line.indexOf(" "))), (ticks * 1e6) / CLK_TCK);
  }
  return times;
}

/** The backends of the connections that `db`'s own role (our servers, the floors) holds. */
async function backends(db: PgDatabase): Promise<number[]> {
  const rows = await adminDb.query(
    "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND usename = $2",
    [db.name, db.user],
  );
  return rows.map((r) => Number(r.pid));
}

interface CpuUse {
  calls: number;
  server: number;
  postgres: number;
  client: number;
}

/** CPU time per phase and kind, summed over the measured blocks. */
const cpuUse = new Map<string, CpuUse>();

/**
 * Runs one measured block and adds the CPU time it took to `phase`/`label`: of the server
 * processes `pids`, of the backends serving `db` (when the cluster runs on this machine),
 * and of this process (the load generator).
 */
async function metered<T>(
  phase: string,
  label: string,
  pids: number[],
  db: PgDatabase,
  work: () => Promise<T>,
  calls: (result: T) => number,
): Promise<T> {
  const pgBefore = cpuLocal ? await backends(db) : [];
  const before = cpuUs([...pids, ...pgBefore, Deno.pid]);
  const result = await work();
  const pgAfter = cpuLocal ? await backends(db) : [];
  const pgAll = [...new Set([...pgBefore, ...pgAfter])];
  const after = cpuUs([...pids, ...pgAll, Deno.pid]);
  // A process gone by the end counts nothing; one started meanwhile counts its whole life.
  const spent = (list: number[]) =>
    list.reduce(
      (a, p) => a + Math.max(0, (after.get(p) ?? before.get(p) ?? 0) - (before.get(p) ?? 0)),
      0,
    );
  const key = `${phase}\u0000${label}`;
  const use = cpuUse.get(key) ?? { calls: 0, server: 0, postgres: 0, client: 0 };
  use.calls += calls(result);
  use.server += spent(pids);
  use.postgres += spent(pgAll);
  use.client += spent([Deno.pid]);
  cpuUse.set(key, use);
  return result;
}

// ---------------------------------------------------------------------------------------
// Main

const BEGAN = performance.now();
const options = parseOptions(Deno.args);
const S = options.quick ? QUICK : FULL;
const missing = pgMissing();
if (missing) {
  console.error(`bench:pg: ${missing}; nothing measured`);
  Deno.exit(1);
}
const durable = !options.fsyncOff && !Deno.env.get("SESSION_BUDDY_TEST_PG_URL");
const own = durable
  ? await startOwnCluster({
    settings: () => ({ fsync: "on", synchronous_commit: "on", full_page_writes: "on" }),
  }).catch((error) => {
    console.error(`bench:pg: ${(error as Error).message}`);
    Deno.exit(1);
  })
  : null;
const found = own ?? await pg().catch((error) => {
  console.error(`bench:pg: ${(error as Error).message}`);
  Deno.exit(1);
});
if (!found) {
  console.error("bench:pg: no PostgreSQL cluster; nothing measured");
  Deno.exit(1);
}
const cluster: PgCluster = found;
const tmp = await Deno.makeTempDir({ prefix: "session-buddy-bench-pg-" });
const databases: PgDatabase[] = [];
const fresh = async () => {
  const db = await cluster.createDatabase();
  databases.push(db);
  return db;
};
/** The bench's own database: its admin connection asks about the cluster and the others. */
const adminDb = await fresh();

const CPU = /model name\s*:\s*(.*)/.exec(proc("/proc/cpuinfo"))?.[1]?.trim() ?? "unknown CPU";
const loadAverage = () => proc("/proc/loadavg").split(" ").slice(0, 3).join(" ");
const LOAD_BEFORE = loadAverage();
const [settings = {}] = await adminDb.query(
  `SELECT current_setting('server_version') AS version, current_setting('port') AS port,
          current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sync,
          current_setting('shared_buffers') AS shared_buffers,
          current_setting('max_connections') AS max_connections, pg_backend_pid() AS pid`,
);
/** Whether the cluster's backends are processes of this machine (their CPU time is readable). */
const cpuLocal = /\(postgres\)/.test(
  decoder.decode(
    new Deno.Command("cat", { args: [`/proc/${settings.pid}/stat`], stderr: "null" }).outputSync()
      .stdout,
  ),
);
const CLUSTER = {
  version: String(settings.version),
  host: cluster.host,
  port: cluster.port,
  source: Deno.env.get("SESSION_BUDDY_TEST_PG_URL")
    ? "SESSION_BUDDY_TEST_PG_URL"
    : durable
    ? "a durable cluster started for this run"
    : "the tests' cluster, started for this run",
  fsync: String(settings.fsync),
  synchronous_commit: String(settings.sync),
  shared_buffers: String(settings.shared_buffers),
  max_connections: Number(settings.max_connections),
  on_this_machine: cpuLocal,
};
const MACHINE = { cpu: CPU, cores: navigator.hardwareConcurrency, deno: Deno.version.deno };

const SERVERS = ["ours", "FLOOR-PG"] as const;
const FIGURE_NAMES = [
  "start_p50_ms",
  "start_p99_ms",
  "start_calls_s",
  "pipelined_calls_s",
  "pipelined_p50_ms",
  "multi4_calls_s",
  "multi4_failed",
  "multi4_lost",
  "http_c64_calls_s",
  "http_c64_p50_ms",
  "http_c64_p99_ms",
  "http_c64_failed",
  "http_c64_lost",
] as const;
type FigureName = (typeof FIGURE_NAMES)[number];
const figures = Object.fromEntries(
  SERVERS.map((s) => [s, Object.fromEntries(FIGURE_NAMES.map((f) => [f, null]))]),
) as Record<string, Record<FigureName, number | null>>;
const set = (server: string, figure: FigureName, value: number) => {
  figures[server]![figure] = round(value);
};
const live: { close(): Promise<unknown> }[] = [];
const PHASES = {
  seq: "sequential",
  pipe: "pipelined",
  multi: `${S.multiProcs} processes`,
  http: `${S.clients} HTTP clients`,
};

try {
  log(
    `PostgreSQL ${CLUSTER.version} on ${CLUSTER.host}:${CLUSTER.port} (${CLUSTER.source}; ` +
      `fsync=${CLUSTER.fsync}); ${CPU}, ${MACHINE.cores} cores; ` +
      `${options.quick ? "QUICK" : "full"} sizes`,
  );

  // ---- 1. Sequential, then 2. pipelined, on one long-lived server of each kind. ---------
  const main = [new Instance(OURS, await fresh()), new Instance(FLOOR_PG, await fresh())];
  live.push(...main.map((i) => i.client));
  await Promise.all(main.map((i) => i.handshake()));
  // Warm-up, not timed (but counted in the stores): the code paths get compiled and the
  // pools open their connections.
  for (const inst of main) {
    await drive(inst, 50, 1);
    await drive(inst, 200, S.depth);
  }
  const seq = new Map(main.map((i) => [i.name, { latencies: [] as number[], ms: 0 }]));
  for (let r = 0; r < S.seqRounds; r++) {
    for (const inst of r % 2 ? [...main].reverse() : main) {
      await settle();
      const res = await metered(
        PHASES.seq,
        inst.name,
        [inst.client.child.pid],
        inst.db,
        () => drive(inst, S.seqCalls, 1),
        (x) => x.latencies.length,
      );
      const s = seq.get(inst.name)!;
      s.latencies.push(...res.latencies);
      s.ms += res.wallMs;
    }
  }
  for (const [name, s] of seq) {
    const sorted = [...s.latencies].sort((a, b) => a - b);
    set(name, "start_p50_ms", percentile(sorted, 0.5));
    set(name, "start_p99_ms", percentile(sorted, 0.99));
    set(name, "start_calls_s", (sorted.length / s.ms) * 1000);
  }
  for (const inst of main) await countPhase(PHASES.seq, inst.name, inst.kind, inst.db, [inst]);
  log("sequential done");

  const pipe = new Map(main.map((i) => [i.name, { calls: 0, ms: 0, latencies: [] as number[] }]));
  for (let r = 0; r < S.pipeRounds; r++) {
    for (const inst of r % 2 ? [...main].reverse() : main) {
      await settle();
      const res = await metered(
        PHASES.pipe,
        inst.name,
        [inst.client.child.pid],
        inst.db,
        () => drive(inst, S.pipeCalls, S.depth),
        (x) => x.latencies.length,
      );
      const p = pipe.get(inst.name)!;
      p.calls += res.latencies.length;
      p.ms += res.wallMs;
      p.latencies.push(...res.latencies);
    }
  }
  for (const [name, p] of pipe) {
    set(name, "pipelined_calls_s", (p.calls / p.ms) * 1000);
    set(name, "pipelined_p50_ms", percentile(p.latencies.sort((a, b) => a - b), 0.5));
  }
  for (const inst of main) await countPhase(PHASES.pipe, inst.name, inst.kind, inst.db, [inst]);
  await Promise.all(main.map((i) => i.client.close()));
  live.length = 0;
  log("pipelined done");

  // ---- 3. Several processes on one database. ------------------------------------------
  const groups: Instance[][] = [];
  for (const kind of [OURS, FLOOR_PG]) {
    const db = await fresh();
    const group = Array.from(
      { length: S.multiProcs },
      (_, i) => new Instance(kind, db, `${kind.label}#${i}`),
    );
    live.push(...group.map((i) => i.client));
    // One after another: the first creates the schema (the others would wait for its lock).
    for (const inst of group) await inst.handshake();
    for (const inst of group) await drive(inst, 50, S.depth);
    groups.push(group);
  }
  const multi = new Map<string, { calls: number; ms: number }>();
  for (let r = 0; r < S.multiRounds; r++) {
    for (const group of r % 2 ? [...groups].reverse() : groups) {
      const label = group[0]!.kind.label;
      await settle();
      const t0 = performance.now();
      const results = await metered(
        PHASES.multi,
        label,
        group.map((i) => i.client.child.pid),
        group[0]!.db,
        () => Promise.all(group.map((inst) => drive(inst, S.multiCalls, S.depth))),
        (x) => x.reduce((a, y) => a + y.latencies.length, 0),
      );
      const ms = performance.now() - t0;
      const m = multi.get(label) ?? { calls: 0, ms: 0 };
      m.calls += results.reduce((a, x) => a + x.latencies.length, 0);
      m.ms += ms;
      multi.set(label, m);
    }
  }
  for (const group of groups) {
    const kind = group[0]!.kind;
    const row = await countPhase(
      PHASES.multi,
      `${group.length}x ${kind.label}`,
      kind,
      group[0]!.db,
      group,
    );
    const m = multi.get(kind.label)!;
    set(kind.label, "multi4_calls_s", (m.calls / m.ms) * 1000);
    set(kind.label, "multi4_failed", row.failed_calls);
    set(kind.label, "multi4_lost", row.lost);
  }
  await Promise.all(groups.flat().map((i) => i.client.close()));
  live.length = 0;
  log(`${S.multiProcs} processes done`);

  // ---- 4. Two collectors over HTTP sharing one database, 64 clients. -------------------
  const httpDb = await fresh();
  const collectors: Collector[] = [];
  for (let i = 0; i < S.collectors; i++) {
    const c = new Collector(`collector#${i}`, httpDb);
    collectors.push(c);
    live.push({ close: () => c.stop() });
    // One after another, as in 3.
    await c.healthy();
  }
  const conns = Array.from({ length: S.clients }, (_, i) => ({
    conn: new HttpConn(collectors[i % collectors.length]!.origin),
    to: i % collectors.length,
  }));
  await Promise.all(conns.map((c) => c.conn.initialize()));
  const burst = async (ms: number) => {
    const latencies: number[] = [];
    const t0 = performance.now();
    const until = t0 + ms;
    await Promise.all(conns.map(async ({ conn, to }) => {
      while (performance.now() < until) {
        const { id, ms } = await startOver(conn);
        latencies.push(ms);
        if (id === null) collectors[to]!.failed++;
        else collectors[to]!.acked.push(id);
      }
    }));
    return { wallMs: performance.now() - t0, latencies };
  };
  await burst(S.httpMs / 6);
  const http = { calls: 0, ms: 0, latencies: [] as number[], failed: 0 };
  for (let r = 0; r < S.httpRounds; r++) {
    await settle();
    const ackedBefore = collectors.reduce((a, c) => a + c.acked.length, 0);
    const failedBefore = collectors.reduce((a, c) => a + c.failed, 0);
    const { wallMs, latencies } = await metered(
      PHASES.http,
      "ours",
      collectors.map((c) => c.child.pid),
      httpDb,
      () => burst(S.httpMs),
      (x) => x.latencies.length,
    );
    http.ms += wallMs;
    http.latencies.push(...latencies);
    http.calls += collectors.reduce((a, c) => a + c.acked.length, 0) - ackedBefore;
    http.failed += collectors.reduce((a, c) => a + c.failed, 0) - failedBefore;
  }
  const label = `${S.collectors}x collector`;
  const running = await countPhase(PHASES.http, label, OURS, httpDb, collectors);
  for (const { conn } of conns) conn.close();
  const exits: number[] = [];
  for (const c of collectors) exits.push(await c.stop());
  live.length = 0;
  const stopped = await countPhase(
    "after stop",
    label,
    OURS,
    httpDb,
    collectors,
    exits.find((code) => code !== 0) ?? 0,
  );
  const sorted = http.latencies.sort((a, b) => a - b);
  set("ours", "http_c64_calls_s", (http.calls / http.ms) * 1000);
  set("ours", "http_c64_p50_ms", percentile(sorted, 0.5));
  set("ours", "http_c64_p99_ms", percentile(sorted, 0.99));
  set("ours", "http_c64_failed", http.failed);
  set("ours", "http_c64_lost", Math.max(running.lost, stopped.lost));
  log(`${S.clients} HTTP clients done`);
} catch (error) {
  console.error(error);
  await Promise.all(live.map((x) => x.close().catch(() => {})));
  if (!options.keep) await Promise.all(databases.map((d) => d.drop().catch(() => {})));
  await own?.close().catch(() => {});
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  Deno.exit(1);
}

// ---------------------------------------------------------------------------------------
// Targets

interface Target {
  target: string;
  figure: FigureName;
  ours: number | null;
  baseline: number | null;
  ratio: number | null;
  limit: string;
  pass: boolean;
}

const F = (server: string, figure: FigureName) => figures[server]![figure]!;
const ratio = (a: number, b: number) => (b > 0 ? a / b : NaN);
const targets: Target[] = [];
function target(
  name: string,
  figure: FigureName,
  limit: string,
  ok: (r: number) => boolean,
  extra = true,
) {
  const r = ratio(F("ours", figure), F("FLOOR-PG", figure));
  targets.push({
    target: name,
    figure,
    ours: F("ours", figure),
    baseline: F("FLOOR-PG", figure),
    ratio: round(r, 3),
    limit,
    pass: Number.isFinite(r) && ok(r) && extra,
  });
}
target("track_session_start p50 <= 1.3x FLOOR-PG", "start_p50_ms", "<= 1.3", (r) => r <= 1.3);
target(
  `pipelined (${S.depth} in flight) calls/s >= 2x FLOOR-PG`,
  "pipelined_calls_s",
  ">= 2",
  (r) => r >= 2,
);
target(
  `${S.multiProcs} processes on one database: calls/s >= 2x ${S.multiProcs}x FLOOR-PG, ` +
    "0 failed, 0 lost",
  "multi4_calls_s",
  ">= 2, 0 failed, 0 lost",
  (r) => r >= 2,
  F("ours", "multi4_failed") === 0 && F("ours", "multi4_lost") === 0,
);
const httpClean = F("ours", "http_c64_failed") === 0 && F("ours", "http_c64_lost") === 0 &&
  storedRows.filter((r) => r.phase === "after stop").every((r) => r.exit === 0);
targets.push({
  target: `${S.collectors} collectors over HTTP on one database, ${S.clients} clients: ` +
    "0 failed, 0 lost, exit 0 on SIGTERM",
  figure: "http_c64_lost",
  ours: F("ours", "http_c64_lost"),
  baseline: null,
  ratio: null,
  limit: "0 failed, 0 lost",
  pass: httpClean,
});

// ---------------------------------------------------------------------------------------
// Output

const fmt = (v: number | null) =>
  v === null
    ? "-"
    : Math.abs(v) >= 100
    ? v.toFixed(0)
    : Math.abs(v) >= 10
    ? v.toFixed(1)
    : v.toFixed(2);

/** Aligned columns: the first left-aligned, the others right-aligned. */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

const targetOf = new Map(targets.map((t) => [t.figure, t]));
const figureRows: string[][] = FIGURE_NAMES.map((f) => {
  const t = targetOf.get(f);
  return [
    f,
    ...SERVERS.map((s) => fmt(figures[s]![f])),
    t ? `${t.pass ? "PASS" : "FAIL"} ${t.ratio === null ? "" : `${t.ratio}x `}(${t.limit})` : "",
  ];
});

/** CPU µs per call, per phase and kind, as the JSON line carries them. */
const cpu = [...cpuUse].map(([key, u]) => {
  const [phase, server] = key.split("\u0000") as [string, string];
  const per = (x: number) => u.calls > 0 ? round(x / u.calls, 1) : null;
  return {
    phase,
    server,
    calls: u.calls,
    server_us: per(u.server),
    postgres_us: cpuLocal ? per(u.postgres) : null,
    client_us: per(u.client),
  };
});
const cpuRows = cpu.map((c) => {
  const sum = (c.server_us ?? 0) + (c.postgres_us ?? 0) + (c.client_us ?? 0);
  return [
    c.phase,
    c.server,
    fmt(c.server_us),
    fmt(c.postgres_us),
    fmt(c.client_us),
    fmt(sum),
    // What the machine's cores could do at that cost per call, were nothing else running.
    fmt(sum > 0 ? (MACHINE.cores * 1e6) / sum : null),
  ];
});

const LOAD_AFTER = loadAverage();
const out: string[] = [];
out.push("");
out.push(
  `session-buddy on PostgreSQL (${options.quick ? "QUICK counts, not meaningful" : "full"}; ` +
    `deno ${MACHINE.deno}; all in one run)`,
);
out.push(
  `machine: ${MACHINE.cpu}, ${MACHINE.cores} cores (servers, PostgreSQL and the load generator ` +
    `share them); load average before ${LOAD_BEFORE}, after ${LOAD_AFTER}`,
);
out.push(
  `cluster: PostgreSQL ${CLUSTER.version} on ${CLUSTER.host}:${CLUSTER.port} (${CLUSTER.source}); ` +
    `fsync=${CLUSTER.fsync}, synchronous_commit=${CLUSTER.synchronous_commit}, ` +
    `shared_buffers=${CLUSTER.shared_buffers}, max_connections=${CLUSTER.max_connections}`,
);
out.push(...table(["figure", ...SERVERS, "target"], figureRows));
out.push("");
out.push(
  "FLOOR-PG = a bare MCP SDK stdio server whose tool does one autocommitted INSERT (a ~500-byte " +
    "record, a primary key and one index) through npm:pg's Pool, on a database of its own. " +
    "ours = session-buddy with SESSION_BUDDY_DB=postgres://..., a fresh database per phase.",
);
out.push(
  `start_*: one call at a time, ${S.seqRounds}x${S.seqCalls} calls; pipelined_*: ${S.depth} in ` +
    `flight on one connection, ${S.pipeRounds}x${S.pipeCalls}; multi4_*: ${S.multiProcs} ` +
    `processes on one database, ${S.depth} in flight each, ${S.multiRounds}x${S.multiCalls} per ` +
    `process; http_c64_*: ${S.collectors} collectors (serve --http) on one database, ` +
    `${S.clients} clients (each its own keep-alive connection, alternately on each collector) ` +
    `calling back to back, ${S.httpRounds}x${S.httpMs} ms; lost = acknowledged ids missing from ` +
    "the database (while running and after a SIGTERM stop). Servers of one phase take turns, " +
    "round by round.",
);
if (CLUSTER.fsync === "off") {
  out.push(
    "fsync=off: commits do not wait for the disk, so these figures are CPU and round trips; on " +
      "a durable cluster each of FLOOR-PG's commits also waits for a WAL flush, which favours " +
      "grouping (without --fsync-off the bench starts a durable cluster).",
  );
}
out.push("");
out.push(
  "CPU time per call (µs, user + system, measured blocks only): the server process(es), the " +
    "PostgreSQL backends of their connections" +
    (cpuLocal ? "" : " (not measured: the cluster is not on this machine)") +
    ", and this load generator; max_calls_s = what the cores could do at that cost:",
);
out.push(
  ...table(
    ["phase", "server", "server_us", "postgres_us", "client_us", "sum_us", "max_calls_s"],
    cpuRows,
  ),
);
out.push("");
out.push("stored (acknowledged ids looked up in the database itself):");
out.push(
  ...table(
    ["phase", "server", "stored/acknowledged", "rows", "failed", "lost", "exit"],
    storedRows.map((r) => [
      r.phase,
      r.server,
      `${r.stored}/${r.acknowledged}`,
      String(r.rows),
      String(r.failed_calls),
      r.lost > 0 ? `${r.lost} LOST` : "0",
      r.exit === null ? "-" : String(r.exit),
    ]),
  ),
);
out.push("");
out.push("targets (ratios inside this run):");
for (const t of targets) {
  out.push(
    `  ${t.pass ? "PASS" : "FAIL"}  ${t.target}: ` +
      (t.ratio === null
        ? `${fmt(F("ours", "http_c64_failed"))} failed, ${fmt(t.ours)} lost, ` +
          `${fmt(F("ours", "http_c64_calls_s"))} calls/s`
        : `${fmt(t.ours)} vs ${fmt(t.baseline)} = ${t.ratio}x (${t.limit})`),
  );
}
const passed = targets.filter((t) => t.pass).length;
out.push(
  `overall: ${passed === targets.length ? "PASS" : "FAIL"} (${passed}/${targets.length} targets)`,
);
console.log(out.join("\n"));

if (options.keep) {
  console.error("databases kept (until the cluster stops, when this run started it):");
  for (const db of databases) console.error(`  ${db.url}`);
} else {
  await Promise.all(databases.map((d) => d.drop().catch(() => {})));
}
await own?.close().catch(() => {});
await Deno.remove(tmp, { recursive: true }).catch(() => {});

const oursClean = storedRows.filter((r) => !r.server.includes("FLOOR"))
  .every((r) => r.failed_calls === 0 && r.lost === 0 && (r.exit === null || r.exit === 0));
console.log(JSON.stringify({
  bench: "pg",
  quick: options.quick,
  seconds: round((performance.now() - BEGAN) / 1000, 1),
  machine: { ...MACHINE, load_average: { before: LOAD_BEFORE, after: LOAD_AFTER } },
  cluster: CLUSTER,
  sizes: S,
  figures,
  targets,
  cpu,
  stored: storedRows,
  ours_clean: oursClean,
  pass: passed === targets.length,
}));
