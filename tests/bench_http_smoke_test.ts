/**
 * Smoke test of bench/http.ts (`deno task bench:http`): with tiny counts (`--quick`) it runs
 * every phase against our `serve --http` and both HTTP baselines, and prints one JSON line
 * holding every figure. Timings are not checked; that every figure is there and that
 * nothing our server acknowledged went missing from its store is.
 */
import assert from "node:assert/strict";
import { benchSummary, runBench } from "./helpers/bench.ts";

const SERVERS = ["ours", "FLOOR-HTTP", "FLOOR-HTTP-KV"];
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
];
/** Figures that do not apply to a server, and are null. */
const NOT_APPLICABLE: Record<string, string[]> = {
  ours: [],
  "FLOOR-HTTP": ["c64_lost"],
  "FLOOR-HTTP-KV": [],
};
/** A difference of two RSS readings: with a handful of connections, noise may make it negative. */
const MAY_BE_NEGATIVE = ["idle_conn_kib"];

Deno.test("bench/http.ts --quick runs every phase and reports every figure", async () => {
  const stdout = await runBench("http.ts", ["--quick"]);

  const summary = benchSummary(stdout, "http");
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
        assert.ok(Number.isFinite(value), `${server} ${name}: ${value}`);
        if (!MAY_BE_NEGATIVE.includes(name)) assert.ok(value >= 0, `${server} ${name}: ${value}`);
      }
    }
    for (const name of ["cold_start_ms", "start_p50_ms", "c64_calls_s", "rss_base_mb"]) {
      assert.ok(figures[name] > 0, `${server} ${name}`);
    }
    // The idle connections really stayed open on the server (give or take a file or two).
    assert.ok(figures.idle_fds_added >= summary.sizes.idleConns * 0.9, `${server} idle_fds_added`);
  }
  assert.equal(summary.targets.length, 4);
  for (const t of summary.targets) {
    assert.equal(typeof t.pass, "boolean", t.target);
    assert.ok(t.ratio === null || Number.isFinite(t.ratio), `${t.target}: ratio ${t.ratio}`);
  }
  // Every phase was counted in the stores, and our server lost and failed nothing.
  const phases = new Set(summary.stored.map((r: { phase: string }) => r.phase));
  assert.deepEqual([...phases], ["sequential", "64 clients", "after stop", "idle connections #1"]);
  assert.equal(summary.figures.ours.c64_failed, 0);
  assert.equal(summary.figures.ours.c64_lost, 0);
  for (const row of summary.stored.filter((r: { server: string }) => r.server === "ours")) {
    assert.equal(row.failed_calls, 0, JSON.stringify(row));
    assert.equal(row.lost, 0, JSON.stringify(row));
    assert.equal(row.stored, row.acknowledged, JSON.stringify(row));
    assert.ok(row.acknowledged > 0, JSON.stringify(row));
    assert.ok(row.exit === null || row.exit === 0, JSON.stringify(row));
  }
  assert.equal(summary.ours_clean, true);
  assert.equal(typeof summary.pass, "boolean");
  assert.match(stdout, /overall: (PASS|FAIL)/);
});
