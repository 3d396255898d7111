/**
 * `deno task bench`: session-buddy over MCP stdio beside its baselines, in one run, each a
 * subprocess spoken to in newline-delimited JSON-RPC: `ours`; FLOOR and FLOOR-KV
 * (bench/floor.ts); `peer`, @modelcontextprotocol/server-memory, empty and holding 10,000
 * entities (`peer-10k`). Phases: cold start, sequential starts and ends, pipelined calls,
 * RSS after 1,000 and 100,000 sessions, 4 processes on one store; stores counted after each.
 *
 *     deno task bench [--quick] [--with-list] [--keep]
 */
import { CONFIG, DEV_FLAGS, endArgs, ROOT, startArgs, withStore } from "../tests/helpers/server.ts";
import {
  add,
  Bench,
  benchProgram,
  type Command,
  drive,
  emptySample,
  homeOf,
  type Message,
  ourProgram,
  RpcClient,
  type Sample,
  settle,
  structured,
  table,
  together,
  tracked,
} from "./harness.ts";
import devImports from "../tests/imports.json" with { type: "json" };

const FIGURES = [
  "cold_start_ms",
  "start_p50_ms",
  "start_p99_ms",
  "start_calls_s",
  "end_p50_ms",
  "end_p99_ms",
  "end_calls_s",
  "pipelined_calls_s",
  "peak_rss_mb",
  "rss_1k_mb",
  "rss_100k_mb",
  "multi4_calls_s",
  "multi4_failed",
  "multi4_lost",
] as const;
const b = new Bench("perf", ["ours", "FLOOR", "FLOOR-KV", "peer", "peer-10k"], FIGURES, {
  "--with-list": false,
  "--keep": false,
});
const S = b.sizes({
  coldRuns: [20, 2],
  seqRounds: [4, 2],
  seqCalls: [250, 10],
  seqCallsPeer10k: [50, 5],
  pipeRounds: [3, 1],
  pipeCalls: [2000, 64],
  pipeCallsPeer: [160, 32],
  depth: [16, 16],
  /** Calls that store nothing, made first so that V8's heap reaches its working size. */
  rssWarmup: [30_000, 100],
  /** Sessions tracked before the first and the second RSS reading. */
  rssFirst: [1_000, 50],
  rssSecond: [100_000, 200],
  rssChunk: [11_000, 100],
  /** Entities in the peer's store before `peer-10k` runs. */
  peerSeed: [10_000, 100],
  multiProcs: [4, 4],
  multiCalls: [2_500, 40],
  multiRounds: [2, 1],
});

// ---------------------------------------------------------------------------------------
// The servers

interface Call {
  name: string;
  args: Record<string, unknown>;
}
interface Kind {
  label: string;
  command(store: string): Command;
  start(): Call;
  /** The id to end, or null when the start failed. */
  started(call: Call, reply: Message): string | null;
  end(id: string): Call;
  ended(reply: Message): boolean;
  /** A call that stores nothing (a replay, an unknown id), for warming up the heap. */
  idle(): Call;
  /** Counts starts and ends in the store; null for a server that stores nothing. */
  count(store: string): Promise<{ starts: number; ends: number } | null>;
}

const countKv = (store: string, starts: Deno.KvKey, ends: Deno.KvKey) =>
  withStore(store, async (kv) => {
    const n = async (prefix: Deno.KvKey) => {
      let c = 0;
      for await (const _ of kv.list({ prefix }, { batchSize: 1000 })) c++;
      return c;
    };
    return { starts: await n(starts), ends: await n(ends) };
  });
const floor = (kind: string, store: string) =>
  benchProgram("floor.ts", [kind, store], homeOf(store));
