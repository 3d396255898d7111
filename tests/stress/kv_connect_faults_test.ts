/**
 * A KV Connect store (SPEC 8.4) under faults and latency, on the test's own KV Connect
 * server (tests/helpers/kv_connect.ts): every data request failing with 503 while several
 * servers write (the store behind a reachable front is down), the KV Connect server killed
 * with SIGKILL and started again on the same port and files, and 20 ms added to every
 * request, to show that the group commit keeps the calls of one connection and of many
 * overlapping. What each fault run asserts is in ./faults.ts.
 */
import assert from "node:assert/strict";
import { connectHttp, startHttpServer } from "../helpers/http.ts";
import { type KvConnectShim, kvConnectTest, startShim } from "../helpers/kv_connect.ts";
import { readRecord, startArgs, startServer, tempDir } from "../helpers/server.ts";
import { kvSessionIds } from "../helpers/stores.ts";
import { type Fault, faultRun, type Scenario } from "./faults.ts";
import { figure, size } from "./raw.ts";

/** Every record in the SQLite file of a KV Connect database, by session id. */
async function records(path: string): Promise<Map<string, Record<string, unknown>>> {
  const found = new Map<string, Record<string, unknown>>();
  for (const id of await kvSessionIds(path)) found.set(id, (await readRecord(path, id))!);
  return found;
}

/** `scenario` on a fresh database of a shim of its own, which the faults stop or kill. */
async function onShim(scenario: Scenario): Promise<void> {
  let shim: KvConnectShim = await startShim();
  const { url, path } = shim.database();
  const { port, token, dir } = shim;
  let outage = false;
  try {
    await faultRun({
      env: { SESSION_BUDDY_DB: url, DENO_KV_ACCESS_TOKEN: token },
      secrets: [token],
      stored: () => records(path),
      async begin(kind) {
        if (kind === "outage") {
          await shim.toggleOutage();
          outage = true;
        } else await shim.stop({ hard: true, keep: true });
      },
      async end(kind) {
        if (kind === "outage") {
          await shim.toggleOutage();
          outage = false;
        } else shim = await startShim({ port, token, dir });
      },
      async release() {
        if (outage) await shim.toggleOutage();
        outage = false;
      },
    }, scenario);
  } finally {
    await shim.stop();
  }
}

const OUTAGE: Scenario = {
  name: "kvc_outage",
  servers: size(3, 8),
  clients: 1,
  faults: size<Fault[]>([{ kind: "outage", ms: 5500 }], [
    { kind: "outage", ms: 2500 },
    { kind: "outage", ms: 6000 },
  ]),
  upMs: size(1000, 2000),
  component: "kvcfault",
};

kvConnectTest(
  `KV Connect store failing (503) under ${OUTAGE.servers} writing servers: answers within 5 s, recovery, nothing lost`,
  () => onShim(OUTAGE),
);

const KILL: Scenario = {
  name: "kvc_kill",
  servers: size(2, 4),
  clients: 2,
  faults: [{ kind: "kill", ms: size(2000, 6000) }],
  upMs: size(1000, 2000),
  component: "kvckill",
};

kvConnectTest(
  `KV Connect server killed (SIGKILL) and started again under ${KILL.servers} writing servers: answers within 5 s, recovery, nothing lost`,
  () => onShim(KILL),
);

/** 20 ms before every answer of the KV Connect server: a store tens of milliseconds away. */
const LATENCY_MS = 20;

