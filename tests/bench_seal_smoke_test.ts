/**
 * Smoke test of bench/seal.ts (`deno task bench:seal`): with tiny counts (`--quick`) it runs
 * a sealed and an unsealed server side by side, fills a store with entries and verifies it,
 * and prints one JSON line with the figures and the three targets. Timings are not checked.
 */
import assert from "node:assert/strict";
import { benchSummary, runBench } from "./helpers/bench.ts";

Deno.test("bench/seal.ts --quick measures sealed and unsealed starts and a verify", async () => {
  const summary = benchSummary(await runBench("seal.ts", ["--quick"]), "seal");
  assert.equal(summary.quick, true);
  assert.deepEqual(Object.keys(summary.figures), ["ours", "UNSEALED"]);
  for (const server of ["ours", "UNSEALED"]) {
    assert.ok(summary.figures[server].start_p50_ms > 0, server);
    assert.ok(summary.figures[server].pipelined_calls_s > 0, server);
  }
  assert.ok(summary.figures.ours.verify_s > 0);
  assert.equal(summary.targets.length, 3);
});