const REPLAYED = startArgs();
const OURS: Kind = {
  label: "ours",
  command: (store) => ourProgram({ ...homeOf(store), SESSION_BUDDY_DB: store }),
  start: () => ({ name: "track_session_start", args: startArgs() }),
  started: (_call, reply) => tracked(reply),
  end: (id) => ({ name: "track_session_end", args: endArgs(id) }),
  ended: (reply) => structured(reply)?.status === "ended",
  // A retried start (same event_id) answers from the store and commits nothing.
  idle: () => ({ name: "track_session_start", args: REPLAYED }),
  count: (store) => countKv(store, ["session"], ["by_status", "ended"]),
};
const FLOOR: Kind = {
  label: "FLOOR",
  command: (store) => floor("noop", store),
  start: () => ({ name: "noop", args: startArgs() }),
  started: (call, reply) => structured(reply) ? String(call.args.event_id) : null,
  end: (id) => ({ name: "noop", args: endArgs(id) }),
  ended: (reply) => structured(reply) !== null,
  idle: () => ({ name: "noop", args: startArgs() }),
  count: () => Promise.resolve(null),
};
const FLOOR_KV: Kind = {
  label: "FLOOR-KV",
  command: (store) => floor("kv", store),
  start: () => ({ name: "kv_insert", args: startArgs() }),
  started: (_call, reply) => tracked(reply),
  end: (id) => ({ name: "kv_update", args: endArgs(id) }),
  ended: (reply) => structured(reply)?.status === "ended",
  idle: () => ({ name: "kv_update", args: endArgs("no-such-session") }),
  count: (store) => countKv(store, ["rec"], ["idx_end"]),
};

/** The peer's package, as pinned in the tooling's import map. */
const PEER_SPEC = devImports.imports["@modelcontextprotocol/server-memory"];
const observation = (a: Record<string, unknown>) =>
  `session ${a.event_id} component=${a.component_name} shell=${a.shell_type} pid=${a.pid} ` +
  `user=john host=${a.hostname} cwd=/home/john/projects/mahavishnu started=${a.timestamp}`;
const peerKind = (label: string): Kind => ({
  label,
  command: (store) => ({
    command: Deno.execPath(),
    args: ["run", "-q", "-A", ...DEV_FLAGS, "--config", CONFIG, PEER_SPEC],
    env: { ...homeOf(store), MEMORY_FILE_PATH: store },
  }),
  start() {
    const a = startArgs();
    const entity = {
      name: String(a.event_id),
      entityType: "session",
      observations: [observation(a)],
    };
    return { name: "create_entities", args: { entities: [entity] } };
  },
  started: (call, reply) =>
    structured(reply) ? (call.args.entities as { name: string }[])[0]!.name : null,
  end: (id) => ({
    name: "add_observations",
    args: {
      observations: [{
        entityName: id,
        contents: [`ended=${new Date().toISOString()} exit_reason=user_exit`],
      }],
    },
  }),
  ended: (reply) => structured(reply) !== null,
  idle: () => ({ name: "read_graph", args: {} }),
  async count(store) {
    const text = await Deno.readTextFile(store).catch((e) => {
      if (e instanceof Deno.errors.NotFound) return "";
      throw e;
    });
    const entities = text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l))
      .filter((item) => item.type === "entity");
    const ends = entities.filter((e) =>
      (e.observations as string[]).some((o) => o.startsWith("ended="))
    );
    return { starts: entities.length, ends: ends.length };
  },
});
const PEER = peerKind("peer");
const PEER_10K = peerKind("peer-10k");

/** A server process of one kind on one store, and what it was told to store. */
class Instance {
  readonly client: RpcClient;
  expectedStarts = 0;
  expectedEnds = 0;
  failed = 0;
  /** Ids started and not yet ended. */
  open: string[] = [];
  constructor(readonly kind: Kind, readonly store: string, readonly label = kind.label) {
    this.client = new RpcClient(kind.command(store), label);
  }

  /** `n` calls of one sort with `depth` in flight. */
  calls(n: number, depth: number, what: "start" | "end" | "idle"): Promise<Sample> {
    return drive(n, depth, async () => {
      if (what === "idle") {
        const c = this.kind.idle();
        if (!(await this.client.callTool(c.name, c.args)).result) this.failed++;
        return null;
      }
      const id = what === "end" ? this.open.shift() : "";
      if (id === undefined) return false;
      const call = what === "start" ? this.kind.start() : this.kind.end(id);
      const t0 = performance.now();
      const reply = await this.client.callTool(call.name, call.args);
      const ms = performance.now() - t0;
      if (what === "start") {
        const started = this.kind.started(call, reply);
        if (started === null) this.failed++;
        else this.expectedStarts++, this.open.push(started);
      } else if (this.kind.ended(reply)) this.expectedEnds++;
      else this.failed++;
      return ms;
    });
  }
}

