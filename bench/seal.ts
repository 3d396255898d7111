/**
 * `deno task bench:seal`: what sealing the history costs (SPEC 10). `track_session_start`
 * one at a time (p50) and pipelined (calls/s) on a server sealing every second against the
 * same build with sealing off, interleaved round by round on stores of their own; then
 * `sessions verify` of a store holding `--entries` entries (default 1,000,000), timed as a
 * process. Targets: p50 at most 1.1x, calls/s at least 0.9x, verify under a minute.
 *
 *     deno task bench:seal [--quick] [--entries N]
 */
import { Chain, type EntryBody, entryText, newWriterId } from "../src/seal/entry.ts";
import { advance, createKeyFile, readKeyFile, writeKeyFile } from "../src/seal/key_file.ts";
import { makeSeal } from "../src/seal/seal.ts";
import { startRecord } from "../src/sessions/session.ts";
import type { SessionStartEvent } from "../src/sessions/events.ts";
import { runProgram, startArgs } from "../tests/helpers/server.ts";
import {
  Bench,
  homeOf,
  type Kind,
  loadAverage,
  ourProgram,
  sleep,
  StdioServer,
} from "./harness.ts";

const FIGURES = ["start_p50_ms", "pipelined_calls_s", "verify_s"] as const;
const b = new Bench("seal", ["ours", "UNSEALED"], FIGURES, { "--entries": 1_000_000 });
const S = b.sizes({
  rounds: [6, 2],
  seqCalls: [400, 40],
  pipeCalls: [2000, 200],
  depth: [32, 32],
  entries: [b.num("--entries"), 2000],
});
const LOAD_BEFORE = loadAverage();
const PERIOD = "1s";

/** Our server on `store`, sealing every second with `keyFile` (none: unsealed). */
const kind = (label: string, keyFile: string | null): Kind => ({
  label,
  command: (store) =>
    ourProgram({
      ...homeOf(store),
      SESSION_BUDDY_DB: store,
      ...(keyFile
        ? { SESSION_BUDDY_SEAL_KEY_FILE: keyFile, SESSION_BUDDY_SEAL_EVERY: PERIOD }
        : {}),
    }),
  tool: "track_session_start",
});

/**
 * A store of `n` entries as servers write them: sessions started and ended (two entries
 * each) over 4 writers, a seal per 15-minute period of a key made when the first began.
 */
async function fillStore(path: string, keyFile: string, n: number): Promise<string> {
  const periodMs = 15 * 60_000;
  const t0 = Date.now() - Math.ceil(n / 2) * 1000 - 2 * periodMs;
  const vk = await createKeyFile(keyFile, t0);
  let file = await readKeyFile(keyFile);
  const kv = await Deno.openKv(path);
  const chains = Array.from({ length: 4 }, () => new Chain(newWriterId(), null));
  const enc = new TextEncoder();
  let op = kv.atomic();
  let ops = 0;
  const flush = async () => {
    if (ops > 0 && !(await op.commit()).ok) throw new Error("a fill commit failed");
    [op, ops] = [kv.atomic(), 0];
  };
  const seal = async (until: number) => {
    while (file.from + periodMs <= until) {
      const heads: Record<string, { s: number; h: string }> = {};
      for (const c of chains) if (c.head) heads[c.writer] = { s: c.head.s, h: c.head.h };
      await flush();
      await kv.set(["seal", file.keyId, file.n], makeSeal(file, periodMs, heads, Date.now()));
      file = advance(file, file.n + 1, periodMs);
    }
  };
  for (let i = 0; i < n / 2; i++) {
    const at = t0 + i * 1000;
    await seal(at);
    const event = startArgs({ timestamp: new Date(at).toISOString() }) as unknown as
      & SessionStartEvent
      & { token?: unknown };
    delete event.token;
    const id = `bench-${i}`;
    const started = startRecord(event, id, null, new Date(at));
    const ended = {
      ...started,
      status: "ended" as const,
      ended_at: new Date(at + 500).toISOString(),
      duration_seconds: 0.5,
      end_source: "client" as const,
    };
    const chain = chains[i % 4]!;
    const bodies: EntryBody[] = [{ k: "start", id, r: started }, { k: "end", id, r: ended }];
    const entries = chain.draft(bodies, at);
    for (const e of entries) op.set(["entry", e.w, e.s], entryText(e));
    chain.advance(entries);
    op.set(["session", id], enc.encode(JSON.stringify(ended)));
    if ((ops += 3) >= 300) await flush();
  }
  await flush();
  await seal(Date.now() - periodMs);
  for (const c of chains) await kv.set(["head", c.writer], c.head);
  kv.close();
  await writeKeyFile(keyFile, file);
  return vk;
}

