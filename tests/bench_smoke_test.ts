/**
 * Smoke test of bench/list_scale.ts: the benchmark runs end to end on tiny stores and
 * prints its JSON summary with a ratio for every operation. Timings are not checked. Its
 * Deno KV half and its PostgreSQL half run apart (`--store kv`, `--store postgres`); without
 * PostgreSQL the second says that it skipped (and fails when CI=true).
 */
import assert from "node:assert/strict";
import { benchSummary, runBench } from "./helpers/bench.ts";
import { pg, skipWithoutPg } from "./helpers/postgres.ts";

const ROOT = new URL("..", import.meta.url);
const OPERATIONS = [
  "list unfiltered",
  "list component",
  "list hostname",
  "list username",
  "list status=active",
  "list status=ended",
  "list since 7d",
  "list component+since 7d",
  "get_session",
];

Deno.test("bench/list_scale.ts runs on tiny stores and reports every ratio", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "bench/list_scale.ts",
      "--sessions",
      "3000",
      "--small",
      "300",
      "--reps",
      "10",
      "--warmup",
      "2",
      "--store",
      "kv",
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `benchmark failed:\n${stderr}\n${stdout}`);

  const summary = benchSummary(stdout, "list_scale");
  assert.deepEqual(summary.sessions, { small: 300, large: 3000 });
  assert.deepEqual(summary.ops.map((o: { op: string }) => o.op), OPERATIONS);
  for (const op of summary.ops) {
    assert.ok(Number.isFinite(op.ratio) && op.ratio > 0, `${op.op}: ratio ${op.ratio}`);
    assert.ok(op.small_us > 0 && op.large_us > 0, `${op.op}: timings ${JSON.stringify(op)}`);
    assert.equal(typeof op.pass, "boolean");
  }
  // session_stats over the last day reads exactly the sessions started that day.
  assert.equal(summary.stats.large.records, summary.stats.large.started_last_day);
  assert.equal(summary.stats.small.records, summary.stats.small.started_last_day);
  assert.ok(summary.stats.large.records < summary.sessions.large);
  assert.equal(typeof summary.pass, "boolean");
  assert.match(stdout, /overall: (PASS|FAIL)/);
});

Deno.test("bench/list_scale.ts --store postgres runs on tiny databases: ratios and EXPLAINs", async () => {
  const cluster = await pg();
  if (!cluster) return skipWithoutPg("bench/list_scale.ts on PostgreSQL");
  const stdout = await runBench("list_scale.ts", [
    "--store",
    "postgres",
    "--sessions",
    "3000",
    "--small",
    "300",
    "--reps",
    "10",
    "--warmup",
    "2",
  ], { SESSION_BUDDY_TEST_PG_URL: cluster.admin });

  const summary = benchSummary(stdout, "list_scale");
  assert.deepEqual(summary.sessions, { small: 300, large: 3000 });
  assert.deepEqual(summary.ops, [], "the Deno KV half did not run");
  const pgPart = summary.postgres;
  assert.equal(pgPart.cluster.port, cluster.port);
  assert.deepEqual(pgPart.ops.map((o: { op: string }) => o.op), OPERATIONS);
  for (const op of pgPart.ops) {
    assert.ok(Number.isFinite(op.ratio) && op.ratio > 0, `${op.op}: ratio ${op.ratio}`);
    assert.ok(op.small_us > 0 && op.large_us > 0, `${op.op}: timings ${JSON.stringify(op)}`);
  }
  assert.equal(pgPart.stats.large.records, pgPart.stats.large.started_last_day);
  assert.equal(pgPart.stats.small.records, pgPart.stats.small.started_last_day);
  // An EXPLAIN (ANALYZE, BUFFERS) of every listing's statements in both databases, and of
  // the listing with two filters that share no index (its page and its edge).
  assert.deepEqual(
    pgPart.explain.map((e: { op: string }) => e.op),
    [...OPERATIONS, "list component+hostname"],
  );
  for (const e of pgPart.explain) {
    for (const side of [e.small, e.large]) {
      assert.ok(side.length >= 1, e.op);
      for (const x of side) {
        assert.ok(x.nodes.length > 0 && Number.isFinite(x.ms) && x.hit + x.read > 0, e.op);
      }
    }
    assert.equal(typeof e.plan_ok, "boolean");
  }
  assert.equal(pgPart.explain.at(-1).large.length, 2, "page and edge");
  assert.match(stdout, /EXPLAIN \(ANALYZE, BUFFERS\)/);
  assert.equal(typeof summary.pass, "boolean");
  assert.match(stdout, /overall: (PASS|FAIL)/);
});
