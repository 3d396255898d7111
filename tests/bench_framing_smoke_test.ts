/**
 * Smoke test of bench/framing.ts (our HTTP framing beside the SDK's transport): with
 * --quick it runs both and prints every figure. Timings are not checked.
 */
import assert from "node:assert/strict";
import { benchSummary, runBench } from "./helpers/bench.ts";

Deno.test("bench/framing.ts --quick measures both framings", async () => {
  const stdout = await runBench("framing.ts", ["--quick"]);
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
});
