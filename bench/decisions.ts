/**
 * The two choices the project measured before making them, measured again:
 *
 * - `framing`: our MCP layer beside the SDK's. Over HTTP, one RpcServer behind our edge and
 *   behind `WebStandardStreamableHTTPServerTransport` (import cost, RSS, round trips); over
 *   stdio, the real program beside the same on the SDK v2 (bench/fixtures/): cold start,
 *   p50/p99, calls/s at depth 16, import cost, RSS, held to the SDK v2 issue's thresholds.
 * - `drivers`: npm:pg and npm:postgres in a Worker with the serving Worker's permissions
 *   (bench/pg_driver_worker.ts): import, connect, round trips, and refused connections.
 *
 *     deno run -q -P=bench --frozen --import-map=tests/imports.json --lock=tests/deno.lock \
 *       bench/decisions.ts [--only framing|drivers] [--quick]
 */
import { createHandler } from "../src/http/handler.ts";
import { acceptAll } from "../src/auth/verifier.ts";
import { createServer } from "../src/mcp/server.ts";
import { Metrics } from "../src/metrics.ts";
import { openStore } from "../src/store/open.ts";
import type { Log } from "../src/log.ts";
import { CONFIG, DEV_FLAGS, ROOT, startArgs } from "../tests/helpers/server.ts";
import { pg } from "../tests/helpers/postgres.ts";
import {
  Bench,
  benchProgram,
  drive,
  emptySample,
  MCP_HEADERS,
  median,
  ourProgram,
  percentile,
  RpcClient,
  type Sample,
  settle,
  sorted,
  structured,
  table,
} from "./harness.ts";

const OPTIONS = { "--only": "all" };
const b = new Bench("framing", [], [], OPTIONS);
if (!["all", "framing", "drivers"].includes(b.str("--only"))) {
  console.error(`--only takes framing or drivers, got '${b.str("--only")}'`);
  Deno.exit(2);
}
const r3 = (x: number) => Number(x.toFixed(3));
const r1 = (x: number) => Number(x.toFixed(1));
const keysOf = <T extends object>(o: T) => Object.keys(o) as (keyof T)[];

