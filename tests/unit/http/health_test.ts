import assert from "node:assert/strict";
import { healthRoute } from "../../../src/http/health.ts";
import { collectLog, request } from "../../helpers/steps.ts";

function setup(check: () => Promise<void>) {
  const log = collectLog();
  const route = healthRoute({ store: { check }, version: "9.9.9", log, timeoutMs: 20 });
  return { log, answer: () => route({ request: request("/healthz") }) };
}

Deno.test("healthRoute: 200 with the version when the store answers, never cached", async () => {
  const { answer, log } = setup(() => Promise.resolve());
  const response = await answer();
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("cache-control"), "no-store");
  assert.deepEqual(await response.json(), { status: "ok", version: "9.9.9" });
  assert.deepEqual(log.lines, []);
});

Deno.test("healthRoute: 503 with the store's error, logged as a warning", async () => {
  const { answer, log } = setup(() => Promise.reject(new Error("database is locked")));
  const response = await answer();
  assert.equal(response.status, 503);
  assert.deepEqual(await response.json(), { status: "unavailable", error: "database is locked" });
  assert.deepEqual(log.lines, ["WARNING Health check failed: database is locked"]);
});

Deno.test("healthRoute: 503 when the store does not answer within the deadline", async () => {
  let answered!: () => void;
  const { answer, log } = setup(() => new Promise((resolve) => answered = resolve));
  const response = await answer();
  assert.equal(response.status, 503);
  const reason = "the store did not answer within 20 ms";
  assert.deepEqual(await response.json(), { status: "unavailable", error: reason });
  assert.deepEqual(log.lines, [`WARNING Health check failed: ${reason}`]);
  answered();
});
