/**
 * Smoke test of bench/perf.ts (`deno task bench`): with tiny counts (`--quick`) it runs
 * every phase against our server, both baselines and the reference peer, and prints one
 * JSON line holding every figure. Timings are not checked; that nothing our server
 * acknowledged went missing from its store is.
 */
import assert from "node:assert/strict";
import { benchSummary, runBench } from "./helpers/bench.ts";

const SERVERS = ["ours", "FLOOR", "FLOOR-KV", "peer", "peer-10k"];
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
];
/** Figures that do not apply to a server, and are null. */
const NOT_APPLICABLE: Record<string, string[]> = {
  ours: [],
  FLOOR: ["multi4_calls_s", "multi4_failed", "multi4_lost"],
  "FLOOR-KV": [],
  peer: ["rss_1k_mb", "rss_100k_mb", "multi4_calls_s", "multi4_failed", "multi4_lost"],
  "peer-10k": [
    "cold_start_ms",
    "rss_1k_mb",
    "rss_100k_mb",
    "multi4_calls_s",
    "multi4_failed",
    "multi4_lost",
  ],
};

Deno.test("bench/perf.ts --quick runs every phase and reports every figure", async () => {
  const stdout = await runBench("perf.ts", ["--quick"]);

  const summary = benchSummary(stdout, "perf");
  assert.equal(summary.quick, true);
  assert.deepEqual(Object.keys(summary.figures), SERVERS);
  for (const server of SERVERS) {
    const figures = summary.figures[server];
    assert.deepEqual(Object.keys(figures), FIGURES, server);
    for (const name of FIGURES) {
      const value = figures[name];
      if (NOT_APPLICABLE[server]!.includes(name)) {
        assert.equal(value, null, `${server} ${name}`);
      } else {
        assert.ok(Number.isFinite(value) && value >= 0, `${server} ${name}: ${value}`);
      }
    }
  }
  for (const name of ["start_p50_ms", "start_calls_s", "pipelined_calls_s", "cold_start_ms"]) {
    assert.ok(summary.figures.ours[name] > 0, `ours ${name}`);
  }
  assert.equal(summary.targets.length, 6);
  for (const t of summary.targets) {
    assert.equal(typeof t.pass, "boolean", t.target);
    assert.ok(Number.isFinite(t.ratio) && t.ratio > 0, `${t.target}: ratio ${t.ratio}`);
  }
  // Every phase was counted in the stores, and our server lost and failed nothing.
  const phases = new Set(summary.stored.map((r: { phase: string }) => r.phase));
  assert.deepEqual([...phases], ["sequential", "pipelined", "memory", "4 processes"]);
  for (const row of summary.stored.filter((r: { server: string }) => r.server.includes("ours"))) {
    assert.equal(row.failed_calls, 0, JSON.stringify(row));
    assert.equal(row.lost, 0, JSON.stringify(row));
    assert.equal(row.stored_starts, row.expected_starts, JSON.stringify(row));
  }
  assert.equal(summary.ours_clean, true);
  assert.equal(typeof summary.pass, "boolean");
  assert.match(stdout, /overall: (PASS|FAIL)/);
});