// ---------------------------------------------------------------------------------------
// What the stores hold after each phase

interface StoredRow {
  phase: string;
  server: string;
  expected_starts: number;
  stored_starts: number | null;
  expected_ends: number;
  stored_ends: number | null;
  failed_calls: number;
  lost: number | null;
}
const stored: StoredRow[] = [];

/** Counts each store once (a store shared by several processes against the sum of calls). */
async function countPhase(phase: string, instances: Instance[]): Promise<void> {
  for (const group of Map.groupBy(instances, (i) => i.store).values()) {
    const first = group[0]!;
    const held = await first.kind.count(first.store);
    const sum = (f: (i: Instance) => number) => group.reduce((a, i) => a + f(i), 0);
    const [starts, ends] = [sum((i) => i.expectedStarts), sum((i) => i.expectedEnds)];
    stored.push({
      phase,
      server: group.length > 1 ? `${group.length}x ${first.kind.label}` : first.label,
      expected_starts: starts,
      stored_starts: held?.starts ?? null,
      expected_ends: ends,
      stored_ends: held?.ends ?? null,
      failed_calls: sum((i) => i.failed),
      lost: held ? Math.max(0, starts - held.starts) + Math.max(0, ends - held.ends) : null,
    });
  }
}

async function seedPeer(path: string, n: number): Promise<void> {
  const lines = Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      type: "entity",
      name: `seed-${i}`,
      entityType: "session",
      observations: [
        `session seed-${i} component=mahavishnu shell=MahavishnuShell pid=${1000 + i} user=john ` +
        `host=server01 cwd=/home/john/projects/mahavishnu started=2026-01-01T00:00:00.000Z`,
        `ended=2026-01-01T01:00:00.000Z exit_reason=user_exit`,
      ],
    }));
  await Deno.writeTextFile(path, lines.join("\n"));
}

// ---------------------------------------------------------------------------------------
// The phases

const tmp = await b.tempDir("session-buddy-bench-");
const storeOf = (name: string) => `${tmp}/${name}`;
const instances = (kinds: Kind[], prefix: string) =>
  kinds.map((k) => new Instance(k, storeOf(`${prefix}${k.label}`)));

