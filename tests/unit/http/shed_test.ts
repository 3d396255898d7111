import assert from "node:assert/strict";
import { createShed } from "../../../src/http/shed.ts";
import { fakeNext, request } from "../../helpers/steps.ts";

/** A `next` that holds every request until `release()`. */
function held() {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const next = fakeNext(async () => {
    await gate;
    return new Response("done");
  });
  return { next, release };
}

Deno.test("shed calls next below the limit and answers 503 with Retry-After past it", async () => {
  const shed = createShed(2);
  const { next, release } = held();
  const first = shed.step({ request: request("/mcp") }, next);
  const second = shed.step({ request: request("/mcp") }, next);
  const refused = await shed.step({ request: request("/mcp") }, next);
  assert.equal(next.seen.length, 2);
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get("retry-after"), "1");
  assert.equal(refused.headers.get("connection"), null);
  assert.deepEqual(await refused.json(), {
    jsonrpc: "2.0",
    id: null,
    error: { code: -32600, message: "Service Unavailable: too many requests in progress" },
  });
  const health = await shed.step({ request: request("/healthz") }, next);
  assert.equal(health.headers.get("cache-control"), "no-store");
  assert.deepEqual(await health.json(), {
    status: "unavailable",
    error: "too many requests in progress",
  });

  release();
  assert.equal(await (await first).text(), "done");
  await second;
  const again = await shed.step({ request: request("/mcp") }, fakeNext());
  assert.equal(again.status, 200, "served again once the requests in progress were answered");
});

Deno.test("shed frees its place when next throws", async () => {
  const shed = createShed(1);
  const failing = fakeNext(() => Promise.reject(new Error("boom")));
  await assert.rejects(shed.step({ request: request("/mcp") }, failing), /boom/);
  assert.equal((await shed.step({ request: request("/mcp") }, fakeNext())).status, 200);
});

Deno.test("drain: later requests get 503 with Connection: close; it resolves once none is in progress", async () => {
  const shed = createShed(10);
  const { next, release } = held();
  const inProgress = shed.step({ request: request("/mcp") }, next);
  let drained = false;
  const draining = shed.drain(60_000).then(() => drained = true);
  const refused = await shed.step({ request: request("/mcp") }, fakeNext());
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get("connection"), "close");
  assert.match((await refused.json()).error.message, /the server is stopping/);
  await Promise.resolve();
  assert.equal(drained, false, "a request is still in progress");
  release();
  assert.equal((await inProgress).status, 200);
  await draining;
  assert.equal(drained, true);
});

Deno.test("drain resolves at once with nothing in progress, and after its limit otherwise", async () => {
  await createShed(1).drain(60_000);
  const shed = createShed(1);
  const { next, release } = held();
  const stuck = shed.step({ request: request("/mcp") }, next);
  const began = performance.now();
  await shed.drain(20);
  assert.ok(performance.now() - began >= 15);
  release();
  await stuck;
});
