import assert from "node:assert/strict";
import { compose, route, type Step } from "../../../src/http/compose.ts";
import { fakeNext, request } from "../../helpers/steps.ts";

Deno.test("compose runs the steps in order, then the end, and returns what comes back", async () => {
  const order: string[] = [];
  const mark = (name: string): Step => async (exchange, next) => {
    order.push(`${name} in`);
    const response = await next(exchange);
    order.push(`${name} out`);
    return response;
  };
  const end = fakeNext(() => new Response("end", { status: 201 }));
  const response = await compose([mark("a"), mark("b")], end)({ request: request("/") });
  assert.equal(response.status, 201);
  assert.deepEqual(order, ["a in", "b in", "b out", "a out"]);
  assert.equal(end.seen.length, 1);
});

Deno.test("compose: a step that answers itself stops the chain; one that adds hands it on", async () => {
  const stop: Step = () => Promise.resolve(new Response(null, { status: 418 }));
  const end = fakeNext();
  assert.equal((await compose([stop], end)({ request: request("/") })).status, 418);
  assert.equal(end.seen.length, 0);

  const auth = { ok: true as const, trackedBy: "alice" };
  const add: Step = (exchange, next) => next({ ...exchange, auth });
  await compose([add], end)({ request: request("/") });
  assert.deepEqual(end.seen[0]?.auth, auth);
});

Deno.test("route hands an exchange to the chain of its path, else to the fallback", async () => {
  const mcp = fakeNext(() => new Response("mcp"));
  const fallback = fakeNext(() => new Response("none", { status: 404 }));
  const routes = route(new Map([["/mcp", mcp]]), fallback);
  assert.equal(await (await routes({ request: request("/mcp?x=1") })).text(), "mcp");
  assert.equal((await routes({ request: request("/mcp/") })).status, 404);
  assert.equal((await routes({ request: request("/.well-known/x") })).status, 404);
  assert.equal(mcp.seen.length, 1);
  assert.equal(fallback.seen.length, 2);
});