/** Imports `code` in a fresh process after `prelude` (not timed); its time and the RSS after it. */
async function importCost(code: string, prelude = ""): Promise<{ ms: number; rssMb: number }> {
  const script = `${prelude} const t = performance.now(); ${code} ` +
    `console.log(JSON.stringify({ ms: performance.now() - t, rss: Deno.memoryUsage().rss }));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "-q", ...DEV_FLAGS, "--config", CONFIG, script],
  }).output();
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  return { ms: r.ms, rssMb: r.rss / 1048576 };
}

async function framing(): Promise<void> {
  // HTTP: one RpcServer behind our edge and behind the SDK's transport, in this process.
  const log: Log = { debug() {}, info() {}, warning() {}, error() {} };
  const store = await openStore({ kind: "memory" });
  const deps = {
    store,
    verify: acceptAll,
    log,
    now: () => new Date(),
    staleAfterMs: 12 * 3600_000,
    authRequired: false,
    version: "bench",
  };
  const rpc = createServer(deps);
  const ours = createHandler({
    ...deps,
    rpc,
    metrics: new Metrics(),
    guard: { loopback: true, allowedOrigins: [] },
    startSeconds: 0,
    rssBytes: () => 0,
  });
  // @ts-types="npm:/@modelcontextprotocol/sdk@1.32.2/server/webStandardStreamableHttp"
  const { WebStandardStreamableHTTPServerTransport } = await import(
    "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js"
  );
  /** The SDK's transport, stateless (one per request), handing messages to the same RpcServer. */
  const sdk = async (request: Request): Promise<Response> => {
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    transport.onmessage = (message: Record<string, unknown>) => {
      void rpc.respond(message).then((response) => {
        if (response) return transport.send(response as never);
      });
    };
    await transport.start();
    return await transport.handleRequest(request);
  };
  const framings = ([["ours", ours.handle], ["sdk", sdk]] as const).map(([label, handler]) => ({
    label,
    server: Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler),
    client: Deno.createHttpClient({}),
    ping: [] as number[],
  }));
  let id = 0;
  const roundTrip = async (f: (typeof framings)[number], method: string, params?: unknown) => {
    const began = performance.now();
    const res = await fetch(`http://127.0.0.1:${f.server.addr.port}/mcp`, {
      method: "POST",
      headers: MCP_HEADERS,
      body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params }),
      client: f.client,
    });
    const answer = await res.json();
    if (res.status !== 200 || answer.error) {
      throw new Error(`${f.label}: ${JSON.stringify(answer)}`);
    }
    return performance.now() - began;
  };
  const http = new Map<string, Sample>();
  await b.phase({
    name: "HTTP framing",
    measures: "track_session_start and ping round trips on one keep-alive connection",
    rounds: b.quick ? 3 : 39,
    warmupRounds: 1,
    alternate: true,
    settle: false,
    setup: () => framings,
    run: (f) =>
      drive(b.quick ? 25 : 100, 1, async () => {
        const call = { name: "track_session_start", arguments: startArgs() };
        const ms = await roundTrip(f, "tools/call", call);
        f.ping.push(await roundTrip(f, "ping"));
        return ms;
      }),
    done: (label, s) => http.set(label, s),
    async teardown() {
      for (const f of framings) f.client.close(), await f.server.shutdown();
      await store.close();
    },
  });
  const row = async (f: (typeof framings)[number], code: string) => {
    const runs = [];
    for (let n = 0; n < (b.quick ? 3 : 7); n++) runs.push(await importCost(code));
    const start = sorted(http.get(f.label)!.latencies);
    // The first round's pings are the warm-up's, as its starts are.
    const ping = sorted(f.ping.slice(f.ping.length - start.length));
    return {
      import_ms: r1(median(runs.map((r) => r.ms))),
      rss_after_import_mb: r1(median(runs.map((r) => r.rssMb))),
      start_p50_ms: r3(percentile(start, 0.5)),
      start_p99_ms: r3(percentile(start, 0.99)),
      ping_p50_ms: r3(percentile(ping, 0.5)),
    };
  };
  const result = {
    ours: await row(framings[0]!, `await import("${ROOT}src/http/serve.ts");`),
    sdk: await row(
      framings[1]!,
      `await import("@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js");`,
    ),
  };
  console.log(
    table(
      ["figure", "ours", "SDK transport", "ours/SDK"],
      keysOf(result.ours).map((k) => [
        k,
        String(result.ours[k]),
        String(result.sdk[k]),
        `${(result.ours[k] / result.sdk[k]).toFixed(2)}x`,
      ]),
    ).join("\n"),
  );

  // stdio: our layer (the real program) beside the SDK v2, each on a fresh Deno KV file store.
  /** The SDK v2 issue's thresholds on SDK/ours. */
  const THRESHOLDS = { cold_start_max: 1.25, start_p50_max: 1.1, pipelined_min: 0.9 };
  const S = b.sizes({
    cold: [11, 3],
    warm: [300, 50],
    seqCalls: [2000, 200],
    seqBatch: [200, 50],
    pipeCalls: [5000, 800],
    pipeBatch: [500, 400],
    imports: [7, 3],
  });
  const DEPTH = 16;
  const LAYERS = ["ours", "sdk_v2"] as const;
  type Layer = typeof LAYERS[number];
  const tmp = await Deno.makeTempDir({ prefix: "session-buddy-framing-" });
  let stores = 0;
  /** `layer` on a fresh store in a folder of its own (its HOME too). */
  const spawn = (layer: Layer) => {
    const dir = `${tmp}/${layer}-${++stores}`;
    Deno.mkdirSync(dir);
    const env = { HOME: dir, SESSION_BUDDY_DB: `${dir}/s.kv` };
    const command = layer === "ours"
      ? ourProgram(env)
      : benchProgram("fixtures/sdk_v2_stdio_server.ts", [], env);
    return new RpcClient(command, layer);
  };
  /** One start, timed; throws unless it was tracked. */
  const trackStart = async (client: RpcClient): Promise<number> => {
    const t0 = performance.now();
    const reply = await client.callTool("track_session_start", startArgs());
    if (structured(reply)?.status !== "tracked") {
      const what = JSON.stringify(reply).slice(0, 300);
      throw new Error(`${client.label}: start not tracked: ${what}\n${client.stderrTail}`);
    }
    return performance.now() - t0;
  };
  const fig = Object.fromEntries(LAYERS.map((l) => [l, {
    cold_init: [] as number[],
    cold_start: [] as number[],
    cold_rss: [] as number[],
    seq: emptySample(),
    pipe: emptySample(),
    import: [] as number[],
    memory: { rss: 0, hwm: 0 },
  }]));
  const stdio = { alternate: true, settle: () => settle(50), setup: () => LAYERS.slice() };
  try {
    await b.phase({
      ...stdio,
      label: (l) => l,
      name: "stdio cold start",
      measures: "spawn until initialize is answered, then until the first start is",
      rounds: S.cold,
      warmupRounds: 1,
      async run(layer, r) {
        const began = performance.now();
        const client = spawn(layer);
        try {
          await client.handshake(false);
          const initMs = performance.now() - began;
          await trackStart(client);
          const f = fig[layer]!;
          if (r > 0) {
            f.cold_init.push(initMs);
            f.cold_start.push(performance.now() - began);
            f.cold_rss.push(client.memory().rss);
          }
        } finally {
          await client.close();
        }
        return emptySample();
      },
    });

    const live = new Map(LAYERS.map((layer) => [layer, spawn(layer)]));
    const pipelined = (client: RpcClient, n: number) => drive(n, DEPTH, () => trackStart(client));
    try {
      for (const client of live.values()) {
        await client.handshake(false);
        // Both answer by the contract: an unknown tool is a JSON-RPC -32602, a malformed call
        // gets the tool's own error result.
        const unknown = await client.callTool("no_such_tool", {});
        const malformed = await client.callTool("track_session_start", startArgs({ pid: "x" }));
        if ((unknown.error as { code?: number } | undefined)?.code !== -32602) {
          throw new Error(`${client.label}: unknown tool answered ${JSON.stringify(unknown)}`);
        }
        if (structured(malformed)?.status !== "error") {
          throw new Error(`${client.label}: malformed call answered ${JSON.stringify(malformed)}`);
        }
        for (let n = 0; n < S.warm; n++) await trackStart(client);
        await pipelined(client, S.warm);
      }
      await b.phase({
        ...stdio,
        label: (l) => l,
        name: "stdio sequential",
        measures: "track_session_start one at a time on one connection",
        rounds: S.seqCalls / S.seqBatch,
        run: (layer) => drive(S.seqBatch, 1, () => trackStart(live.get(layer)!)),
        done: (layer, s) => void (fig[layer]!.seq = s),
      });
      await b.phase({
        ...stdio,
        label: (l) => l,
        name: "stdio pipelined",
        measures: `calls/s with ${DEPTH} in flight`,
        rounds: S.pipeCalls / S.pipeBatch,
        run: (layer) => pipelined(live.get(layer)!, S.pipeBatch),
        done: (layer, s) => void (fig[layer]!.pipe = s),
      });
      for (const [layer, client] of live) fig[layer]!.memory = await client.restingRss();
    } finally {
      await Promise.all([...live.values()].map((client) => client.close()));
    }

    // What each protocol layer costs to import, zod (which the product loads anyway) first.
    const LAYER_IMPORTS: Record<Layer, string> = {
      ours: `await import("${ROOT}src/mcp/rpc.ts"); await import("${ROOT}src/mcp/stdio.ts");`,
      sdk_v2:
        `await import("@modelcontextprotocol/server"); await import("@modelcontextprotocol/server/stdio");`,
    };
    for (let r = 0; r < S.imports; r++) {
      for (const layer of r % 2 ? [...LAYERS].reverse() : LAYERS) {
        fig[layer]!.import.push(
          (await importCost(LAYER_IMPORTS[layer], `await import("zod");`)).ms,
        );
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }

  const stdioRow = (layer: Layer) => {
    const f = fig[layer]!;
    const [seq, pipe] = [sorted(f.seq.latencies), sorted(f.pipe.latencies)];
    return {
      cold_init_ms: r1(median(f.cold_init)),
      cold_start_ms: r1(median(f.cold_start)),
      start_p50_ms: r3(percentile(seq, 0.5)),
      start_p99_ms: r3(percentile(seq, 0.99)),
      start_calls_s: Math.round((f.seq.calls / f.seq.ms) * 1000),
      pipelined_calls_s: Math.round((f.pipe.calls / f.pipe.ms) * 1000),
      pipelined_p50_ms: r3(percentile(pipe, 0.5)),
      pipelined_p99_ms: r3(percentile(pipe, 0.99)),
      layer_import_ms: r1(median(f.import)),
      rss_cold_mb: r1(median(f.cold_rss)),
      rss_mb: r1(f.memory.rss),
      rss_peak_mb: r1(f.memory.hwm),
    };
  };
  const layers = { ours: stdioRow("ours"), sdk_v2: stdioRow("sdk_v2") };
  const ratio = (key: keyof typeof layers.ours) => r3(layers.sdk_v2[key] / layers.ours[key]);
  const ratios = {
    cold_init: ratio("cold_init_ms"),
    cold_start: ratio("cold_start_ms"),
    start_p50: ratio("start_p50_ms"),
    pipelined: ratio("pipelined_calls_s"),
  };
  // Cold start is held to the threshold both ways it is measured (to initialize, to the first start).
  const coldRatio = Math.max(ratios.cold_init, ratios.cold_start);
  const T = THRESHOLDS;
  const checks = ([
    ["cold_start_ms", "cold start", coldRatio, "<=", T.cold_start_max, ", the larger of the two"],
    ["start_p50_ms", "start p50", ratios.start_p50, "<=", T.start_p50_max, ""],
    ["pipelined_calls_s", "pipelined calls/s", ratios.pipelined, ">=", T.pipelined_min, ""],
  ] as const).map(([figure, name, value, op, bound, note]) => {
    const ok = op === "<=" ? value <= bound : value >= bound;
    const said = `${value.toFixed(3)}x (${op} ${bound}${note})`;
    return { figure, ok, target: `${ok ? "PASS" : "FAIL"} ${said}`, text: `${name} ${said}` };
  });
  const failed = checks.filter((c) => !c.ok);
  const decision = failed.length === 0 ? "adopt" : "keep our layer";
  console.log([
    "",
    `stdio (${S.cold} cold starts, ${S.seqCalls} sequential and ${S.pipeCalls} pipelined ` +
    `starts at depth ${DEPTH} each, taking turns)`,
    ...table(
      ["figure", "ours", "SDK v2", "SDK/ours", "target"],
      keysOf(layers.ours).map((k) => [
        k,
        String(layers.ours[k]),
        String(layers.sdk_v2[k]),
        `${(layers.sdk_v2[k] / layers.ours[k]).toFixed(3)}x`,
        k === "cold_init_ms"
          ? "(cold start: the larger ratio of the two)"
          : checks.find((c) => c.figure === k)?.target ?? "",
      ]),
    ),
    `ratios SDK/ours: cold start ${ratios.cold_init.toFixed(3)}x to initialize, ${
      ratios.cold_start.toFixed(3)
    }x to the first start (<= ${THRESHOLDS.cold_start_max}); start p50 ${
      ratios.start_p50.toFixed(3)
    }x (<= ${THRESHOLDS.start_p50_max}); pipelined calls/s ${
      ratios.pipelined.toFixed(3)
    }x (>= ${THRESHOLDS.pipelined_min})`,
    failed.length === 0
      ? "SDK v2 decision: adopt"
      : `SDK v2 decision: keep our layer (${failed.map((c) => c.text).join("; ")})`,
  ].join("\n"));
  await b.finish({
    deno: Deno.version.deno,
    ...result,
    stdio: {
      ...layers,
      ratios,
      thresholds: THRESHOLDS,
      decision,
      failed: failed.map((c) => c.text),
    },
  });
}

async function drivers(): Promise<void> {
  const d = new Bench("pg_drivers", [], [], OPTIONS);
  const cluster = await pg();
  if (!cluster) return console.log("no PostgreSQL found: nothing measured");
  const db = await cluster.createDatabase();
  await db.query("CREATE TABLE bench (id text PRIMARY KEY, v text NOT NULL)");
  await db.query(`GRANT ALL ON bench TO "${db.user}"`);
  const options = {
    host: cluster.host,
    port: cluster.port,
    user: db.user,
    password: db.password,
    database: db.name,
  };
  /** One job in a fresh Worker with the serving Worker's grants: net to the database only. */
  const run = async (job: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const worker = new Worker(new URL("./pg_driver_worker.ts", import.meta.url), {
      type: "module",
      deno: {
        permissions: {
          net: [`${cluster.host}:${cluster.port}`],
          read: false,
          write: false,
          env: false,
          sys: false,
          run: false,
          ffi: false,
        },
      },
    });
    try {
      return await new Promise((resolve) => {
        worker.onmessage = (e) => resolve(e.data);
        worker.onerror = (e) => {
          e.preventDefault();
          resolve({ workerError: e.message.split("\n")[0] });
        };
        worker.postMessage(job);
      });
    } finally {
      worker.terminate();
    }
  };
  const result: Record<string, Record<string, unknown>> = {};
  for (const driver of ["pg", "postgres"]) {
    const imports: number[] = [];
    for (let i = 0; i < (d.quick ? 3 : 9); i++) {
      imports.push((await run({ driver, options, what: "import" })).importMs as number);
    }
    const connect = (o: Record<string, unknown>) =>
      run({ driver, options: { ...options, ...o }, what: "connect" });
    result[driver] = {
      import_ms: Number(median(imports).toFixed(1)),
      ...await run({ driver, options, what: "round trips", n: d.quick ? 50 : 500 }),
      wrong_password: await connect({ password: "not-the-password" }),
      no_database: await connect({ database: "no_such_db" }),
      port_not_granted: await connect({ port: cluster.port + 1 }),
    };
  }
  await db.drop();
  for (const [driver, r] of Object.entries(result)) {
    console.log(`${driver}:`);
    for (const [k, v] of Object.entries(r)) console.log(`  ${k.padEnd(16)} ${JSON.stringify(v)}`);
  }
  await d.finish({ deno: Deno.version.deno, ...result });
}

if (b.str("--only") !== "drivers") await framing();
if (b.str("--only") !== "framing") await drivers();
