/**
 * The one harness every benchmark is declared on: options and `[full, --quick]` sizes, phases
 * (subjects measured round by round, taking turns, settled before each block), figures per
 * server, targets as ratios to a baseline, the report (figure table, targets, verdict), the
 * servers under test and their clients, clean-up, and the final one-line JSON object.
 */
// tests/helpers/server.ts runs `deno info` when it loads: only where children may be run.
const helpers = (await Deno.permissions.query({ name: "run" })).state === "granted"
  ? await import("../tests/helpers/server.ts")
  : null;

export type Message = Record<string, unknown>;
export interface Command {
  command: string;
  args: string[];
  env: Record<string, string>;
}

// ---------------------------------------------------------------------------------------
// Numbers, tables, the machine

/** The `p` quantile (0-1) of sorted values: the first value at or above that share. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
export const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
export const median = (xs: number[]) => percentile(sorted(xs), 0.5);
export const round = (x: number, digits = 2) =>
  Number.isFinite(x) ? Number(x.toFixed(digits)) : null;
export const fmt = (v: number | null | undefined) =>
  v === null || v === undefined
    ? "-"
    : v.toFixed(Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Aligned columns: the first left-aligned, the others right-aligned. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** `deno run` of bench/`file` with the runtime flags of `deno task start` (a baseline). */
export function benchProgram(file: string, args: string[], env: Record<string, string>): Command {
  const { CONFIG, DEV_FLAGS, ROOT, RUNTIME_FLAGS } = helpers!;
  const path = `${ROOT}bench/${file}`;
  return {
    command: Deno.execPath(),
    args: ["run", ...RUNTIME_FLAGS, ...DEV_FLAGS, "--config", CONFIG, path, ...args],
    env,
  };
}
/** session-buddy itself (`args` after `main.ts`), as `deno task start` runs it. */
export const ourProgram = (env: Record<string, string>, args: string[] = []): Command => ({
  ...helpers!.programCommand(args),
  env,
});
/** The folder of a store file: the HOME of the server on it. */
export const homeOf = (store: string) => ({ HOME: store.slice(0, store.lastIndexOf("/")) });

/** Files of /proc as text (Deno lets only --allow-all read /proc; `cat` needs just run). */
export function proc(...paths: string[]): string {
  const out = new Deno.Command("cat", { args: paths, stderr: "null" }).outputSync();
  return new TextDecoder().decode(out.stdout);
}
export const loadAverage = () => proc("/proc/loadavg").split(" ").slice(0, 3).join(" ");

/** Flushes dirty pages (or runs `flush`, a CHECKPOINT) and pauses before a measured block. */
export async function settle(ms = 150, flush?: () => Promise<unknown>): Promise<void> {
  await (flush ? flush() : new Deno.Command("sync").output()).catch(() => {});
  await sleep(ms);
}

// ---------------------------------------------------------------------------------------
// Drivers: a sample is latencies (ms), calls and wall time of one measured block

export interface Sample {
  latencies: number[];
  calls: number;
  ms: number;
}
export const emptySample = (): Sample => ({ latencies: [], calls: 0, ms: 0 });
export function add(to: Sample, s: Sample): Sample {
  to.latencies.push(...s.latencies);
  to.calls += s.calls;
  to.ms += s.ms;
  return to;
}

/** `n` calls of `one`, `depth` in flight; it returns a latency, null (not timed) or false (stop). */
export async function drive(
  n: number,
  depth: number,
  one: () => Promise<number | null | false>,
): Promise<Sample> {
  const latencies: number[] = [];
  let issued = 0;
  const lane = async () => {
    while (issued < n) {
      issued++;
      const ms = await one();
      if (ms === false) return;
      if (ms !== null) latencies.push(ms);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: depth }, lane));
  return { latencies, calls: latencies.length, ms: performance.now() - t0 };
}

