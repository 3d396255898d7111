/**
 * `deno task bench:http`: the Streamable HTTP transport. `ours` (`serve --http`) beside
 * FLOOR-HTTP and FLOOR-HTTP-KV (bench/floor.ts given a port), in one run, spoken to with
 * `fetch`. Phases: cold start (to the first 200 of `GET /healthz`); sequential starts on one
 * keep-alive connection; 64 clients back to back (failed, lost); RSS per idle connection.
 *
 *     deno task bench:http [--quick] [--keep]
 */
import { freePort } from "../tests/helpers/http.ts";
import {
  Bench,
  benchProgram,
  drive,
  emptySample,
  homeOf,
  HttpConn,
  HttpServer,
  type Kind,
  loadAverage,
  median,
  ourProgram,
  settle,
  structured,
} from "./harness.ts";

const FIGURES = [
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
const SERVERS = ["ours", "FLOOR-HTTP", "FLOOR-HTTP-KV"];
const b = new Bench("http", SERVERS, FIGURES, { "--keep": false });
const LOAD_BEFORE = loadAverage();
const S = b.sizes({
  /** Cold starts per server (after one uncounted round). */
  coldRuns: [10, 2],
  seqRounds: [4, 2],
  seqCalls: [250, 10],
  /** Concurrent phase: clients, rounds, and how long each round lasts per server. */
  clients: [64, 64],
  loadRounds: [3, 1],
  loadMs: [3000, 300],
  /** Idle-connection phase: rounds (a fresh server each), connections held open. */
  idleRounds: [3, 1],
  idleConns: [1000, 50],
  /** Calls (and as many health checks) before the first RSS reading, over 16 connections. */
  idleWarmup: [3000, 64],
});

// ---------------------------------------------------------------------------------------
// The servers

/** Looks ids up among the keys under `prefix` of a Deno KV store. */
const kvHeld = (prefix: Deno.KvKey) => async (store: string, ids: string[]) => {
  const kv = await Deno.openKv(store);
  const held = new Set<string>();
  for await (const e of kv.list({ prefix }, { batchSize: 1000 })) {
    held.add(String(e.key[prefix.length]));
  }
  kv.close();
  return { found: ids.filter((id) => held.has(id)).length };
};
const floor = (tools: string) => (store: string, port?: number) =>
  benchProgram("floor.ts", [tools, store, String(port)], homeOf(store));
const KINDS: Kind[] = [{
  label: "ours",
  command: (store, port) =>
    ourProgram({ ...homeOf(store), SESSION_BUDDY_DB: store }, [
      "serve",
      "--http",
      `127.0.0.1:${port}`,
    ]),
  tool: "track_session_start",
  held: kvHeld(["session"]),
}, {
  label: "FLOOR-HTTP",
  command: floor("noop"),
  tool: "noop",
  acked: (args, reply) => structured(reply)?.status === "ok" ? String(args.event_id) : null,
}, {
  label: "FLOOR-HTTP-KV",
  command: floor("kv"),
  tool: "kv_insert",
  held: kvHeld(["rec"]),
}];
const serve = (kind: Kind, store: string) => new HttpServer(kind, store, freePort());
const countPhase = (phase: string, inst: HttpServer, exit: number | null = null) =>
  b.count(phase, inst.label, [inst], exit);

// ---------------------------------------------------------------------------------------
// The phases

const tmp = await b.tempDir("session-buddy-bench-http-");
const storeOf = (name: string) => `${tmp}/${name}`;

await b.run(async () => {
  b.log(`temp folder ${tmp}; ${b.quick ? "QUICK" : "full"} sizes`);
  await b.cold(KINDS, S.coldRuns, "spawn to the first 200 of GET /healthz", async (kind) => {
    const t0 = performance.now();
    const inst = serve(kind, storeOf(`cold-${kind.label}.kv`));
    const ms = await inst.healthy(t0);
    await inst.stop();
    return ms;
  });

  const main = KINDS.map((kind) => serve(kind, storeOf(`${kind.label}.kv`)));
  await Promise.all(main.map((i) => i.healthy()));
  const seqConn = new Map(main.map((i) => [i, new HttpConn(i.origin)]));
  await Promise.all([...seqConn.values()].map((c) => c.initialize()));
  // A short warm-up on each, not counted in latencies (but counted in the stores).
  for (const inst of main) await drive(50, 1, () => inst.start(seqConn.get(inst)!));
  await b.phase({
    name: "sequential",
    measures: "track_session_start one call at a time on one keep-alive connection",
    rounds: S.seqRounds,
    setup: () => main,
    run: (inst) => drive(S.seqCalls, 1, () => inst.start(seqConn.get(inst)!)),
    done: (label, s) => b.latency(label, "start", s),
    async teardown() {
      for (const inst of main) await countPhase("sequential", inst);
    },
  });

  for (const conn of seqConn.values()) conn.close();
  await b.clients({
    name: `${S.clients} clients`,
    measures: "each client on its own keep-alive connection, calling back to back",
    prefix: "c64",
    groups: main.map((i) => ({ label: i.label, row: i.label, servers: [i] })),
    clients: S.clients,
    rounds: S.loadRounds,
    ms: S.loadMs,
  });

  const idle = new Map<string, Record<"base" | "idle" | "kib" | "fds", number[]>>(
    SERVERS.map((s) => [s, { base: [], idle: [], kib: [], fds: [] }]),
  );
  await b.phase({
    name: "idle connections",
    measures:
      `RSS per idle keep-alive connection, ${S.idleConns} of them, a fresh server each round`,
    rounds: S.idleRounds,
    settle: false,
    setup: () => KINDS,
    async run(kind, r) {
      const inst = serve(kind, storeOf(`idle-${kind.label}-${r}.kv`));
      await inst.healthy();
      // The heap grows to its working size on the kinds of requests measured below.
      await Promise.all(Array.from({ length: 16 }, async (_, i) => {
        const conn = new HttpConn(inst.origin);
        await conn.initialize();
        for (let n = i; n < S.idleWarmup; n += 16) {
          await inst.start(conn);
          if (await conn.health() !== 200) inst.failed++;
        }
        conn.close();
      }));
      await settle();
      const base = (await inst.restingRss()).rss;
      const fdsBefore = inst.fds();
      const conns: HttpConn[] = [];
      for (let i = 0; i < S.idleConns; i += 50) {
        await Promise.all(Array.from({ length: Math.min(50, S.idleConns - i) }, async () => {
          const conn = new HttpConn(inst.origin);
          conns.push(conn);
          if (await conn.health() !== 200) inst.failed++;
        }));
      }
      const withIdle = (await inst.restingRss()).rss;
      const f = idle.get(kind.label)!;
      f.fds.push(inst.fds() - fdsBefore);
      f.base.push(base);
      f.idle.push(withIdle);
      f.kib.push(((withIdle - base) * 1024) / S.idleConns);
      for (const conn of conns) conn.close();
      await countPhase(`idle connections #${r + 1}`, inst, await inst.stop());
      return emptySample();
    },
    done(label) {
      const f = idle.get(label)!;
      b.set(label, "rss_base_mb", median(f.base));
      b.set(label, "rss_idle_mb", median(f.idle));
      b.set(label, "idle_conn_kib", median(f.kib));
      b.set(label, "idle_fds_added", median(f.fds));
    },
  });
});

// ---------------------------------------------------------------------------------------
// Targets and report

const KV = "FLOOR-HTTP-KV";
b.vs(KV, "track_session_start p50 <= 1.3x FLOOR-HTTP-KV", "start_p50_ms", "<= 1.3");
b.vs(
  KV,
  `${S.clients} clients: calls/s >= 2x FLOOR-HTTP-KV, 0 failed, 0 lost`,
  "c64_calls_s",
  ">= 2, 0 failed, 0 lost",
  b.get("ours", "c64_failed") === 0 && b.get("ours", "c64_lost") === 0,
);
b.vs(
  "FLOOR-HTTP",
  "RSS per idle keep-alive connection <= 1.25x FLOOR-HTTP",
  "idle_conn_kib",
  "<= 1.25",
);
b.vs(
  "FLOOR-HTTP",
  "cold start to the first 200 of /healthz <= 1.3x FLOOR-HTTP",
  "cold_start_ms",
  "<= 1.3",
);

const LOAD_AFTER = loadAverage();
b.report([b.title("HTTP transport")], [
  [
    "FLOOR-HTTP = Deno.serve + the SDK's stateless WebStandardStreamableHTTPServerTransport " +
    "(JSON answers) + a low-level SDK Server with a no-op tool; FLOOR-HTTP-KV = the same whose " +
    "tool does one Deno KV commit (and whose /healthz reads one key). start = " +
    "track_session_start for ours, the floors' tool with the same arguments.",
    `cold start: spawn to the first 200 of GET /healthz (polled every ms), median of ` +
    `${S.coldRuns}. start_*: one call at a time on one keep-alive connection, ` +
    `${S.seqRounds}x${S.seqCalls} calls. c64_*: ${S.clients} clients, each on its own ` +
    `keep-alive connection, calling back to back for ${S.loadMs} ms, ${S.loadRounds} rounds; ` +
    "lost = acknowledged starts missing from the store (while running and after a SIGTERM " +
    `stop). rss_*: fresh servers after ${S.idleWarmup} calls and health checks, then with ` +
    `${S.idleConns} idle keep-alive connections that made one GET /healthz each (VmRSS at ` +
    `rest, median of ${S.idleRounds} rounds); idle_fds_added shows they stayed open. ` +
    "The load generator runs on the same cores as the servers.",
    `load average (1, 5, 15 min) before the run: ${LOAD_BEFORE}; after: ${LOAD_AFTER}`,
  ],
  ["stored (acknowledged starts looked up in the store itself):", ...b.storedTable()],
]);
await b.finish({
  deno: Deno.version.deno,
  cores: navigator.hardwareConcurrency,
  load_average: { before: LOAD_BEFORE, after: LOAD_AFTER },
  sizes: S,
  stored: b.stored,
  ours_clean: b.clean((server) => server === "ours"),
});
