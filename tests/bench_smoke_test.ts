/**
 * Smoke test of bench/list_scale.ts: the benchmark runs end to end on tiny stores and
 * prints its JSON summary with a ratio for every operation. Timings are not checked.
 */
import assert from "node:assert/strict";

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
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `benchmark failed:\n${stderr}\n${stdout}`);

  const line = stdout.trim().split("\n").findLast((l) => l.startsWith('{"bench":"list_scale"'));
  assert.ok(line, `no JSON summary line in:\n${stdout}`);
  const summary = JSON.parse(line);
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