/** Every client calls `one` back to back for `ms`. */
export async function burst<C>(clients: C[], ms: number, one: (c: C) => Promise<number>) {
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(clients.map(async (c) => {
    while (performance.now() < t0 + ms) latencies.push(await one(c));
  }));
  return { latencies, calls: latencies.length, ms: performance.now() - t0 };
}

/** Runs `work` on every member of `group` at once: the calls of all, in their wall time. */
export async function together<T>(group: T[], work: (t: T) => Promise<Sample>): Promise<Sample> {
  const t0 = performance.now();
  const all = await Promise.all(group.map(work));
  return { latencies: [], calls: all.reduce((a, x) => a + x.calls, 0), ms: performance.now() - t0 };
}

// ---------------------------------------------------------------------------------------
// Processes and clients

/** A server process: its output drained (the tail kept for errors), its memory, its stop. */
export class Child {
  static readonly live = new Set<Child>();
  readonly child: Deno.ChildProcess;
  readonly pid: number;
  exit: Deno.CommandStatus | null = null;
  readonly acked: string[] = [];
  failed = 0;
  protected errTail = "";
  protected done: Promise<unknown>;

  constructor(readonly label: string, cmd: Command, readStdout = true) {
    this.child = helpers!.spawnPiped(cmd, cmd.env);
    this.pid = this.child.pid;
    this.child.status.then((s) => this.exit = s);
    Child.live.add(this);
    const streams = readStdout ? [this.child.stdout, this.child.stderr] : [this.child.stderr];
    this.done = Promise.all(streams.map(async (stream) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        this.errTail = (this.errTail + chunk).slice(-4000);
      }
    }));
  }
  get stderrTail(): string {
    return this.errTail;
  }
  ack(id: string | null): void {
    if (id === null) this.failed++;
    else this.acked.push(id);
  }

  /** VmRSS and VmHWM of the process, in MiB. */
  memory(): { rss: number; hwm: number } {
    const status = proc(`/proc/${this.pid}/status`);
    const mb = (field: string) =>
      Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024;
    return { rss: mb("VmRSS"), hwm: mb("VmHWM") };
  }
  /** RSS at rest: the median of five readings 100 ms apart after 500 ms (and VmHWM). */
  async restingRss(): Promise<{ rss: number; hwm: number }> {
    const readings: number[] = [];
    for (let i = 0; i < 5; i++) {
      await sleep(i ? 100 : 500);
      readings.push(this.memory().rss);
    }
    return { rss: median(readings), hwm: this.memory().hwm };
  }
  fds(): number {
    const out = new Deno.Command("ls", { args: [`/proc/${this.pid}/fd`] }).outputSync().stdout;
    return new TextDecoder().decode(out).split("\n").filter((l) => l.trim() !== "").length;
  }

  /** A SIGTERM (`sigterm`; else it was asked already), SIGKILL `graceMs` later; the exit code. */
  async stop(sigterm = true, graceMs = 15_000): Promise<number> {
    const wait = async (ms: number) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.child.status, new Promise((r) => timer = setTimeout(r, ms))]);
      clearTimeout(timer);
    };
    if (!sigterm) await wait(graceMs);
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      if (this.exit) break;
      try {
        this.child.kill(signal);
      } catch { /* gone */ }
      await wait(sigterm && signal === "SIGTERM" ? graceMs : 2000);
    }
    const { code } = await this.child.status;
    await this.done.catch(() => {});
    Child.live.delete(this);
    return code;
  }
  close(): Promise<number> {
    return this.stop();
  }
}

const INIT = {
  protocolVersion: "2025-06-18",
  capabilities: {},
  clientInfo: { name: "session-buddy-bench", version: "1.0.0" },
};

/** A server process spoken to over its stdin/stdout (newline-delimited JSON-RPC). */
export class RpcClient extends Child {
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #pending = new Map<number, (message: Message) => void>();
  #nextId = 1;

