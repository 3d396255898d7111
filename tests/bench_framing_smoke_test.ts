/**
 * Smoke test of bench/framing.ts (our HTTP framing beside the SDK's transport): with
 * --quick it runs both and prints every figure. Timings are not checked.
 */
import assert from "node:assert/strict";
import { CONFIG, DENO_DIR, DEV_FLAGS, ROOT, runtimeEnv } from "./helpers/server.ts";

Deno.test("bench/framing.ts --quick measures both framings", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "-P=bench",
      ...DEV_FLAGS,
      "--config",
      CONFIG,
      `${ROOT}bench/framing.ts`,
      "--quick",
    ],
    cwd: ROOT,
    clearEnv: true,
    env: { NO_COLOR: "1", DENO_DIR, ...runtimeEnv() },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr) + stdout);
  const line = stdout.trim().split("\n").findLast((l) => l.startsWith('{"bench":"framing"'));
  assert.ok(line, stdout);
  const summary = JSON.parse(line);
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
