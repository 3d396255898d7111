/**
 * `deno task bench:http`: the benchmark of the Streamable HTTP transport (issue 11).
 *
 * Runs our server and two baselines, interleaved in one run on one machine, each as a
 * subprocess listening on a loopback port, spoken to with `fetch` (raw JSON-RPC POSTs to
 * `/mcp`, so that the client costs the same, and little, for every server):
 *
 * - `ours`           `session-buddy serve --http 127.0.0.1:PORT`, started exactly as
 *                    `deno task start` does it, store in a temp folder.
 * - `FLOOR-HTTP`     bench/floor_http.ts: `Deno.serve` + the SDK's stateless
 *                    `WebStandardStreamableHTTPServerTransport` (JSON answers, a new transport
 *                    and `Server` per request) with one no-op tool, and `GET /healthz`.
 * - `FLOOR-HTTP-KV`  bench/floor_http_kv.ts: the same, whose tool does one Deno KV commit.
 *
 * Figures: cold start (spawn to the first 200 from `GET /healthz`, median); sequential
 * `track_session_start` latency p50/p99 and calls/s, one call at a time on one keep-alive
 * connection; 64 clients, each on its own keep-alive connection, calling back to back for a
 * fixed time: aggregate calls/s, latency under load, failed calls, and lost ones (starts
 * acknowledged but missing from the store, looked up by id in the store itself while the
 * server runs and again after it stopped); RSS growth per idle keep-alive connection
 * (VmRSS of the server process before and after 1,000 connections that made one request
 * each and stay open). Measured phases are repeated, alternating servers, to spread the
 * machine's noise over all of them. Targets are ratios inside this run, printed as
 * pass/fail.
 *
 *     deno task bench:http            # full size (a few minutes on 2 cores)
 *     deno task bench:http --quick    # tiny counts, a smoke run (seconds)
 *     deno task bench:http --keep     # keep the temp folder with the stores
 *
 * Always exits 0 once the run completes (targets are reported, not enforced); the last
 * line of stdout is one JSON object with every figure.
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
import { type Command, HttpConn, type Message, percentile } from "./clients.ts";

// ---------------------------------------------------------------------------------------
// Options

interface Sizes {
  /** Cold starts per server (after one uncounted round). */
  coldRuns: number;
  /** Sequential phase: rounds, and calls per round per server. */
  seqRounds: number;
  seqCalls: number;
  /** Concurrent phase: clients, rounds, and how long each round lasts per server. */
  clients: number;
  loadRounds: number;
  loadMs: number;
  /** Idle-connection phase: rounds (a fresh server each), connections held open. */
  idleRounds: number;
  idleConns: number;
  /** Calls (and as many health checks) before the first RSS reading, over 16 connections. */
  idleWarmup: number;
}

const FULL: Sizes = {
  coldRuns: 10,
  seqRounds: 4,
  seqCalls: 250,
  clients: 64,
  loadRounds: 3,
  loadMs: 3000,
  idleRounds: 3,
  idleConns: 1000,
  idleWarmup: 3000,
};

const QUICK: Sizes = {
  coldRuns: 2,
  seqRounds: 2,
  seqCalls: 10,
  clients: 64,
  loadRounds: 1,
  loadMs: 300,
  idleRounds: 1,
  idleConns: 50,
  idleWarmup: 64,
};

function parseOptions(args: string[]) {
  const o = { quick: false, keep: false };
  for (const arg of args) {
    if (arg === "--quick") o.quick = true;
    else if (arg === "--keep") o.keep = true;
    else {
      console.error(`unknown argument '${arg}' (use --quick, --keep)`);
      Deno.exit(2);
    }
  }
  return o;
}

// ---------------------------------------------------------------------------------------
// The servers (each simulated client is an HttpConn of ./clients.ts: its own keep-alive
// connection)