await b.run(async () => {
  const dir = await b.tempDir("sb-bench-seal-");
  const keyFile = `${dir}/seal.key`;
  const made = await runProgram(["seal", "init", "--key-file", keyFile]);
  if (made.code !== 0) throw new Error(`seal init: ${made.stderr}`);
  const servers = [
    new StdioServer(kind("ours", keyFile), `${dir}/sealed.kv`),
    new StdioServer(kind("UNSEALED", null), `${dir}/plain.kv`),
  ];
  await Promise.all(servers.map((s) => s.handshake()));
  for (const s of servers) await s.starts(50, 1);
  await b.phase({
    name: "sequential",
    measures: "track_session_start one at a time: p50",
    rounds: S.rounds,
    alternate: true,
    setup: () => servers,
    run: (s) => s.starts(S.seqCalls, 1),
    done: (label, s) => b.latency(label, "start", s, ["p50_ms"]),
  });
  await b.phase({
    name: "pipelined",
    measures: `track_session_start, ${S.depth} in flight: calls/s`,
    rounds: S.rounds,
    alternate: true,
    setup: () => servers,
    run: (s) => s.starts(S.pipeCalls, S.depth),
    done: (label, s) => b.latency(label, "pipelined", s, ["calls_s"]),
    teardown: async () => void await Promise.all(servers.map((s) => s.close())),
  });
  // What the sealed server wrote verifies under its key, once a server has sealed the
  // periods that were not over yet when it stopped.
  await sleep(6500);
  const last = new StdioServer(kind("ours", keyFile), `${dir}/sealed.kv`);
  await last.handshake();
  await last.close();
  const vk = made.stdout.trim();
  const env = { HOME: dir, SESSION_BUDDY_DB: `${dir}/sealed.kv` };
  const served = await runProgram(["sessions", "verify", "--verification-key", vk], env);
  if (served.code !== 0) throw new Error(`the served store does not verify: ${served.stdout}`);
  b.log(served.stdout.trim());

  b.log(`filling a store with ${S.entries} entries`);
  const big = `${dir}/big.kv`;
  const bigKey = await fillStore(big, `${dir}/big.key`, S.entries);
  const began = performance.now();
  const out = await runProgram(
    ["sessions", "verify", "--verification-key", bigKey, "--json"],
    { HOME: dir, SESSION_BUDDY_DB: big },
  );
  const seconds = (performance.now() - began) / 1000;
  const report = JSON.parse(out.stdout);
  if (out.code !== 0 || report.entries !== S.entries) {
    throw new Error(`verify of the filled store: exit ${out.code}: ${out.stdout.slice(0, 500)}`);
  }
  b.set("ours", "verify_s", seconds);
  b.log(`verified ${report.entries} entries in ${seconds.toFixed(1)} s`);
});

b.vs("UNSEALED", "sealed start p50 <= 1.1x unsealed", "start_p50_ms", "<= 1.1");
b.vs("UNSEALED", "sealed pipelined calls/s >= 0.9x unsealed", "pipelined_calls_s", ">= 0.9");
const verifyS = b.get("ours", "verify_s");
b.target(`sessions verify of ${S.entries} entries < 60 s`, "verify_s", verifyS, 60, "<= 1", {
  detail: `${verifyS} s`,
});
const LOAD_AFTER = loadAverage();
b.report([b.title("Sealing the history")], [[
  `ours seals every ${PERIOD} with a key from seal init; UNSEALED is the same build without ` +
  `a key. Rounds: ${S.rounds}, alternating which goes first; ${S.seqCalls} sequential and ` +
  `${S.pipeCalls} pipelined starts per round, each server on its own Deno KV file.`,
  `verify_s: sessions verify --verification-key of a Deno KV file holding ${S.entries} ` +
  "entries (starts and ends of 4 writers, a seal per 15-minute period), process start included.",
  `load average (1, 5, 15 min) before the run: ${LOAD_BEFORE}; after: ${LOAD_AFTER}`,
]]);
await b.finish({
  deno: Deno.version.deno,
  cores: navigator.hardwareConcurrency,
  load_average: { before: LOAD_BEFORE, after: LOAD_AFTER },
  sizes: S,
});
