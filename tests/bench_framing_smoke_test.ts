/**
 * Smoke test of bench/decisions.ts's `framing` part (our HTTP framing beside the SDK's
 * transport, and our stdio program beside the same program on the SDK v2): with --quick it
 * runs all four and prints every figure, the three ratios and a decision. Timings are not
 * checked.
 */
import assert from "node:assert/strict";
import { benchSummary, runBench } from "./helpers/bench.ts";

Deno.test("bench/decisions.ts --only framing --quick measures both framings and both stdio layers", async () => {
  const stdout = await runBench("decisions.ts", ["--only", "framing", "--quick"]);
  const summary = benchSummary(stdout, "framing");
  for (const framing of ["ours", "sdk"]) {
    for (
      const figure of [
        "import_ms",
        "rss_after_import_mb",
        "start_p50_ms",
        "start_p99_ms",
        "ping_p50_ms",
      ]
    ) {
      const value = summary[framing][figure];
      assert.ok(Number.isFinite(value) && value > 0, `${framing} ${figure}: ${value}`);
    }
  }
  for (const layer of ["ours", "sdk_v2"]) {
    for (
      const figure of [
        "cold_init_ms",
        "cold_start_ms",
        "start_p50_ms",
        "start_p99_ms",
        "start_calls_s",
        "pipelined_calls_s",
        "layer_import_ms",
        "rss_mb",
      ]
    ) {
      const value = summary.stdio[layer][figure];
      assert.ok(Number.isFinite(value) && value > 0, `stdio ${layer} ${figure}: ${value}`);
    }
  }
  for (const ratio of ["cold_init", "cold_start", "start_p50", "pipelined"]) {
    const value = summary.stdio.ratios[ratio];
    assert.ok(Number.isFinite(value) && value > 0, `stdio ratio ${ratio}: ${value}`);
  }
  assert.ok(["adopt", "keep our layer"].includes(summary.stdio.decision));
  assert.match(stdout, /^SDK v2 decision: (adopt|keep our layer \(.+\))$/m);
});