  constructor(cmd: Command, label = "server") {
    super(label, cmd, false);
    this.#writer = this.child.stdin.getWriter();
    this.done = Promise.all([this.done, this.#readOut()]);
  }
  async #readOut(): Promise<void> {
    let rest = "";
    for await (const chunk of this.child.stdout.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const line of parts.filter((l) => l.trim() !== "")) {
        const msg = JSON.parse(line) as Message;
        if (typeof msg.id === "number" && ("result" in msg || "error" in msg)) {
          this.#pending.get(msg.id)?.(msg);
          this.#pending.delete(msg.id);
        }
      }
    }
    const error = { error: { code: -1, message: `server exited: ${this.errTail.slice(-500)}` } };
    for (const resolve of this.#pending.values()) resolve(error);
    this.#pending.clear();
  }
  #send(message: Message): void {
    const line = JSON.stringify({ jsonrpc: "2.0", ...message }) + "\n";
    this.#writer.write(new TextEncoder().encode(line)).catch(() => {});
  }
  request(method: string, params?: unknown): Promise<Message> {
    const id = this.#nextId++;
    const promise = new Promise<Message>((resolve) => this.#pending.set(id, resolve));
    this.#send({ id, method, ...(params ? { params } : {}) });
    return promise;
  }
  callTool(name: string, args: Record<string, unknown>): Promise<Message> {
    return this.request("tools/call", { name, arguments: args });
  }
  /** initialize, notifications/initialized, and tools/list (what every MCP client does first). */
  async handshake(list = true): Promise<void> {
    for (const method of list ? ["initialize", "tools/list"] : ["initialize"]) {
      const reply = await this.request(method, method === "initialize" ? INIT : {});
      if (!reply.result) {
        const what = JSON.stringify(reply).slice(0, 500);
        throw new Error(`${this.label} did not start: ${method} failed: ${what}\n${this.errTail}`);
      }
      if (method === "initialize") this.#send({ method: "notifications/initialized" });
    }
  }
  /** Closes stdin (how an MCP client stops a stdio server), then signals after 5 s. */
  override close(): Promise<number> {
    return this.#writer.close().catch(() => {}).then(() => this.stop(false, 5000));
  }
}

/** A server process listening on `origin` (its stdin closed). */
export class HttpChild extends Child {
  constructor(label: string, cmd: Command, readonly origin: string) {
    super(label, cmd);
    this.child.stdin.close().catch(() => {});
  }
  /** Polls GET /healthz every `everyMs` until a 200; the time since `since`. */
  async healthy(since = performance.now(), everyMs = 1, timeoutMs = 30_000): Promise<number> {
    const conn = new HttpConn(this.origin);
    try {
      while (true) {
        try {
          if (await conn.health() === 200) return performance.now() - since;
        } catch { /* not listening yet */ }
        const trouble = this.exit
          ? `exited (${this.exit.code})`
          : performance.now() - since > timeoutMs
          ? `not healthy after ${timeoutMs} ms`
          : null;
        if (trouble) throw new Error(`${this.label} ${trouble}:\n${this.errTail}`);
        await sleep(everyMs);
      }
    } finally {
      conn.close();
    }
  }
}

/** What the SDK's client sends (its server transport insists on both types). */
export const MCP_HEADERS = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  "mcp-protocol-version": "2025-06-18",
};

