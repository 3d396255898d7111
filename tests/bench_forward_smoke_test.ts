/**
 * Smoke test of bench/forward.ts (`deno task bench:forward`): with tiny counts (`--quick`) it
 * forwards a host's store to a loopback collector and imports the same records directly, and
 * prints one JSON line with both rates and both targets. Timings are not checked.
 */
import assert from "node:assert/strict";
import { benchSummary, runBench } from "./helpers/bench.ts";

Deno.test("bench/forward.ts --quick forwards, imports, and reports both rates and targets", async () => {
  const summary = benchSummary(await runBench("forward.ts", ["--quick"]), "forward");
  assert.equal(summary.quick, true);
  assert.deepEqual(Object.keys(summary.figures), ["ours", "IMPORT"]);
  for (const server of ["ours", "IMPORT"]) {
    assert.ok(summary.figures[server].records_s > 0, server);
    assert.equal(summary.rates[server].length, summary.sizes.rounds, server);
  }
  assert.deepEqual(
    summary.targets.map((t: { target: string }) => t.target),
    [
      "forward keeps up with 1,000 starts/s",
      "forward through a collector >= 0.5x a direct sessions import",
    ],
  );
});
