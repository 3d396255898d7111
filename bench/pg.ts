/**
 * `deno task bench:pg`: our server on PostgreSQL (a fresh database per phase) beside FLOOR-PG
 * (bench/floor.ts pg: one autocommitted INSERT per call through npm:pg), over stdio as
 * bench/perf.ts: sequential starts, 16 in flight, 4 processes on one database, and two
 * `serve --http` collectors with 64 clients; ids looked up after each phase; CPU per call of
 * servers, backends and client. Cluster: SESSION_BUDDY_TEST_PG_URL, else a durable one
 * started here; `--fsync-off` uses the tests' cluster (fsync=off). Exits 1 without PostgreSQL.
 *
 *     deno task bench:pg [--quick] [--fsync-off] [--keep]   # --keep: the databases stay
 */
import { freePort } from "../tests/helpers/http.ts";
import { pg, type PgDatabase, pgMissing, startOwnCluster } from "../tests/helpers/postgres.ts";
import {
  Bench,
  benchProgram,
  fmt,
  HttpServer,
  type Kind,
  loadAverage,
  ourProgram,
  proc,
  round,
  type Sample,
  settle,
  StdioServer,
  table,
  together,
} from "./harness.ts";

const FIGURES = [
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
const b = new Bench("pg", ["ours", "FLOOR-PG"], FIGURES, { "--keep": false, "--fsync-off": false });
const S = b.sizes({
  seqRounds: [8, 2],
  seqCalls: [250, 10],
  pipeRounds: [4, 1],
  pipeCalls: [2000, 64],
  depth: [16, 16],
  /** Several processes on one database: processes, starts per process per round, rounds. */
  multiProcs: [4, 4],
  multiCalls: [2000, 40],
  multiRounds: [4, 1],
  /** HTTP phase: collectors, clients, rounds, and how long each round lasts. */
  collectors: [2, 2],
  clients: [64, 64],
  httpRounds: [4, 1],
  httpMs: [3000, 300],
});

// ---------------------------------------------------------------------------------------
// The cluster

const fail = (message: string): never => {
  console.error(`bench:pg: ${message}`);
  Deno.exit(1);
};
const missing = pgMissing();
if (missing) fail(`${missing}; nothing measured`);
const given = Deno.env.get("SESSION_BUDDY_TEST_PG_URL");
const durable = !b.flag("--fsync-off") && !given;
const own = durable
  ? await startOwnCluster({
    settings: () => ({ fsync: "on", synchronous_commit: "on", full_page_writes: "on" }),
  }).catch((error) => fail((error as Error).message))
  : null;
const cluster = own ?? await pg().catch((error) => fail((error as Error).message)) ??
  fail("no PostgreSQL cluster; nothing measured");
b.atEnd(() => own?.close());
const databases: PgDatabase[] = [];
b.atEnd(async () => {
  if (!b.flag("--keep")) return await Promise.all(databases.map((d) => d.drop().catch(() => {})));
  console.error("databases kept (until the cluster stops, when this run started it):");
  for (const db of databases) console.error(`  ${db.url}`);
});
const tmp = await Deno.makeTempDir({ prefix: "session-buddy-bench-pg-" });
b.atEnd(() => Deno.remove(tmp, { recursive: true }));
const fresh = async () => {
  const db = await cluster.createDatabase();
  databases.push(db);
  return db.url;
};
const dbOf = (url: string) => databases.find((d) => d.url === url)!;
/** The bench's own database: its admin connection asks about the cluster and the others. */
const adminDb = dbOf(await fresh());
const LOAD_BEFORE = loadAverage();
const [settings = {}] = await adminDb.query(
  `SELECT current_setting('server_version') AS version, current_setting('port') AS port,
          current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sync,
          current_setting('shared_buffers') AS shared_buffers,
          current_setting('max_connections') AS max_connections, pg_backend_pid() AS pid`,
);
/** Whether the cluster's backends are processes of this machine (their CPU time is readable). */
const cpuLocal = /\(postgres\)/.test(proc(`/proc/${settings.pid}/stat`));
const CLUSTER = {
  version: String(settings.version),
  host: cluster.host,
  port: cluster.port,
  source: given
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
const MACHINE = {
  cpu: /model name\s*:\s*(.*)/.exec(proc("/proc/cpuinfo"))?.[1]?.trim() ?? "unknown CPU",
  cores: navigator.hardwareConcurrency,
  deno: Deno.version.deno,
};
/** A checkpoint and a pause before each measured block, so that neither lands in one. */
const checkpoint = () => settle(150, () => adminDb.query("CHECKPOINT"));

// ---------------------------------------------------------------------------------------
// CPU time per call: the server processes, the PostgreSQL backends serving them, this client

const CLK_TCK = Number(
  new TextDecoder().decode(new Deno.Command("getconf", { args: ["CLK_TCK"] }).outputSync().stdout),
) || 100;

/** User + system CPU time, in µs, of each of `pids` that is alive (one `cat` for all). */
function cpuUs(pids: number[]): Map<number, number> {
  const times = new Map<number, number>();
  for (const line of proc(...pids.map((p) => `/proc/${p}/stat`)).split("\n")) {
    const close = line.lastIndexOf(")");
    if (close < 0) continue;
    const fields = line.slice(close + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    times.set(Number(line.slice(0, line.indexOf(" "))), (ticks * 1e6) / CLK_TCK);
  }
  return times;
}

/** The backends of the connections that the database's own role (our servers, the floors) holds. */
const backends = async (url: string) => {
  if (!cpuLocal) return [];
  const { name, user } = dbOf(url);
  const sql = "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND usename = $2";
  return (await adminDb.query(sql, [name, user])).map((r) => Number(r.pid));
};

const cpuUse = new Map<
  string,
  { calls: number; server: number; postgres: number; client: number }
>();

/** Runs one measured block of `group` (on one database) and adds its CPU time to `phase`/`label`. */
async function metered(
  phase: string,
  label: string,
  group: { pid: number; store: string }[],
  work: () => Promise<Sample>,
): Promise<Sample> {
  const pids = group.map((g) => g.pid);
  const pgBefore = await backends(group[0]!.store);
  const before = cpuUs([...pids, ...pgBefore, Deno.pid]);
  const result = await work();
  const pgAll = [...new Set([...pgBefore, ...await backends(group[0]!.store)])];
  const after = cpuUs([...pids, ...pgAll, Deno.pid]);
  // A process gone by the end counts nothing; one started meanwhile counts its whole life.
  const spent = (list: number[]) =>
    list.reduce(
      (a, p) => a + Math.max(0, (after.get(p) ?? before.get(p) ?? 0) - (before.get(p) ?? 0)),
      0,
    );
  const key = `${phase}\u0000${label}`;
  const use = cpuUse.get(key) ?? { calls: 0, server: 0, postgres: 0, client: 0 };
  use.calls += result.calls;
  use.server += spent(pids);
  use.postgres += spent(pgAll);
  use.client += spent([Deno.pid]);
  cpuUse.set(key, use);
  return result;
}

// ---------------------------------------------------------------------------------------
// The servers

/** Looks ids up in `table`'s `column` of the database at `url` (and counts its rows). */
const pgHeld = (table: string, column: string) => async (url: string, ids: string[]) => {
  const [row] = await dbOf(url).query(
    `SELECT (SELECT count(*) FROM ${table})::int AS rows,
            (SELECT count(*) FROM ${table} WHERE ${column} = ANY($1::text[]))::int AS found`,
    [ids],
  );
  return { found: Number(row?.found ?? 0), rows: Number(row?.rows ?? 0) };
};
const OURS: Kind = {
  label: "ours",
  command: (url, port) =>
    ourProgram(
      { HOME: tmp, SESSION_BUDDY_DB: url },
      port ? ["serve", "--http", `127.0.0.1:${port}`] : [],
    ),
  tool: "track_session_start",
  held: pgHeld("session_buddy.sessions", "session_id"),
};
const FLOOR_PG: Kind = {
  label: "FLOOR-PG",
  command: (url) => benchProgram("floor.ts", ["pg", url], { HOME: tmp }),
  tool: "pg_insert",
  held: pgHeld("bench_floor.records", "id"),
};
// ---------------------------------------------------------------------------------------
// The phases

const PHASES = {
  seq: "sequential",
  pipe: "pipelined",
  multi: `${S.multiProcs} processes`,
  http: `${S.clients} HTTP clients`,
};
const on = (phase: string, work: (i: StdioServer) => Promise<Sample>) => (i: StdioServer) =>
  metered(phase, i.label, [i], () => work(i));

await b.run(async () => {
  b.log(
    `PostgreSQL ${CLUSTER.version} on ${CLUSTER.host}:${CLUSTER.port} (${CLUSTER.source}; ` +
      `fsync=${CLUSTER.fsync}); ${MACHINE.cpu}, ${MACHINE.cores} cores; ${
        b.quick ? "QUICK" : "full"
      } sizes`,
  );
  const main = [new StdioServer(OURS, await fresh()), new StdioServer(FLOOR_PG, await fresh())];
  await Promise.all(main.map((i) => i.handshake()));
  // Warm-up, not timed (but counted in the stores): the code paths get compiled and the
  // pools open their connections.
  for (const inst of main) await inst.starts(50, 1), await inst.starts(200, S.depth);
  const common = { alternate: true, settle: checkpoint, setup: () => main };
  const count = (phase: string) => async () => {
    for (const i of main) await b.count(phase, i.label, [i]);
  };
  await b.phase({
    ...common,
    name: PHASES.seq,
    measures: "track_session_start one call at a time",
    rounds: S.seqRounds,
    run: on(PHASES.seq, (i) => i.starts(S.seqCalls, 1)),
    done: (label, s) => b.latency(label, "start", s),
    teardown: count(PHASES.seq),
  });
  await b.phase({
    ...common,
    name: PHASES.pipe,
    measures: `calls/s with ${S.depth} in flight on one connection`,
    rounds: S.pipeRounds,
    run: on(PHASES.pipe, (i) => i.starts(S.pipeCalls, S.depth)),
    done: (label, s) => b.latency(label, "pipelined", s, ["calls_s", "p50_ms"]),
    async teardown() {
      await count(PHASES.pipe)();
      await Promise.all(main.map((i) => i.close()));
    },
  });

  await b.phase({
    name: PHASES.multi,
    measures: `${S.multiProcs} processes on one database, ${S.depth} in flight each`,
    rounds: S.multiRounds,
    alternate: true,
    settle: checkpoint,
    async setup() {
      const groups: StdioServer[][] = [];
      for (const kind of [OURS, FLOOR_PG]) {
        const url = await fresh();
        const group = Array.from(
          { length: S.multiProcs },
          (_, i) => new StdioServer(kind, url, `${kind.label}#${i}`),
        );
        // One after another: the first creates the schema (the others would wait for its lock).
        for (const inst of group) await inst.handshake();
        for (const inst of group) await inst.starts(50, S.depth);
        groups.push(group);
      }
      return groups;
    },
    label: (g) => g[0]!.kind.label,
    run: (group) =>
      metered(
        PHASES.multi,
        group[0]!.kind.label,
        group,
        () => together(group, (i) => i.starts(S.multiCalls, S.depth)),
      ),
    done: (label, s) => b.latency(label, "multi4", s, ["calls_s"]),
    async teardown(groups) {
      for (const group of groups) {
        const label = group[0]!.kind.label;
        const row = await b.count(PHASES.multi, `${group.length}x ${label}`, group);
        b.set(label, "multi4_failed", row.failed_calls);
        b.set(label, "multi4_lost", row.lost);
      }
      await Promise.all(groups.flat().map((i) => i.close()));
    },
  });

  // Two collectors over HTTP sharing one database, 64 clients (half on each).
  const httpDb = await fresh();
  const collectors: HttpServer[] = [];
  for (let i = 0; i < S.collectors; i++) {
    collectors.push(new HttpServer(OURS, httpDb, freePort(), `collector#${i}`));
    // One after another, as above.
    await collectors[i]!.healthy(performance.now(), 5);
  }
  await b.clients({
    name: PHASES.http,
    measures: `${S.collectors} collectors (serve --http) on one database, ${S.clients} clients`,
    prefix: "http_c64",
    groups: [{ label: "ours", row: `${S.collectors}x collector`, servers: collectors }],
    clients: S.clients,
    rounds: S.httpRounds,
    ms: S.httpMs,
    settle: checkpoint,
    meter: (label, servers, work) => metered(PHASES.http, label, servers, work),
  });
});

// ---------------------------------------------------------------------------------------
// Targets and report

const F = (figure: (typeof FIGURES)[number]) => b.get("ours", figure);
b.vs("FLOOR-PG", "track_session_start p50 <= 1.3x FLOOR-PG", "start_p50_ms", "<= 1.3");
b.vs(
  "FLOOR-PG",
  `pipelined (${S.depth} in flight) calls/s >= 2x FLOOR-PG`,
  "pipelined_calls_s",
  ">= 2",
);
b.vs(
  "FLOOR-PG",
  `${S.multiProcs} processes on one database: calls/s >= 2x ${S.multiProcs}x FLOOR-PG, 0 failed, 0 lost`,
  "multi4_calls_s",
  ">= 2, 0 failed, 0 lost",
  F("multi4_failed") === 0 && F("multi4_lost") === 0,
);
b.target(
  `${S.collectors} collectors over HTTP on one database, ${S.clients} clients: ` +
    "0 failed, 0 lost, exit 0 on SIGTERM",
  "http_c64_lost",
  F("http_c64_lost"),
  null,
  "0 failed, 0 lost",
  {
    pass: F("http_c64_failed") === 0 && F("http_c64_lost") === 0 &&
      b.stored.filter((r) => r.phase === "after stop").every((r) => r.exit === 0),
    detail: `${fmt(F("http_c64_failed"))} failed, ${fmt(F("http_c64_lost"))} lost, ` +
      `${fmt(F("http_c64_calls_s"))} calls/s`,
  },
);

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
const LOAD_AFTER = loadAverage();
b.report([
  b.title("on PostgreSQL", false),
  `machine: ${MACHINE.cpu}, ${MACHINE.cores} cores (servers, PostgreSQL and the load generator ` +
  `share them); load average before ${LOAD_BEFORE}, after ${LOAD_AFTER}`,
  `cluster: PostgreSQL ${CLUSTER.version} on ${CLUSTER.host}:${CLUSTER.port} (${CLUSTER.source}); ` +
  `fsync=${CLUSTER.fsync}, synchronous_commit=${CLUSTER.synchronous_commit}, ` +
  `shared_buffers=${CLUSTER.shared_buffers}, max_connections=${CLUSTER.max_connections}`,
], [
  [
    "FLOOR-PG = a bare MCP SDK stdio server whose tool does one autocommitted INSERT (a " +
    "~500-byte record, a primary key and one index) through npm:pg's Pool, on a database of " +
    "its own. ours = session-buddy with SESSION_BUDDY_DB=postgres://..., a fresh database per " +
    "phase.",
    `start_*: one call at a time, ${S.seqRounds}x${S.seqCalls} calls; pipelined_*: ${S.depth} ` +
    `in flight on one connection, ${S.pipeRounds}x${S.pipeCalls}; multi4_*: ${S.multiProcs} ` +
    `processes on one database, ${S.depth} in flight each, ${S.multiRounds}x${S.multiCalls} ` +
    `per process; http_c64_*: ${S.collectors} collectors (serve --http) on one database, ` +
    `${S.clients} clients (each its own keep-alive connection, alternately on each collector) ` +
    `calling back to back, ${S.httpRounds}x${S.httpMs} ms; lost = acknowledged ids missing ` +
    "from the database (while running and after a SIGTERM stop). Servers of one phase take " +
    "turns, round by round.",
    ...CLUSTER.fsync !== "off" ? [] : [
      "fsync=off: commits do not wait for the disk, so these figures are CPU and round trips; " +
      "on a durable cluster each of FLOOR-PG's commits also waits for a WAL flush, which " +
      "favours grouping (without --fsync-off the bench starts a durable cluster).",
    ],
  ],
  [
    "CPU time per call (µs, user + system, measured blocks only): the server process(es), the " +
    "PostgreSQL backends of their connections" +
    (cpuLocal ? "" : " (not measured: the cluster is not on this machine)") +
    ", and this load generator; max_calls_s = what the cores could do at that cost:",
    ...table(
      ["phase", "server", "server_us", "postgres_us", "client_us", "sum_us", "max_calls_s"],
      cpu.map((c) => {
        const sum = (c.server_us ?? 0) + (c.postgres_us ?? 0) + (c.client_us ?? 0);
        const max = sum > 0 ? (MACHINE.cores * 1e6) / sum : null;
        const cells = [c.server_us, c.postgres_us, c.client_us, sum, max];
        return [c.phase, c.server, ...cells.map(fmt)];
      }),
    ),
  ],
  ["stored (acknowledged ids looked up in the database itself):", ...b.storedTable()],
]);

await b.finish({
  machine: { ...MACHINE, load_average: { before: LOAD_BEFORE, after: LOAD_AFTER } },
  cluster: CLUSTER,
  sizes: S,
  cpu,
  stored: b.stored,
  ours_clean: b.clean((server) => !server.includes("FLOOR")),
});
