import assert from "node:assert/strict";
import { allow, getOnly, READ_METHODS } from "../../../src/http/allow.ts";
import { fakeNext, request } from "../../helpers/steps.ts";

Deno.test("allow passes the methods it names and answers the route's 405 to others", async () => {
  const step = allow(READ_METHODS, getOnly);
  const next = fakeNext();
  for (const method of ["GET", "HEAD"]) {
    assert.equal((await step({ request: request("/healthz", { method }) }, next)).status, 200);
  }
  const refused = await step({ request: request("/healthz", { method: "POST" }) }, next);
  assert.equal(refused.status, 405);
  assert.equal(refused.headers.get("allow"), "GET, HEAD");
  assert.equal(await refused.text(), "Method Not Allowed: use GET\n");
  assert.equal(next.seen.length, 2);
});