await b.run(async () => {
  b.log(`temp folder ${tmp}; ${b.quick ? "QUICK" : "full"} sizes; peer ${PEER_SPEC}`);
  await b.cold(
    [OURS, FLOOR, FLOOR_KV, PEER],
    S.coldRuns,
    "spawn to the answers of initialize and tools/list",
    async (kind) => {
      const t0 = performance.now();
      const client = new RpcClient(kind.command(storeOf(`cold-${kind.label}`)), kind.label);
      await client.handshake();
      const ms = performance.now() - t0;
      await client.close();
      return ms;
    },
  );

  // Sequential and pipelined calls on long-lived servers.
  await seedPeer(storeOf("peer-10k"), S.peerSeed);
  const main = instances([OURS, FLOOR, FLOOR_KV, PEER, PEER_10K], "");
  main[4]!.expectedStarts = main[4]!.expectedEnds = S.peerSeed;
  await Promise.all(main.map((i) => i.client.handshake()));
  // A short warm-up on each, not counted in latencies (but counted in the stores).
  for (const inst of main) await inst.calls(20, 1, "start"), await inst.calls(10, 1, "end");
  const ends = new Map(main.map((i) => [i.label, emptySample()]));
  await b.phase({
    name: "sequential",
    measures: "start and end calls one at a time: p50, p99, calls/s",
    rounds: S.seqRounds,
    settle: false,
    setup: () => main,
    async run(inst) {
      const n = inst.label === "peer-10k" ? S.seqCallsPeer10k : S.seqCalls;
      await settle();
      const start = await inst.calls(n, 1, "start");
      await settle();
      add(ends.get(inst.label)!, await inst.calls(n, 1, "end"));
      return start;
    },
    done(label, s) {
      b.latency(label, "start", s);
      b.latency(label, "end", ends.get(label)!);
    },
    teardown: () => countPhase("sequential", main),
  });
  await b.phase({
    name: "pipelined",
    measures: `calls/s with ${S.depth} in flight on one connection`,
    rounds: S.pipeRounds,
    setup: () => main,
    run: (inst) =>
      inst.calls(inst.label.startsWith("peer") ? S.pipeCallsPeer : S.pipeCalls, S.depth, "start"),
    done: (label, s) => b.latency(label, "pipelined", s, ["calls_s"]),
    async teardown() {
      await countPhase("pipelined", main);
      // The peer holding 10,000 entities: its memory is its peak and its "RSS at scale".
      for (const inst of main.slice(3)) b.set(inst.label, "peak_rss_mb", inst.client.memory().hwm);
      await Promise.all(main.map((i) => i.client.close()));
    },
  });

  await b.phase({
    name: "memory",
    measures: `RSS at rest after ${S.rssFirst} and ${S.rssSecond} tracked sessions, fresh servers`,
    rounds: 1,
    settle: false,
    async setup() {
      const mem = instances([OURS, FLOOR, FLOOR_KV], "rss-");
      await Promise.all(mem.map((i) => i.client.handshake()));
      for (const inst of mem) await inst.calls(S.rssWarmup, S.depth, "idle");
      // The warm-up's first replayed start was a real one.
      mem[0]!.expectedStarts = 1;
      return mem;
    },
    async run(inst) {
      await inst.calls(S.rssFirst, S.depth, "start");
      inst.open = [];
      // At rest: let the process return what a burst left behind, as between bursts.
      b.set(inst.label, "rss_1k_mb", (await inst.client.restingRss()).rss);
      return emptySample();
    },
    async teardown(mem) {
      for (let done = S.rssFirst; done < S.rssSecond; done += S.rssChunk) {
        for (const inst of mem) {
          await inst.calls(Math.min(S.rssChunk, S.rssSecond - done), S.depth, "start");
          inst.open = [];
        }
      }
      for (const inst of mem) {
        const m = await inst.client.restingRss();
        b.set(inst.label, "rss_100k_mb", m.rss);
        b.set(inst.label, "peak_rss_mb", m.hwm);
      }
      await countPhase("memory", mem);
      await Promise.all(mem.map((i) => i.client.close()));
    },
  });

  await b.phase({
    name: "4 processes",
    measures: `${S.multiProcs} processes on one store, ${S.depth} in flight each`,
    rounds: S.multiRounds,
    async setup() {
      const groups = [OURS, FLOOR_KV].map((kind) =>
        Array.from(
          { length: S.multiProcs },
          (_, i) => new Instance(kind, storeOf(`multi-${kind.label}.kv`), `${kind.label}#${i}`),
        )
      );
      // Processes of one store start one after another: the first creates the store.
      for (const inst of groups.flat()) await inst.client.handshake();
      return groups;
    },
    label: (g) => g[0]!.kind.label,
    run: (group) => together(group, (i) => i.calls(S.multiCalls, S.depth, "start")),
    done: (label, s) => b.latency(label, "multi4", s, ["calls_s"]),
    async teardown(groups) {
      await countPhase("4 processes", groups.flat());
      for (const group of groups) {
        const label = group[0]!.kind.label;
        b.set(label, "multi4_failed", group.reduce((a, i) => a + i.failed, 0));
        b.set(label, "multi4_lost", stored.findLast((r) => r.server.endsWith(` ${label}`))!.lost);
      }
      await Promise.all(groups.flat().map((i) => i.client.close()));
    },
  });
});

// ---------------------------------------------------------------------------------------
// Targets and report

