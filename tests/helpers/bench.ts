/**
 * Running a benchmark script from the smoke tests as its `deno task bench*` does: the
 * `bench` permission set, the tests' import map and lock, a clean environment.
 */
import assert from "node:assert/strict";
import { CONFIG, DENO_DIR, DEV_FLAGS, ROOT, runtimeEnv } from "./server.ts";

/** Runs `bench/<script>` with `args` and `env`; asserts that it exited 0, returns its stdout. */
export async function runBench(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "-P=bench",
      ...DEV_FLAGS,
      "--config",
      CONFIG,
      `${ROOT}bench/${script}`,
      ...args,
    ],
    cwd: ROOT,
    clearEnv: true,
    env: { NO_COLOR: "1", DENO_DIR, ...runtimeEnv(), ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `benchmark failed:\n${stderr}\n${stdout}`);
  return stdout;
}

/** The last summary line `{"bench":"<name>",...}` of a benchmark's stdout, parsed. */
export function benchSummary(stdout: string, name: string) {
  const line = stdout.trim().split("\n").findLast((l) => l.startsWith(`{"bench":"${name}"`));
  assert.ok(line, `no JSON summary line in:\n${stdout}`);
  return JSON.parse(line);
}
