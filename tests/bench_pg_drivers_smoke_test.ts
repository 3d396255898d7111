/**
 * Smoke test of bench/decisions.ts's `drivers` part (how the PostgreSQL driver was chosen):
 * with --quick it measures both drivers under the serving Worker's permissions. Timings are not checked;
 * that both refuse a wrong password and an address the Worker may not reach, without an
 * unhandled rejection, is.
 */
import assert from "node:assert/strict";
import { runBench } from "./helpers/bench.ts";
import { pg, skipWithoutPg } from "./helpers/postgres.ts";

Deno.test("bench/decisions.ts --only drivers --quick measures pg and postgres.js under the Worker's grants", async () => {
  if (!(await pg())) return skipWithoutPg("bench/decisions.ts --only drivers");
  const stdout = await runBench(
    "decisions.ts",
    ["--only", "drivers", "--quick"],
    Deno.env.toObject(),
  );
  const summary = JSON.parse(stdout.trim().split("\n").at(-1)!);
  for (const driver of ["pg", "postgres"]) {
    const r = summary[driver];
    for (const figure of ["import_ms", "connect_ms", "upsert_p50_ms", "select_p50_ms"]) {
      assert.ok(Number.isFinite(r[figure]) && r[figure] > 0, `${driver} ${figure}`);
    }
    assert.equal(r.wrong_password.outcome, "rejected");
    assert.equal(r.port_not_granted.outcome, "rejected");
    assert.match(r.port_not_granted.error, /NotCapable/);
    assert.deepEqual([
      ...r.unhandled,
      ...r.wrong_password.unhandled,
      ...r.port_not_granted.unhandled,
    ], []);
  }
});