interface Kind {
  label: string;
  command(port: number, store: string): Command;
  /** The tool a start calls. */
  tool: string;
  /** The id the store holds a start under when the reply acknowledges it, else null. */
  acknowledged(args: Record<string, unknown>, reply: Message | null): string | null;
  /** Where the store keeps one record per start; null for a server that stores nothing. */
  prefix: Deno.KvKey | null;
}

function structured(reply: Message | null): Record<string, unknown> | null {
  const result = reply?.result as Record<string, unknown> | undefined;
  if (!result || result.isError) return null;
  return (result.structuredContent as Record<string, unknown> | undefined) ?? null;
}

function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

const floorCommand = (file: string, port: number, store: string): Command => ({
  command: Deno.execPath(),
  args: [
    "run",
    ...RUNTIME_FLAGS,
    ...DEV_FLAGS,
    "--config",
    CONFIG,
    `${ROOT}bench/${file}`,
    String(port),
    store,
  ],
  env: { HOME: dirOf(store) },
});

const OURS: Kind = {
  label: "ours",
  command: (port, store) => ({
    ...programCommand(["serve", "--http", `127.0.0.1:${port}`]),
    env: { HOME: dirOf(store), SESSION_BUDDY_DB: store },
  }),
  tool: "track_session_start",
  acknowledged(_args, reply) {
    const s = structured(reply);
    return s?.status === "tracked" && typeof s.session_id === "string" ? s.session_id : null;
  },
  prefix: ["session"],
};

const FLOOR_HTTP: Kind = {
  label: "FLOOR-HTTP",
  command: (port, store) => floorCommand("floor_http.ts", port, store),
  tool: "noop",
  acknowledged: (args, reply) => structured(reply)?.status === "ok" ? String(args.event_id) : null,
  prefix: null,
};

const FLOOR_HTTP_KV: Kind = {
  label: "FLOOR-HTTP-KV",
  command: (port, store) => floorCommand("floor_http_kv.ts", port, store),
  tool: "kv_insert",
  acknowledged(_args, reply) {
    const s = structured(reply);
    return s?.status === "tracked" && typeof s.session_id === "string" ? s.session_id : null;
  },
  prefix: ["rec"],
};

const KINDS = [OURS, FLOOR_HTTP, FLOOR_HTTP_KV];

/** One server process of one kind on one store, and what it acknowledged. */
class Instance {
  readonly child: Deno.ChildProcess;
  readonly port = freePort();
  readonly origin: string;
  /** Ids of the starts it acknowledged. */
  readonly acked: string[] = [];
  failed = 0;
  #errTail = "";
  #exit: Deno.CommandStatus | null = null;
  readonly #drained: Promise<unknown>;

  constructor(readonly kind: Kind, readonly store: string) {
    this.origin = `http://127.0.0.1:${this.port}`;
    const cmd = kind.command(this.port, store);
    this.child = spawnPiped(cmd, cmd.env);
    this.child.stdin.close().catch(() => {});
    this.child.status.then((s) => this.#exit = s);
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      // Drained as a supervisor would; only the tail is kept, for error messages.
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        this.#errTail = (this.#errTail + chunk).slice(-4000);
      }
    };
    this.#drained = Promise.all([drain(this.child.stdout), drain(this.child.stderr)]);
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Polls GET /healthz every millisecond until a 200; the time since `since`. */
  async healthy(since: number, timeoutMs = 30_000): Promise<number> {
    const conn = new HttpConn(this.origin);
    try {
      while (true) {
        try {
          if (await conn.health() === 200) return performance.now() - since;
        } catch { /* not listening yet */ }
        if (this.#exit) {
          throw new Error(`${this.kind.label} exited (${this.#exit.code}):\n${this.#errTail}`);
        }
        if (performance.now() - since > timeoutMs) {
          throw new Error(
            `${this.kind.label} not healthy after ${timeoutMs} ms:\n${this.#errTail}`,
          );
        }
        await new Promise((r) => setTimeout(r, 1));
      }
    } finally {
      conn.close();
    }
  }