const F = (server: string, figure: (typeof FIGURES)[number]) => b.get(server, figure);
const ratio1 = (a: number, c: number) => (c > 0 ? Number((a / c).toFixed(1)) : null);
b.vs("FLOOR", "cold start <= 1.2x FLOOR", "cold_start_ms", "<= 1.2");
b.vs("FLOOR-KV", "track_session_start p50 <= 1.3x FLOOR-KV", "start_p50_ms", "<= 1.3");
b.vs("FLOOR-KV", "pipelined calls/s >= 1.5x FLOOR-KV", "pipelined_calls_s", ">= 1.5");
b.target(
  `RSS after ${S.rssSecond} <= 1.1x RSS after ${S.rssFirst}`,
  "rss_100k_mb / rss_1k_mb",
  F("ours", "rss_100k_mb"),
  F("ours", "rss_1k_mb"),
  "<= 1.1",
);
b.vs(
  "FLOOR-KV",
  "4 processes on one store: 0 failed/lost, >= 1.5x 4x FLOOR-KV",
  "multi4_calls_s",
  ">= 1.5, 0 failed, 0 lost",
  F("ours", "multi4_failed") === 0 && F("ours", "multi4_lost") === 0,
);
// The peer's target compares each server at its best, 16 calls in flight (the busy-fleet
// case it is about). One call at a time every durable server is bound by one commit (an
// fsync) per call: the sequential ratios are printed beside it, FLOOR-KV's too.
b.target(
  `calls/s >= 50x the peer holding 10,000 entities, both pipelined (one at a time: ${
    ratio1(F("ours", "start_calls_s"), F("peer-10k", "start_calls_s"))
  }x; FLOOR-KV ${
    ratio1(F("FLOOR-KV", "start_calls_s"), F("peer-10k", "start_calls_s"))
  }x; the peer loses overlapping writes)`,
  "pipelined_calls_s vs peer-10k",
  F("ours", "pipelined_calls_s"),
  F("peer-10k", "pipelined_calls_s"),
  ">= 50",
);

const peerLost = stored.filter((r) => r.server.startsWith("peer") && (r.lost ?? 0) > 0);
b.report(
  [b.title("performance")],
  [
    [
      "peer = @modelcontextprotocol/server-memory, empty store; peer-10k = the same holding " +
      `${S.peerSeed} entities. start = create_entities, end = add_observations for the peer; ` +
      "FLOOR's tool is a no-op; FLOOR-KV's start/end are kv_insert/kv_update.",
      `RSS figures: fresh servers, ${S.rssWarmup} calls that store nothing (V8's heap grows to ` +
      `its working size: a no-op server too grows about 2x over its first ~30k calls), then ` +
      `after ${S.rssFirst} and ${S.rssSecond} tracked sessions (FLOOR: no-op calls), each the ` +
      `median of five readings at rest; peer peak RSS is after its runs. multi4 = ` +
      `${S.multiProcs} processes on one store, ${S.depth} in flight each; FLOOR-KV retries ` +
      `"database is locked" with a 1-5 ms random pause.`,
    ],
    [
      "stored after each phase (counted in the store itself):",
      ...table(
        ["phase", "server", "starts stored/expected", "ends stored/expected", "failed", "lost"],
        stored.map((r) => [
          r.phase,
          r.server,
          r.stored_starts === null
            ? "- (stores nothing)"
            : `${r.stored_starts}/${r.expected_starts}`,
          r.stored_ends === null ? "-" : `${r.stored_ends}/${r.expected_ends}`,
          String(r.failed_calls),
          r.lost === null ? "-" : r.lost > 0 ? `${r.lost} LOST` : "0",
        ]),
      ),
      ...peerLost.length === 0 ? [] : [
        `the reference peer LOST writes: ${
          peerLost.map((r) => `${r.lost} in ${r.phase} (${r.server})`).join(", ")
        } -- create_entities/add_observations read the whole file, change it and write it ` +
        "back, so calls that overlap overwrite each other (its calls still answered success).",
      ],
    ],
  ],
  b.flag("--with-list") ? [] : [
    "  ----  list_sessions 1M vs 1k: run `deno task bench:list` (bench/list_scale.ts), or pass --with-list",
  ],
);

let list: { code: number } | null = null;
if (b.flag("--with-list")) {
  console.log("\nbench/list_scale.ts:");
  const status = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "-P=bench", ...DEV_FLAGS, "--config", CONFIG, `${ROOT}bench/list_scale.ts`],
    cwd: ROOT,
  }).spawn().status;
  list = { code: status.code };
}
await b.finish({
  deno: Deno.version.deno,
  cores: navigator.hardwareConcurrency,
  peer: PEER_SPEC,
  sizes: S,
  stored,
  peer_lost_writes: peerLost.reduce((a, r) => a + (r.lost ?? 0), 0),
  ours_clean: stored.filter((r) => r.server.includes("ours"))
    .every((r) => r.failed_calls === 0 && r.lost === 0),
  list_scale: list ?? "not run (pass --with-list, or run deno task bench:list)",
});
