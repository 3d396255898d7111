/**
 * Why the HTTP edge frames MCP itself: the same MCP server (our RpcServer and tools, a Deno
 * KV store in memory) behind our edge (src/http/handler.ts) and behind the SDK's
 * `WebStandardStreamableHTTPServerTransport`, measured in one run.
 *
 *     deno run -q -P=bench --frozen --import-map=tests/imports.json --lock=tests/deno.lock bench/framing.ts
 *
 * Prints, for each framing: the cold import cost of what HTTP mode must load (a fresh
 * process per sample, median of 7) with the RSS after it, and the p50/p99 of
 * `track_session_start` and `ping` round trips on one keep-alive connection, the two
 * servers taking turns per batch of calls. The last line is one JSON object.
 */
import { createHandler } from "../src/http/handler.ts";
import { acceptAll } from "../src/auth/verifier.ts";
import { createServer } from "../src/mcp/server.ts";
import { Metrics } from "../src/metrics.ts";
import { openStore } from "../src/store/open.ts";
import { DEV_FLAGS } from "../tests/helpers/dev_flags.ts";
import { startArgs } from "../tests/helpers/server.ts";
import type { Log } from "../src/log.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const quick = Deno.args.includes("--quick");
const log: Log = { debug() {}, info() {}, warning() {}, error() {} };

/** What HTTP mode loads, per framing, timed in a fresh process. */
const IMPORTS: Record<string, string> = {
  ours: `await import("${ROOT}src/http/serve.ts");`,
  sdk: `await import("@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js");`,
};

async function importCost(code: string): Promise<{ ms: number; rssMb: number }> {
  const script = `const t = performance.now(); ${code} ` +
    `console.log(JSON.stringify({ ms: performance.now() - t, rss: Deno.memoryUsage().rss }));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "-q", ...DEV_FLAGS, "--config", `${ROOT}deno.json`, script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  return { ms: r.ms, rssMb: r.rss / 1048576 };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

const store = await openStore(":memory:");
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

/** The SDK's transport, stateless (one per request), handing each message to the same RpcServer. */
async function sdkHandle(request: Request): Promise<Response> {
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
}

const servers = [
  Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, ours.handle),
  Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, sdkHandle),
];
const names = ["ours", "sdk"] as const;
const clients = servers.map(() => Deno.createHttpClient({}));
const headers = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  "mcp-protocol-version": "2025-06-18",
};

async function roundTrip(i: number, body: unknown): Promise<number> {
  const began = performance.now();
  const res = await fetch(`http://127.0.0.1:${servers[i]!.addr.port}/mcp`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
    client: clients[i],
  });
  const answer = await res.json();
  if (res.status !== 200 || answer.error) throw new Error(`${names[i]}: ${JSON.stringify(answer)}`);
  return performance.now() - began;
}

const rounds = quick ? 4 : 40;
const perRound = quick ? 25 : 100;
const times: Record<string, { start: number[]; ping: number[] }> = {
  ours: { start: [], ping: [] },
  sdk: { start: [], ping: [] },
};
let id = 0;
for (let round = 0; round < rounds; round++) {
  for (const i of round % 2 === 0 ? [0, 1] : [1, 0]) {
    for (let n = 0; n < perRound; n++) {
      const start = {
        jsonrpc: "2.0",
        id: ++id,
        method: "tools/call",
        params: { name: "track_session_start", arguments: startArgs() },
      };
      const t = await roundTrip(i, start);
      if (round > 0) times[names[i]!]!.start.push(t);
      const p = await roundTrip(i, { jsonrpc: "2.0", id: ++id, method: "ping" });
      if (round > 0) times[names[i]!]!.ping.push(p);
    }
  }
}
for (const c of clients) c.close();
for (const s of servers) await s.shutdown();
await store.close();

const samples = quick ? 3 : 7;
const imports: Record<string, { ms: number; rssMb: number }> = {};
for (const name of names) {
  const runs = [];
  for (let n = 0; n < samples; n++) runs.push(await importCost(IMPORTS[name]!));
  imports[name] = { ms: median(runs.map((r) => r.ms)), rssMb: median(runs.map((r) => r.rssMb)) };
}

const row = (name: string) => ({
  import_ms: Number(imports[name]!.ms.toFixed(1)),
  rss_after_import_mb: Number(imports[name]!.rssMb.toFixed(1)),
  start_p50_ms: Number(percentile(times[name]!.start, 50).toFixed(3)),
  start_p99_ms: Number(percentile(times[name]!.start, 99).toFixed(3)),
  ping_p50_ms: Number(percentile(times[name]!.ping, 50).toFixed(3)),
});
const result = { ours: row("ours"), sdk: row("sdk") };
console.log("figure               ours     SDK transport   ours/SDK");
for (const key of Object.keys(result.ours) as (keyof typeof result.ours)[]) {
  const a = result.ours[key];
  const b = result.sdk[key];
  console.log(
    `${key.padEnd(20)} ${String(a).padStart(7)}  ${String(b).padStart(14)}   ${
      (a / b).toFixed(2)
    }x`,
  );
}
console.log(JSON.stringify({ bench: "framing", quick, deno: Deno.version.deno, ...result }));