  /** VmRSS of the server process, in KiB. */
  rssKib(): number {
    // Deno lets only --allow-all read /proc files; `cat` needs just the run permission.
    const status = new TextDecoder().decode(
      new Deno.Command("cat", { args: [`/proc/${this.pid}/status`] }).outputSync().stdout,
    );
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  }

  /** Open file descriptors of the server process (each connection holds one). */
  fds(): number {
    const out = new TextDecoder().decode(
      new Deno.Command("ls", { args: [`/proc/${this.pid}/fd`] }).outputSync().stdout,
    );
    return out.split("\n").filter((l) => l.trim() !== "").length;
  }

  /**
   * RSS at rest, in KiB: after a pause, the median of five readings 100 ms apart, so that
   * one reading caught before a garbage collection does not stand for the process.
   */
  async restingRssKib(): Promise<number> {
    await new Promise((r) => setTimeout(r, 500));
    const readings: number[] = [];
    for (let i = 0; i < 5; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      readings.push(this.rssKib());
    }
    return median(readings);
  }

  /** One `track_session_start` (or the floor's tool) on `conn`: its latency in ms. */
  async start(conn: HttpConn): Promise<number> {
    const args = startArgs();
    const body = conn.body("tools/call", { name: this.kind.tool, arguments: args });
    const t0 = performance.now();
    let reply: Message | null = null;
    try {
      reply = (await conn.post(body)).message;
    } catch { /* a failed call */ }
    const ms = performance.now() - t0;
    const id = this.kind.acknowledged(args, reply);
    if (id === null) this.failed++;
    else this.acked.push(id);
    return ms;
  }

  /** SIGTERM (a graceful stop for all three), SIGKILL if it lingers; the exit code. */
  async stop(): Promise<number> {
    const waited = async (ms: number) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.child.status, new Promise((r) => timer = setTimeout(r, ms))]);
      clearTimeout(timer);
    };
    if (!this.#exit) {
      try {
        this.child.kill("SIGTERM");
      } catch { /* gone */ }
      await waited(15_000);
    }
    if (!this.#exit) {
      try {
        this.child.kill("SIGKILL");
      } catch { /* gone */ }
    }
    const { code } = await this.child.status;
    await this.#drained.catch(() => {});
    return code;
  }
}

/** How many of `ids` the store at `path` does not hold under `prefix`. */
async function missing(path: string, prefix: Deno.KvKey, ids: string[]): Promise<number> {
  const kv = await Deno.openKv(path);
  try {
    const held = new Set<string>();
    for await (const entry of kv.list({ prefix }, { batchSize: 1000 })) {
      held.add(String(entry.key[prefix.length]));
    }
    return ids.filter((id) => !held.has(id)).length;
  } finally {
    kv.close();
  }
}

// ---------------------------------------------------------------------------------------
// Reporting helpers

function median(values: number[]): number {
  return percentile([...values].sort((a, b) => a - b), 0.5);
}

interface StoredRow {
  phase: string;
  server: string;
  acknowledged: number;
  /** Acknowledged starts the store holds; null for a server that stores nothing. */
  stored: number | null;
  failed_calls: number;
  lost: number | null;
  /** The exit status, once stopped. */
  exit: number | null;
}

const storedRows: StoredRow[] = [];

async function countPhase(phase: string, inst: Instance, exit: number | null): Promise<StoredRow> {
  const lost = inst.kind.prefix ? await missing(inst.store, inst.kind.prefix, inst.acked) : null;
  const row: StoredRow = {
    phase,
    server: inst.kind.label,
    acknowledged: inst.acked.length,
    stored: lost === null ? null : inst.acked.length - lost,
    failed_calls: inst.failed,
    lost,
    exit,
  };
  storedRows.push(row);
  return row;
}

/** Flushes dirty pages to disk and pauses briefly, before each measured block. */
async function settle(ms = 150): Promise<void> {
  await new Deno.Command("sync").output().catch(() => {});
  await new Promise((r) => setTimeout(r, ms));
}

function log(message: string): void {
  console.error(`[bench:http ${((performance.now() - BEGAN) / 1000).toFixed(1)}s] ${message}`);
}

