/**
 * `deno task bench:forward`: how fast `forward --once --collector` empties a host's store into
 * a loopback collector (target: 1,000 starts/s), interleaved round by round with `sessions
 * import` of the same records into a fresh store (the baseline), process start included.
 *
 *     deno task bench:forward [--quick] [--sessions N]
 */
import { freePort, startHttpServer } from "../tests/helpers/http.ts";
import { mintToken, runProgram, SECRET, startArgs } from "../tests/helpers/server.ts";
import { Bench, loadAverage, median } from "./harness.ts";

const FIGURES = ["records_s"] as const;
const b = new Bench("forward", ["ours", "IMPORT"], FIGURES, { "--sessions": 5000 });
const S = b.sizes({ rounds: [5, 1], sessions: [b.num("--sessions"), 200] });
const LOAD_BEFORE = loadAverage();

/** NDJSON of `n` started sessions, a second apart. */
function exported(n: number): string {
  const at = Date.parse("2026-05-01T00:00:00.000Z");
  return Array.from({ length: n }, (_, i) => {
    const start = new Date(at + i * 1000).toISOString();
    const { token: _token, ...event } = startArgs({ timestamp: start });
    const id = `${event.component_name}-${start.slice(0, 10).replaceAll("-", "")}-${
      start.slice(11, 19).replaceAll(":", "")
    }`;
    return JSON.stringify({
      ...event,
      session_id: id,
      status: "active",
      started_at: start,
      ended_at: null,
      duration_seconds: null,
      end_metadata: null,
      end_source: null,
      last_seen_at: start,
      tracked_by: null,
    });
  }).join("\n") + "\n";
}

/** Runs the program; fails the run when it does not exit 0. Returns seconds taken. */
async function timed(args: string[], env: Record<string, string>, stdin = ""): Promise<number> {
  const began = performance.now();
  const out = await runProgram(args, env, stdin);
  if (out.code !== 0) throw new Error(`${args.join(" ")}: exit ${out.code}: ${out.stderr}`);
  return (performance.now() - began) / 1000;
}

const rates: Record<string, number[]> = { ours: [], IMPORT: [] };
await b.run(async () => {
  const token = await mintToken();
  for (let round = 0; round < S.rounds; round++) {
    const dir = await b.tempDir("sb-bench-forward-");
    const records = exported(S.sessions);
    const host = { HOME: dir, SESSION_BUDDY_DB: `${dir}/host.kv` };
    await timed(["sessions", "import", "-"], host, records);
    const port = freePort();
    const collector = await startHttpServer({
      env: { HOME: dir, SESSION_BUDDY_DB: `${dir}/fleet.kv`, SESSION_BUDDY_SECRET: SECRET },
      port,
    });
    try {
      // Alternate which goes first, so neither always meets a warmer machine.
      const work = [
        async () => {
          const url = `http://127.0.0.1:${port}/mcp`;
          const env = { ...host, SESSION_BUDDY_FORWARD_TOKEN: token };
          rates.ours!.push(
            S.sessions / await timed(["forward", "--collector", url, "--once"], env),
          );
        },
        async () => {
          const env = { HOME: dir, SESSION_BUDDY_DB: `${dir}/direct.kv` };
          rates.IMPORT!.push(S.sessions / await timed(["sessions", "import", "-"], env, records));
        },
      ];
      if (round % 2) work.reverse();
      for (const w of work) await w();
    } finally {
      await collector.stop();
    }
    b.log(`round ${round + 1}/${S.rounds}: forward ${Math.round(rates.ours!.at(-1)!)}/s`);
  }
});
for (const server of ["ours", "IMPORT"]) {
  b.set(server, "records_s", Math.round(median(rates[server]!)));
}
const forwarded = b.get("ours", "records_s");
b.target("forward keeps up with 1,000 starts/s", "records_s", forwarded, 1000, ">= 1", {
  detail: `${forwarded} records/s (>= 1000)`,
});
b.vs(
  "IMPORT",
  "forward through a collector >= 0.5x a direct sessions import",
  "records_s",
  ">= 0.5",
);
const LOAD_AFTER = loadAverage();
b.report([b.title("Forwarding to a loopback collector")], [[
  `records_s: ${S.sessions} started sessions per round, median of ${S.rounds} rounds. ours = ` +
  "`forward --once --collector` from a host's Deno KV file to `serve --http` on another Deno " +
  "KV file, process start included; IMPORT = `sessions import` of the same records into a " +
  "fresh Deno KV file, process start included.",
  `load average (1, 5, 15 min) before the run: ${LOAD_BEFORE}; after: ${LOAD_AFTER}`,
]]);
await b.finish({
  deno: Deno.version.deno,
  cores: navigator.hardwareConcurrency,
  load_average: { before: LOAD_BEFORE, after: LOAD_AFTER },
  sizes: S,
  rates,
});
