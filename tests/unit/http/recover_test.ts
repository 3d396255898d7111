import assert from "node:assert/strict";
import { recover } from "../../../src/http/recover.ts";
import { collectLog, fakeNext, request } from "../../helpers/steps.ts";

Deno.test("recover answers a throwing step 500 with a generic error and logs the reason", async () => {
  const log = collectLog();
  const step = recover(log);
  const ok = await step({ request: request("/mcp") }, fakeNext());
  assert.equal(ok.status, 200);
  const failed = await step(
    { request: request("/mcp") },
    fakeNext(() => Promise.reject(new Error("disk on fire"))),
  );
  assert.equal(failed.status, 500);
  assert.deepEqual(await failed.json(), {
    jsonrpc: "2.0",
    id: null,
    error: { code: -32603, message: "Internal error" },
  });
  assert.deepEqual(log.lines, ["ERROR HTTP request failed: disk on fire"]);
});