kvConnectTest(
  `KV Connect store ${LATENCY_MS} ms away: calls in flight overlap in group commits, over stdio and HTTP, nothing lost`,
  async () => {
    const shim = await startShim({ latencyMs: LATENCY_MS });
    const { url, path } = shim.database();
    const { dir, cleanup } = await tempDir();
    const env = { SESSION_BUDDY_DB: url, DENO_KV_ACCESS_TOKEN: shim.token, HOME: dir };
    const acked: string[] = [];
    const n = size(48, 160);
    try {
      const server = await startServer({ env });
      try {
        // Warm-up: the connection to the store, the code paths.
        for (let i = 0; i < 4; i++) await server.call("track_session_start", startArgs());
        const track = async (args: Record<string, unknown>) => {
          const r = await server.call("track_session_start", args);
          assert.equal(r.status, "tracked", JSON.stringify(r));
          acked.push(String(r.session_id));
        };
        // Shells of many components and hosts: starts of distinct ids.
        const many = (i: number) =>
          startArgs({ component_name: `kvclat${i % 16}`, hostname: `host${i}` });
        // One component's shells starting in the same second: one id base, -2, -3, ...
        const one = () => startArgs({ component_name: "kvclatone" });

        let t = performance.now();
        for (let i = 0; i < n; i++) await track(many(i));
        const sequentialMs = (performance.now() - t) / n;

        const inFlight = async (depth: number, make: (i: number) => Record<string, unknown>) => {
          let next = 0;
          const began = performance.now();
          await Promise.all(Array.from({ length: depth }, async () => {
            while (next < n) await track(make(next++));
          }));
          return (performance.now() - began) / n;
        };
        const pipelinedMs = await inFlight(16, many);
        const oneBaseMs = await inFlight(16, one);

        // HTTP: 32 clients on their own connections to one collector.
        const http = await startHttpServer({ env });
        let httpMs = 0;
        try {
          const clients = await Promise.all(
            Array.from({ length: 32 }, () => connectHttp(http.mcp)),
          );
          try {
            let next = 0;
            t = performance.now();
            await Promise.all(clients.map(async (c) => {
              while (next < n * 2) {
                const r = await c.call("track_session_start", many(next++));
                assert.equal(r.status, "tracked", JSON.stringify(r));
                acked.push(String(r.session_id));
              }
            }));
            httpMs = (performance.now() - t) / (n * 2);
          } finally {
            await Promise.all(clients.map((c) => c.close()));
          }
        } finally {
          assert.equal((await http.stop()).code, 0);
        }

        const stored = new Set(await kvSessionIds(path));
        const lost = acked.filter((id) => !stored.has(id)).length;
        const figures = {
          latency_ms: LATENCY_MS,
          starts_per_phase: n,
          sequential_ms_per_start: Number(sequentialMs.toFixed(1)),
          in_flight_16_ms_per_start: Number(pipelinedMs.toFixed(1)),
          in_flight_16_one_base_ms_per_start: Number(oneBaseMs.toFixed(1)),
          http_32_clients_ms_per_start: Number(httpMs.toFixed(1)),
          overlap_16: Number((sequentialMs / pipelinedMs).toFixed(2)),
          overlap_16_one_base: Number((sequentialMs / oneBaseMs).toFixed(2)),
          overlap_http_32: Number((sequentialMs / httpMs).toFixed(2)),
          acknowledged: acked.length,
          duplicates: acked.length - new Set(acked).size,
          lost,
          refused_by_the_store: shim.output().split("\n").filter((l) => l.startsWith("refused"))
            .length,
        };
        figure("kvc_latency", figures);
        assert.equal(figures.duplicates, 0);
        assert.equal(lost, 0, "every acknowledged start is stored");
        assert.equal(figures.refused_by_the_store, 0, shim.output().slice(0, 2000));
        // A sequential start waits for at least one round trip; calls in flight share them.
        assert.ok(sequentialMs >= LATENCY_MS, `sequential ${sequentialMs} ms per start`);
        assert.ok(figures.overlap_16 >= 2, `16 in flight: ${JSON.stringify(figures)}`);
        assert.ok(figures.overlap_http_32 >= 2, `32 HTTP clients: ${JSON.stringify(figures)}`);
        assert.ok(figures.overlap_16_one_base > 1, `one id base: ${JSON.stringify(figures)}`);
      } finally {
        await server.close();
      }
    } finally {
      await cleanup();
      await shim.stop();
    }
  },
);