/** A client holding one keep-alive connection to an HTTP server (one request at a time). */
export class HttpConn {
  readonly #http = Deno.createHttpClient({
    http2: false,
    poolMaxIdlePerHost: 1,
    poolIdleTimeout: 600_000,
  });
  #nextId = 1;
  constructor(readonly origin: string) {}

  /** POSTs a message to /mcp (a notification without `params`): status, parsed 200 answer. */
  async post(
    method: string,
    params?: unknown,
  ): Promise<{ status: number; message: Message | null }> {
    const id = params === undefined ? undefined : this.#nextId++;
    const res = await fetch(`${this.origin}/mcp`, {
      method: "POST",
      headers: MCP_HEADERS,
      body: JSON.stringify({ jsonrpc: "2.0", id, method, params }),
      client: this.#http,
    });
    const text = await res.text();
    let message: Message | null = null;
    try {
      if (res.status === 200) message = JSON.parse(text) as Message;
    } catch { /* counted as a failure by the caller */ }
    return { status: res.status, message };
  }
  /** One tools/call: its answer (null when it failed) and its latency. */
  async call(name: string, args: unknown): Promise<{ reply: Message | null; ms: number }> {
    const t0 = performance.now();
    const reply = await this.post("tools/call", { name, arguments: args })
      .then((r) => r.message, () => null);
    return { reply, ms: performance.now() - t0 };
  }
  /** What an MCP client does first (once per client: the servers are stateless). */
  async initialize(): Promise<void> {
    const init = await this.post("initialize", INIT);
    if (!init.message?.result) throw new Error(`initialize failed: HTTP ${init.status}`);
    const note = await this.post("notifications/initialized");
    if (note.status !== 202) throw new Error(`notifications/initialized: HTTP ${note.status}`);
  }
  async health(): Promise<number> {
    const res = await fetch(`${this.origin}/healthz`, { client: this.#http });
    await res.text();
    return res.status;
  }
  close(): void {
    this.#http.close();
  }
}

/** The structured result of a successful tools/call, else null. */
export function structured(reply: Message | null): Record<string, unknown> | null {
  const result = reply?.result as Record<string, unknown> | undefined;
  if (!result || result.isError) return null;
  return (result.structuredContent as Record<string, unknown> | undefined) ?? {};
}
/** The id a reply acknowledges as stored (`status: "tracked"`), else null. */
export function tracked(reply: Message | null): string | null {
  const s = structured(reply);
  return s?.status === "tracked" && typeof s.session_id === "string" ? s.session_id : null;
}

/**
 * A server under test: its command on `store` (over HTTP on `port` when given), the tool a
 * start calls, the id a reply acknowledges (default: `tracked`), and how many of `ids` the
 * store holds (absent for a server that stores nothing).
 */
export interface Kind {
  label: string;
  command(store: string, port?: number): Command;
  tool: string;
  acked?(args: Message, reply: Message | null): string | null;
  held?(store: string, ids: string[]): Promise<{ found: number; rows?: number }>;
}
/** The acknowledgement of one start of `kind`, counted on `server`. */
const ackStart = (server: Child & { kind: Kind }, args: Message, reply: Message | null) =>
  server.ack((server.kind.acked ?? ((_, r) => tracked(r)))(args, reply));

/** A server of `kind` on `store`, over stdio. */
export class StdioServer extends RpcClient {
  constructor(readonly kind: Kind, readonly store: string, label = kind.label) {
    super(kind.command(store), label);
  }
  /** `n` starts, `depth` in flight; their latencies. */
  starts(n: number, depth: number): Promise<Sample> {
    return drive(n, depth, async () => {
      const [args, t0] = [helpers!.startArgs(), performance.now()];
      ackStart(this, args, await this.callTool(this.kind.tool, args));
      return performance.now() - t0;
    });
  }
}
/** A server of `kind` on `store`, listening on `port` of the loopback address. */
export class HttpServer extends HttpChild {
  constructor(readonly kind: Kind, readonly store: string, port: number, label = kind.label) {
    super(label, kind.command(store, port), `http://127.0.0.1:${port}`);
  }
  /** One start on `conn`: its latency. */
  async start(conn: HttpConn): Promise<number> {
    const args = helpers!.startArgs();
    const { reply, ms } = await conn.call(this.kind.tool, args);
    ackStart(this, args, reply);
    return ms;
  }
}

// ---------------------------------------------------------------------------------------
// Phases, figures, targets

/**
 * A phase: subjects set up once, measured `rounds` times each in turn (after `warmupRounds`
 * not counted; reversed on odd rounds when `alternate`), `settle` before each block (default
 * `settle()`), then `done` with each label's (column's) samples summed, and `teardown`.
 */
export interface Phase<S> {
  name: string;
  measures: string;
  rounds: number;
  warmupRounds?: number;
  alternate?: boolean;
  settle?: (() => Promise<void>) | false;
  setup(): Promise<S[]> | S[];
  label?(s: S): string;
  run(s: S, round: number): Promise<Sample>;
  done?(label: string, total: Sample): void;
  teardown?(subjects: S[]): Promise<unknown> | void;
}

/** What a store held of what its servers acknowledged (null: stores nothing; exit null: running). */
export interface Stored {
  phase: string;
  server: string;
  acknowledged: number;
  stored: number | null;
  rows?: number;
  failed_calls: number;
  lost: number | null;
  exit: number | null;
}

/** One benchmark run: its options, its figures per server, its targets. */
export class Bench<F extends string> {
  readonly began = performance.now();
  readonly quick: boolean;
  readonly opts: Record<string, boolean | number | string>;
  readonly figures: Record<string, Record<F, number | null>>;
  readonly targets: {
    target: string;
    figure: string;
    ours: number | null;
    baseline: number | null;
    ratio: number | null;
    limit: string;
    pass: boolean;
  }[] = [];
  readonly #shown: { row: string; detail?: string }[] = [];
  readonly stored: Stored[] = [];
  readonly #cleanups: (() => unknown)[] = [];

  /** `options` besides --quick, with defaults: a boolean is a switch; a number is positive. */
  constructor(
    readonly name: string,
    readonly servers: readonly string[],
    readonly figureNames: readonly F[],
    options: Record<string, boolean | number | string> = {},
    args = Deno.args,
  ) {
    this.opts = { "--quick": false, ...options };
    const usage = Object.entries(this.opts).map(([k, v]) =>
      typeof v === "boolean" ? k : `${k} ${typeof v === "number" ? "N" : v}`
    );
    const fail = (message: string): never => {
      console.error(`${message} (use ${usage.join(", ")})`);
      Deno.exit(2);
    };
    for (let i = 0; i < args.length; i++) {
      const [flag, inline] = args[i]!.split(/=(.*)/s) as [string, string | undefined];
      if (!(flag in this.opts)) fail(`unknown argument '${args[i]}'`);
      const def = this.opts[flag];
      if (typeof def === "boolean") {
        this.opts[flag] = true;
        continue;
      }
      const v = inline ?? args[++i];
      const n = Number(v?.replaceAll("_", ""));
      if (typeof def === "number" && !(Number.isInteger(n) && n >= 1)) {
        fail(`${flag} needs a positive integer, got '${v}'`);
      }
      this.opts[flag] = typeof def === "number" ? n : v ?? fail(`${flag} needs a value`);
    }
    this.quick = this.flag("--quick");
    const none = () => Object.fromEntries(figureNames.map((f) => [f, null])) as Record<F, null>;
    this.figures = Object.fromEntries(servers.map((s) => [s, none()]));
  }

  /** The sizes of this run: each given as `[full, quick]`. */
  sizes<K extends string>(s: Record<K, [number, number]>): Record<K, number> {
    const pick = ([full, quick]: [number, number]) => this.quick ? quick : full;
    const picked = Object.entries<[number, number]>(s).map(([k, v]) => [k, pick(v)]);
    return Object.fromEntries(picked) as Record<K, number>;
  }
  flag(name: string): boolean {
    return this.opts[name] === true;
  }
  num(name: string): number {
    return Number(this.opts[name]);
  }
  str(name: string): string {
    return String(this.opts[name]);
  }
  log(message: string): void {
    const s = ((performance.now() - this.began) / 1000).toFixed(1);
    console.error(`[bench ${this.name} ${s}s] ${message}`);
  }

  atEnd(fn: () => unknown): void {
    this.#cleanups.unshift(fn);
  }
  /** A temporary folder, removed at the end (unless --keep: then named on stderr). */
  async tempDir(prefix: string): Promise<string> {
    const dir = await Deno.makeTempDir({ prefix });
    this.atEnd(() =>
      this.flag("--keep")
        ? console.error(`stores kept in ${dir}`)
        : Deno.remove(dir, { recursive: true })
    );
    return dir;
  }
  async #cleanUp(): Promise<void> {
    for (const fn of this.#cleanups.splice(0)) await Promise.resolve().then(fn).catch(() => {});
  }
  /** Runs the phases; when one fails, stops every process, cleans up and exits 1. */
  async run(phases: () => Promise<unknown>): Promise<void> {
    try {
      await phases();
    } catch (error) {
      console.error(error);
      await Promise.all([...Child.live].map((c) => c.close().catch(() => {})));
      await this.#cleanUp();
      Deno.exit(1);
    }
  }

  set(server: string, figure: F, value: number | null): void {
    this.figures[server]![figure] = value === null ? null : round(value);
  }
  get(server: string, figure: F): number {
    return this.figures[server]![figure]!;
  }
  /** `<prefix>_p50_ms`, `<prefix>_p99_ms` and `<prefix>_calls_s` of a sample. */
  latency(server: string, prefix: string, s: Sample, figures = ["p50_ms", "p99_ms", "calls_s"]) {
    const ms = sorted(s.latencies);
    const value: Record<string, number> = {
      p50_ms: percentile(ms, 0.5),
      p99_ms: percentile(ms, 0.99),
      calls_s: (s.calls / s.ms) * 1000,
    };
    for (const f of figures) this.set(server, `${prefix}_${f}` as F, value[f]!);
  }

  title(what: string, cores = true): string {
    return `session-buddy ${what} (${this.quick ? "QUICK counts, not meaningful" : "full"}; ` +
      `deno ${Deno.version.deno}; ${cores ? `${navigator.hardwareConcurrency} cores; ` : ""}` +
      "all in one run)";
  }

  /** Looks the ids acknowledged by `group` (servers on one store) up in that store. */
  async count(
    phase: string,
    server: string,
    group: (Child & { kind: Kind; store: string })[],
    exit: number | null = null,
  ): Promise<Stored> {
    const ids = group.flatMap((g) => g.acked);
    const h = await group[0]!.kind.held?.(group[0]!.store, ids);
    const row = {
      phase,
      server,
      acknowledged: ids.length,
      stored: h?.found ?? null,
      ...(h?.rows === undefined ? {} : { rows: h.rows }),
      failed_calls: group.reduce((a, g) => a + g.failed, 0),
      lost: h ? ids.length - h.found : null,
      exit,
    };
    this.stored.push(row);
    return row;
  }
  /** The counts as a table (a `rows` column when the stores' rows were counted). */
  storedTable(): string[] {
    const rows = this.stored.some((r) => r.rows !== undefined);
    return table(
      [
        "phase",
        "server",
        "stored/acknowledged",
        ...(rows ? ["rows"] : []),
        "failed",
        "lost",
        "exit",
      ],
      this.stored.map((r) => [
        r.phase,
        r.server,
        r.stored === null
          ? `- (stores nothing; ${r.acknowledged} answered)`
          : `${r.stored}/${r.acknowledged}`,
        ...(rows ? [String(r.rows ?? "-")] : []),
        String(r.failed_calls),
        r.lost === null ? "-" : r.lost > 0 ? `${r.lost} LOST` : "0",
        r.exit === null ? "running" : String(r.exit),
      ]),
    );
  }
  /** Whether the servers named by `ours` failed no call, lost nothing and exited 0. */
  clean(ours: (server: string) => boolean): boolean {
    return this.stored.filter((r) => ours(r.server))
      .every((r) => r.failed_calls === 0 && (r.lost ?? 0) === 0 && (r.exit ?? 0) === 0);
  }

  /** Runs a phase: setup, rounds of every subject in turn (settled), figures, teardown. */
  async phase<S>(p: Phase<S>): Promise<S[]> {
    const subjects = await p.setup();
    const label = p.label ?? ((s: S) => (s as { label: string }).label);
    const totals = new Map<string, Sample>();
    const warm = p.warmupRounds ?? 0;
    for (let r = 0; r < warm + p.rounds; r++) {
      const order = p.alternate && r >= warm && (r - warm) % 2 ? [...subjects].reverse() : subjects;
      for (const s of order) {
        if (p.settle !== false) await (p.settle ?? settle)();
        const sample = await p.run(s, r);
        if (r >= warm) totals.set(label(s), add(totals.get(label(s)) ?? emptySample(), sample));
      }
    }
    for (const [label, total] of totals) p.done?.(label, total);
    await p.teardown?.(subjects);
    this.log(`${p.name} done (${p.measures})`);
    return subjects;
  }
  /** Cold starts: `start` each subject once a round (the first round not counted); medians. */
  cold<S extends { label: string }>(
    subjects: S[],
    rounds: number,
    measures: string,
    start: (s: S) => Promise<number>,
  ): Promise<S[]> {
    return this.phase({
      name: "cold start",
      measures,
      rounds,
      // Round 0 warms the module cache and creates the stores.
      warmupRounds: 1,
      settle: false,
      setup: () => subjects,
      run: async (s) => {
        const ms = await start(s);
        return { latencies: [ms], calls: 1, ms };
      },
      done: (label, s) => this.set(label, "cold_start_ms" as F, median(s.latencies)),
    });
  }

  /**
   * `clients` per group (servers on one store) calling back to back over HTTP, each on its own
   * keep-alive connection, `rounds` of `ms` after an uncounted burst of a sixth. Sets
   * `<prefix>_calls_s`, `_p50_ms`, `_p99_ms`, `_failed`, `_lost` (acknowledged starts missing
   * from the store, running or after a SIGTERM stop). `meter` wraps each measured block.
   */
  async clients(o: {
    name: string;
    measures: string;
    prefix: string;
    groups: { label: string; row: string; servers: HttpServer[] }[];
    clients: number;
    rounds: number;
    ms: number;
    settle?: () => Promise<void>;
    meter?: (label: string, servers: HttpServer[], work: () => Promise<Sample>) => Promise<Sample>;
  }): Promise<void> {
    const conns = new Map(o.groups.map((g) => [
      g,
      Array.from({ length: o.clients }, (_, i) => {
        const to = g.servers[i % g.servers.length]!;
        return { conn: new HttpConn(to.origin), to };
      }),
    ]));
    await Promise.all([...conns.values()].flat().map((c) => c.conn.initialize()));
    const load = (g: typeof o.groups[number], ms: number) =>
      burst(conns.get(g)!, ms, ({ conn, to }) => to.start(conn));
    for (const g of o.groups) await load(g, o.ms / 6);
    const sum = (g: typeof o.groups[number], f: (s: HttpServer) => number) =>
      g.servers.reduce((a, s) => a + f(s), 0);
    const failed = new Map<string, number>();
    await this.phase({
      ...o,
      setup: () => o.groups,
      async run(g) {
        const before = { acked: sum(g, (s) => s.acked.length), failed: sum(g, (s) => s.failed) };
        const work = () => load(g, o.ms);
        const sample = await (o.meter ? o.meter(g.label, g.servers, work) : work());
        failed.set(g.label, (failed.get(g.label) ?? 0) + sum(g, (s) => s.failed) - before.failed);
        return { ...sample, calls: sum(g, (s) => s.acked.length) - before.acked };
      },
      done: (label, s) => {
        this.latency(label, o.prefix, s, ["calls_s", "p50_ms", "p99_ms"]);
        this.set(label, `${o.prefix}_failed` as F, failed.get(label)!);
      },
      teardown: async () => {
        const running = [];
        for (const g of o.groups) running.push(await this.count(o.name, g.row, g.servers));
        for (const { conn } of [...conns.values()].flat()) conn.close();
        // SIGTERM (ours answers what is in progress, writes what waits), then counted again.
        for (const [i, g] of o.groups.entries()) {
          const exits: number[] = [];
          for (const server of g.servers) exits.push(await server.stop());
          const row = await this.count("after stop", g.row, g.servers, exits.find((x) => x) ?? 0);
          const lost = row.lost === null ? null : Math.max(row.lost, running[i]!.lost ?? 0);
          if (lost !== null) this.set(g.label, `${o.prefix}_lost` as F, lost);
        }
      },
    });
  }

  /** A target: `ours / baseline` against `limit` (`<= 1.3`, `>= 2, 0 failed`) and `extra`. */
  target(
    name: string,
    figure: string,
    ours: number | null,
    baseline: number | null,
    limit: string,
    o: { extra?: boolean; pass?: boolean; row?: string; detail?: string } = {},
  ): void {
    const [, op, bound] = /^([<>]=) ([\d.]+)/.exec(limit) ?? [];
    const r = ours !== null && baseline !== null && baseline > 0 ? ours / baseline : NaN;
    const within = op === "<=" ? r <= Number(bound) : r >= Number(bound);
    const pass = o.pass ?? (Number.isFinite(r) && within && (o.extra ?? true));
    this.targets.push({
      target: name,
      figure,
      ours,
      baseline,
      ratio: op ? round(r, 3) : null,
      limit,
      pass,
    });
    this.#shown.push({ row: o.row ?? figure.split(" ")[0]!, detail: o.detail });
  }
  /** A target on one figure: `ours`'s against `baseline`'s. */
  vs(baseline: string, name: string, figure: F, limit: string, extra = true): void {
    const [ours, base] = [this.get("ours", figure), this.get(baseline, figure)];
    this.target(name, figure, ours, base, limit, { extra });
  }
  get passed(): boolean {
    return this.targets.every((t) => t.pass);
  }

  /** The table of figures, one column per server, the targets of each row beside it. */
  figureTable(): string[] {
    const rows = this.figureNames.map((f) => [
      f,
      ...this.servers.map((s) => fmt(this.figures[s]![f])),
      this.targets.filter((_, i) => this.#shown[i]!.row === f).map((t) =>
        `${t.pass ? "PASS" : "FAIL"} ${t.ratio === null ? "" : `${t.ratio}x `}(${t.limit})`
      ).join("; "),
    ]);
    return table(["figure", ...this.servers, "target"], rows);
  }
  /** Prints `heading`, the figures, each section after a blank line, then the targets (and `aside`). */
  report(heading: string[], sections: string[][], aside: string[] = []): void {
    const n = this.targets.filter((t) => t.pass).length;
    const targets = [
      "targets (ratios inside this run):",
      ...this.targets.map((t, i) =>
        `  ${t.pass ? "PASS" : "FAIL"}  ${t.target}: ` +
        (this.#shown[i]!.detail ??
          `${fmt(t.ours)} vs ${fmt(t.baseline)} = ${t.ratio ?? "-"}x (${t.limit})`)
      ),
      ...aside,
      `overall: ${this.passed ? "PASS" : "FAIL"} (${n}/${this.targets.length} targets)`,
    ];
    const out = ["", ...heading, ...this.figureTable()];
    for (const section of [...sections, targets]) out.push("", ...section);
    console.log(out.join("\n"));
  }
  /** Cleans up, then prints the last line: `{"bench":<name>,"quick":..., ...fields, "pass":...}`. */
  async finish(fields: Record<string, unknown>): Promise<void> {
    await this.#cleanUp();
    console.log(JSON.stringify({
      bench: this.name,
      quick: this.quick,
      ...fields,
      seconds: round((performance.now() - this.began) / 1000, 1),
      ...(this.servers.length > 0 ? { figures: this.figures } : {}),
      ...(this.targets.length > 0 ? { targets: this.targets, pass: this.passed } : {}),
    }));
  }
}