const round = (x: number, digits = 2) => Number.isFinite(x) ? Number(x.toFixed(digits)) : null;

/** Runs `fn` on `n` items, at most `width` at a time. */
async function inBatches<T>(n: number, width: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += width) {
    out.push(
      ...await Promise.all(
        Array.from({ length: Math.min(width, n - i) }, (_, j) => fn(i + j)),
      ),
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Main

/** The machine's load average (1, 5, 15 min), to judge how noisy a run was. */
function loadAverage(): string {
  const text = new TextDecoder().decode(
    new Deno.Command("cat", { args: ["/proc/loadavg"] }).outputSync().stdout,
  );
  return text.split(" ").slice(0, 3).join(" ");
}

const BEGAN = performance.now();
const LOAD_BEFORE = loadAverage();
const options = parseOptions(Deno.args);
const S = options.quick ? QUICK : FULL;
const tmp = await Deno.makeTempDir({ prefix: "session-buddy-bench-http-" });
const storeOf = (name: string) => `${tmp}/${name}`;

const SERVERS = KINDS.map((k) => k.label);
const FIGURE_NAMES = [
  "cold_start_ms",
  "start_p50_ms",
  "start_p99_ms",
  "start_calls_s",
  "c64_calls_s",
  "c64_p50_ms",
  "c64_p99_ms",
  "c64_failed",
  "c64_lost",
  "rss_base_mb",
  "rss_idle_mb",
  "idle_conn_kib",
  "idle_fds_added",
] as const;
type FigureName = (typeof FIGURE_NAMES)[number];
const noFigures = () =>
  Object.fromEntries(FIGURE_NAMES.map((f) => [f, null])) as Record<FigureName, number | null>;
const figures = Object.fromEntries(SERVERS.map((s) => [s, noFigures()]));
const set = (server: string, figure: FigureName, value: number | null) => {
  figures[server]![figure] = value === null ? null : round(value);
};
const live: Instance[] = [];

try {
  log(`temp folder ${tmp}; ${options.quick ? "QUICK" : "full"} sizes`);

  // ---- 1. Cold start, interleaved: every round starts each kind once. -----------------
  const cold = new Map<string, number[]>(SERVERS.map((s) => [s, []]));
  for (let r = 0; r < S.coldRuns + 1; r++) {
    for (const kind of KINDS) {
      const t0 = performance.now();
      const inst = new Instance(kind, storeOf(`cold-${kind.label}.kv`));
      live.push(inst);
      const ms = await inst.healthy(t0);
      // Round 0 warms the module cache and creates the stores; it is not counted.
      if (r > 0) cold.get(kind.label)!.push(ms);
      await inst.stop();
      live.splice(live.indexOf(inst), 1);
    }
  }
  for (const [label, values] of cold) set(label, "cold_start_ms", median(values));
  log("cold start done");

  // ---- 2. Sequential, then 3. 64 clients, on long-lived servers. ----------------------
  const main = KINDS.map((kind) => new Instance(kind, storeOf(`${kind.label}.kv`)));
  live.push(...main);
  await Promise.all(main.map((i) => i.healthy(performance.now())));
  const seqConns = main.map((i) => new HttpConn(i.origin));
  await Promise.all(seqConns.map((c) => c.initialize()));
  // A short warm-up on each, not counted in latencies (but counted in the stores).
  for (const [n, inst] of main.entries()) {
    for (let i = 0; i < 50; i++) await inst.start(seqConns[n]!);
  }
  const seq = new Map<string, { latencies: number[]; ms: number }>(
    SERVERS.map((s) => [s, { latencies: [], ms: 0 }]),
  );
  for (let r = 0; r < S.seqRounds; r++) {
    for (const [n, inst] of main.entries()) {
      const s = seq.get(inst.kind.label)!;
      await settle();
      const t0 = performance.now();
      for (let i = 0; i < S.seqCalls; i++) s.latencies.push(await inst.start(seqConns[n]!));
      s.ms += performance.now() - t0;
    }
  }
  for (const [label, s] of seq) {
    const sorted = [...s.latencies].sort((a, b) => a - b);
    set(label, "start_p50_ms", percentile(sorted, 0.5));
    set(label, "start_p99_ms", percentile(sorted, 0.99));
    set(label, "start_calls_s", (sorted.length / s.ms) * 1000);
  }
  for (const inst of main) await countPhase("sequential", inst, null);
  log("sequential done");

  const loadConns = main.map((i) =>
    Array.from({ length: S.clients }, () => new HttpConn(i.origin))
  );
  await Promise.all(loadConns.flat().map((c) => c.initialize()));
  /** Every client calls back to back for `ms`; returns the wall time and the latencies. */
  const burst = async (n: number, ms: number) => {
    const inst = main[n]!;
    const latencies: number[] = [];
    const t0 = performance.now();
    const until = t0 + ms;
    await Promise.all(loadConns[n]!.map(async (conn) => {
      while (performance.now() < until) latencies.push(await inst.start(conn));
    }));
    return { wallMs: performance.now() - t0, latencies };
  };
  // A short burst on each first, not counted (but counted in the stores): the code paths
  // of concurrent calls get compiled before they are timed.
  for (const n of main.keys()) await burst(n, S.loadMs / 6);
  const load = new Map<string, { calls: number; failed: number; ms: number; lat: number[] }>(
    SERVERS.map((s) => [s, { calls: 0, failed: 0, ms: 0, lat: [] }]),
  );
  for (let r = 0; r < S.loadRounds; r++) {
    for (const [n, inst] of main.entries()) {
      const l = load.get(inst.kind.label)!;
      await settle();
      const ackedBefore = inst.acked.length;
      const failedBefore = inst.failed;
      const { wallMs, latencies } = await burst(n, S.loadMs);
      l.ms += wallMs;
      l.lat.push(...latencies);
      l.calls += inst.acked.length - ackedBefore;
      l.failed += inst.failed - failedBefore;
    }
  }
  const lostAt = new Map<string, number>();
  for (const inst of main) {
    const l = load.get(inst.kind.label)!;
    const sorted = l.lat.sort((a, b) => a - b);
    set(inst.kind.label, "c64_calls_s", (l.calls / l.ms) * 1000);
    set(inst.kind.label, "c64_p50_ms", percentile(sorted, 0.5));
    set(inst.kind.label, "c64_p99_ms", percentile(sorted, 0.99));
    set(inst.kind.label, "c64_failed", l.failed);
    const row = await countPhase(`${S.clients} clients`, inst, null);
    if (row.lost !== null) lostAt.set(inst.kind.label, row.lost);
  }
  for (const conn of [...seqConns, ...loadConns.flat()]) conn.close();
  // Stopped (SIGTERM: ours answers what is in progress and writes what waits), then the
  // stores are looked at again, closed.
  for (const inst of main) {
    const row = await countPhase("after stop", inst, await inst.stop());
    if (row.lost !== null) {
      set(inst.kind.label, "c64_lost", Math.max(row.lost, lostAt.get(inst.kind.label) ?? 0));
    }
  }
  live.length = 0;
  log(`${S.clients} clients done`);

  // ---- 4. RSS per idle keep-alive connection: a fresh server per kind and round. ------
  const idle = new Map<
    string,
    { base: number[]; withIdle: number[]; kib: number[]; fds: number[] }
  >(
    SERVERS.map((s) => [s, { base: [], withIdle: [], kib: [], fds: [] }]),
  );
  for (let r = 0; r < S.idleRounds; r++) {
    for (const kind of KINDS) {
      const inst = new Instance(kind, storeOf(`idle-${kind.label}-${r}.kv`));
      live.push(inst);
      await inst.healthy(performance.now());
      // The heap grows to its working size on the kinds of requests measured below.
      const warm = Array.from({ length: 16 }, () => new HttpConn(inst.origin));
      await Promise.all(warm.map(async (conn, i) => {
        await conn.initialize();
        for (let n = i; n < S.idleWarmup; n += warm.length) {
          await inst.start(conn);
          if (await conn.health() !== 200) inst.failed++;
        }
      }));
      for (const conn of warm) conn.close();
      await settle();
      const base = await inst.restingRssKib();
      const fdsBefore = inst.fds();
      const conns: HttpConn[] = [];
      await inBatches(S.idleConns, 50, async () => {
        const conn = new HttpConn(inst.origin);
        conns.push(conn);
        if (await conn.health() !== 200) inst.failed++;
      });
      const withIdle = await inst.restingRssKib();
      const fdsAdded = inst.fds() - fdsBefore;
      const f = idle.get(kind.label)!;
      f.base.push(base / 1024);
      f.withIdle.push(withIdle / 1024);
      f.kib.push((withIdle - base) / S.idleConns);
      f.fds.push(fdsAdded);
      for (const conn of conns) conn.close();
      await countPhase(`idle connections #${r + 1}`, inst, await inst.stop());
      live.splice(live.indexOf(inst), 1);
    }
  }
  for (const [label, f] of idle) {
    set(label, "rss_base_mb", median(f.base));
    set(label, "rss_idle_mb", median(f.withIdle));
    set(label, "idle_conn_kib", median(f.kib));
    set(label, "idle_fds_added", median(f.fds));
  }
  log("idle connections done");
} catch (error) {
  console.error(error);
  await Promise.all(live.map((i) => i.stop().catch(() => {})));
  if (!options.keep) await Deno.remove(tmp, { recursive: true }).catch(() => {});
  Deno.exit(1);
}

// ---------------------------------------------------------------------------------------
// Targets

interface Target {
  target: string;
  figure: string;
  ours: number | null;
  baseline: number | null;
  ratio: number | null;
  limit: string;
  pass: boolean;
}

const F = (server: string, figure: FigureName) => figures[server]![figure]!;
const ratio = (a: number, b: number) => (b > 0 ? a / b : NaN);
const oursClean = storedRows.filter((r) => r.server === "ours")
  .every((r) => r.failed_calls === 0 && r.lost === 0 && (r.exit === null || r.exit === 0));

const targets: Target[] = [];
function target(
  name: string,
  figure: FigureName,
  baseline: string,
  limit: string,
  ok: (r: number) => boolean,
  extra = true,
) {
  const r = ratio(F("ours", figure), F(baseline, figure));
  targets.push({
    target: name,
    figure,
    ours: F("ours", figure),
    baseline: F(baseline, figure),
    ratio: round(r, 3),
    limit,
    pass: Number.isFinite(r) && ok(r) && extra,
  });
}
target(
  "track_session_start p50 <= 1.3x FLOOR-HTTP-KV",
  "start_p50_ms",
  "FLOOR-HTTP-KV",
  "<= 1.3",
  (r) => r <= 1.3,
);
target(
  `${S.clients} clients: calls/s >= 2x FLOOR-HTTP-KV, 0 failed, 0 lost`,
  "c64_calls_s",
  "FLOOR-HTTP-KV",
  ">= 2, 0 failed, 0 lost",
  (r) => r >= 2,
  F("ours", "c64_failed") === 0 && F("ours", "c64_lost") === 0,
);
target(
  "RSS per idle keep-alive connection <= 1.25x FLOOR-HTTP",
  "idle_conn_kib",
  "FLOOR-HTTP",
  "<= 1.25",
  (r) => r <= 1.25,
);
target(
  "cold start to the first 200 of /healthz <= 1.3x FLOOR-HTTP",
  "cold_start_ms",
  "FLOOR-HTTP",
  "<= 1.3",
  (r) => r <= 1.3,
);

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
const targetOf = new Map(targets.map((t) => [t.figure, t]));
const header = ["figure", ...SERVERS, "target"];
const rows: string[][] = FIGURE_NAMES.map((f) => {
  const t = targetOf.get(f);
  return [
    f,
    ...SERVERS.map((s) => fmt(figures[s]![f])),
    t ? `${t.pass ? "PASS" : "FAIL"} ${t.ratio ?? "-"}x (${t.limit})` : "",
  ];
});
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) =>
  cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");

const out: string[] = [];
out.push("");
out.push(
  `session-buddy HTTP transport (${options.quick ? "QUICK counts, not meaningful" : "full"}; ` +
    `deno ${Deno.version.deno}; ${navigator.hardwareConcurrency} cores; all in one run)`,
);
out.push(line(header));
for (const r of rows) out.push(line(r));
out.push("");
out.push(
  "FLOOR-HTTP = Deno.serve + the SDK's stateless WebStandardStreamableHTTPServerTransport " +
    "(JSON answers) + a low-level SDK Server with a no-op tool; FLOOR-HTTP-KV = the same whose " +
    "tool does one Deno KV commit (and whose /healthz reads one key). start = " +
    "track_session_start for ours, the floors' tool with the same arguments.",
);
out.push(
  `cold start: spawn to the first 200 of GET /healthz (polled every ms), median of ` +
    `${S.coldRuns}. start_*: one call at a time on one keep-alive connection, ` +
    `${S.seqRounds}x${S.seqCalls} calls. c64_*: ${S.clients} clients, each on its own ` +
    `keep-alive connection, calling back to back for ${S.loadMs} ms, ${S.loadRounds} rounds; ` +
    "lost = acknowledged starts missing from the store (while running and after a SIGTERM stop). " +
    `rss_*: fresh servers after ${S.idleWarmup} calls and health checks, then with ` +
    `${S.idleConns} idle keep-alive connections that made one GET /healthz each (VmRSS at rest, ` +
    `median of ${S.idleRounds} rounds); idle_fds_added shows they stayed open. ` +
    "The load generator runs on the same cores as the servers.",
);
const LOAD_AFTER = loadAverage();
out.push(`load average (1, 5, 15 min) before the run: ${LOAD_BEFORE}; after: ${LOAD_AFTER}`);
out.push("");
out.push("stored (acknowledged starts looked up in the store itself):");
const sHeader = ["phase", "server", "stored/acknowledged", "failed", "lost", "exit"];
const sRows = storedRows.map((r) => [
  r.phase,
  r.server,
  r.stored === null
    ? `- (stores nothing; ${r.acknowledged} answered)`
    : `${r.stored}/${r.acknowledged}`,
  String(r.failed_calls),
  r.lost === null ? "-" : r.lost > 0 ? `${r.lost} LOST` : "0",
  r.exit === null ? "running" : String(r.exit),
]);
const sw = sHeader.map((h, i) => Math.max(h.length, ...sRows.map((r) => r[i]!.length)));
out.push(sHeader.map((c, i) => c.padEnd(sw[i]!)).join("  "));
for (const r of sRows) out.push(r.map((c, i) => c.padEnd(sw[i]!)).join("  "));
out.push("");
out.push("targets (ratios inside this run):");
for (const t of targets) {
  out.push(
    `  ${t.pass ? "PASS" : "FAIL"}  ${t.target}: ${fmt(t.ours)} vs ${fmt(t.baseline)} = ${
      t.ratio ?? "-"
    }x (${t.limit})`,
  );
}
const passed = targets.filter((t) => t.pass).length;
out.push(
  `overall: ${passed === targets.length ? "PASS" : "FAIL"} (${passed}/${targets.length} targets)`,
);
console.log(out.join("\n"));

if (!options.keep) await Deno.remove(tmp, { recursive: true }).catch(() => {});
else console.error(`stores kept in ${tmp}`);

console.log(JSON.stringify({
  bench: "http",
  quick: options.quick,
  deno: Deno.version.deno,
  cores: navigator.hardwareConcurrency,
  seconds: round((performance.now() - BEGAN) / 1000, 1),
  load_average: { before: LOAD_BEFORE, after: LOAD_AFTER },
  sizes: S,
  figures,
  targets,
  stored: storedRows,
  ours_clean: oursClean,
  pass: passed === targets.length,
}));
