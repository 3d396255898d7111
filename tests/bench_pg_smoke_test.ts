/**
 * Smoke test of bench/pg.ts (`deno task bench:pg`): with tiny counts (`--quick`) it runs every
 * phase against our server on PostgreSQL and FLOOR-PG, on this test run's cluster, and prints
 * one JSON line holding every figure. Timings are not checked; that every figure is there and
 * that nothing our server acknowledged went missing from the database is. Without PostgreSQL
 * it says that it skipped (and fails when CI=true).
 */
import assert from "node:assert/strict";
import { benchSummary, runBench } from "./helpers/bench.ts";
import { pg, skipWithoutPg } from "./helpers/postgres.ts";
import { ownClusterMissing } from "./helpers/pg_own_cluster.ts";

const SERVERS = ["ours", "FLOOR-PG"];
const FIGURES = [
  "start_p50_ms",
  "start_p99_ms",
  "start_calls_s",
  "pipelined_calls_s",
  "pipelined_p50_ms",
  "multi4_calls_s",
  "multi4_failed",
  "multi4_lost",
  "http_c64_calls_s",
  "http_c64_p50_ms",
  "http_c64_p99_ms",
  "http_c64_failed",
  "http_c64_lost",
];
/** Figures that do not apply to a server, and are null: FLOOR-PG has no HTTP phase. */
const NOT_APPLICABLE: Record<string, string[]> = {
  ours: [],
  "FLOOR-PG": FIGURES.filter((f) => f.startsWith("http_")),
};
const PHASES = ["sequential", "pipelined", "4 processes", "64 HTTP clients", "after stop"];

/** Runs `bench/pg.ts --quick` with `env`; its stdout, once it exited 0. */
async function quickBench(env: Record<string, string>): Promise<string> {
  return await runBench("pg.ts", ["--quick"], env);
}

Deno.test("bench/pg.ts --quick runs every phase and reports every figure", async () => {
  const cluster = await pg();
  if (!cluster) return skipWithoutPg("bench/pg.ts --quick (deno task bench:pg)");
  // This run's cluster (the bench makes databases of its own there and drops them).
  const stdout = await quickBench({ SESSION_BUDDY_TEST_PG_URL: cluster.admin });

  const summary = benchSummary(stdout, "pg");
  assert.equal(summary.quick, true);
  // Which machine and which cluster, in the JSON and in the text.
  assert.ok(typeof summary.machine.cpu === "string" && summary.machine.cpu.length > 0);
  assert.ok(summary.machine.cores > 0);
  assert.match(summary.cluster.version, /^\d+/);
  assert.equal(summary.cluster.port, cluster.port);
  assert.match(stdout, /machine: .+, \d+ cores/);
  assert.match(stdout, new RegExp(`cluster: PostgreSQL \\d+\\S* .*:${cluster.port}`));

  assert.deepEqual(Object.keys(summary.figures), SERVERS);
  for (const server of SERVERS) {
    const figures = summary.figures[server];
    assert.deepEqual(Object.keys(figures), FIGURES, server);
    for (const name of FIGURES) {
      const value = figures[name];
      if (NOT_APPLICABLE[server]!.includes(name)) assert.equal(value, null, `${server} ${name}`);
      else assert.ok(Number.isFinite(value) && value >= 0, `${server} ${name}: ${value}`);
    }
    for (const name of ["start_p50_ms", "start_calls_s", "pipelined_calls_s", "multi4_calls_s"]) {
      assert.ok(figures[name] > 0, `${server} ${name}`);
    }
  }
  assert.ok(summary.figures.ours.http_c64_calls_s > 0);
  assert.equal(summary.figures.ours.multi4_failed, 0);
  assert.equal(summary.figures.ours.multi4_lost, 0);
  assert.equal(summary.figures.ours.http_c64_failed, 0);
  assert.equal(summary.figures.ours.http_c64_lost, 0);

  assert.equal(summary.targets.length, 4);
  for (const [i, t] of summary.targets.entries()) {
    assert.equal(typeof t.pass, "boolean", t.target);
    if (i < 3) assert.ok(Number.isFinite(t.ratio) && t.ratio > 0, `${t.target}: ${t.ratio}`);
    else assert.equal(t.ratio, null, t.target);
  }
  assert.match(stdout, /(PASS|FAIL) +\d+(\.\d+)?x \(<= 1\.3\)/);

  // CPU per call of every measured phase and server.
  const cpuKeys = summary.cpu.map((c: { phase: string; server: string }) =>
    `${c.phase}/${c.server}`
  );
  for (const phase of PHASES.slice(0, 3)) {
    for (const server of SERVERS) assert.ok(cpuKeys.includes(`${phase}/${server}`), phase);
  }
  assert.ok(cpuKeys.includes("64 HTTP clients/ours"));
  for (const c of summary.cpu) {
    assert.ok(c.calls > 0 && Number.isFinite(c.server_us) && Number.isFinite(c.client_us));
    if (summary.cluster.on_this_machine) assert.ok(Number.isFinite(c.postgres_us));
  }

  // Every phase was counted in the databases, and our server lost and failed nothing.
  const phases = [...new Set(summary.stored.map((r: { phase: string }) => r.phase))];
  assert.deepEqual(phases, PHASES);
  for (const row of summary.stored.filter((r: { server: string }) => !r.server.includes("FLOOR"))) {
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

Deno.test("bench/pg.ts starts a durable cluster of its own by default (fsync on)", async () => {
  const missing = ownClusterMissing();
  if (missing) {
    if (Deno.env.get("CI") === "true") throw new Error(`${missing}: bench/pg.ts's own cluster`);
    return console.log(`skipped: ${missing}: bench/pg.ts's own cluster`);
  }
  const stdout = await quickBench({});
  const summary = benchSummary(stdout, "pg");
  assert.equal(summary.cluster.fsync, "on");
  assert.equal(summary.cluster.synchronous_commit, "on");
  assert.equal(summary.cluster.source, "a durable cluster started for this run");
  assert.equal(summary.ours_clean, true);
  assert.doesNotMatch(stdout, /fsync=off: commits do not wait/);
});
