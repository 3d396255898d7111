import assert from "node:assert/strict";
import { corsHeaders, preflight } from "../../../src/http/cors.ts";
import { fakeNext, request } from "../../helpers/steps.ts";

Deno.test("corsHeaders names the origin back only to a request with an Origin", async () => {
  const next = fakeNext(() => new Response("x", { headers: { vary: "Accept" } }));
  const plain = await corsHeaders({ request: request("/mcp") }, next);
  assert.equal(plain.headers.get("access-control-allow-origin"), null);
  assert.equal(plain.headers.get("vary"), "Accept");

  const origin = "http://localhost:5173";
  const cors = await corsHeaders({ request: request("/mcp", { headers: { origin } }) }, next);
  assert.equal(cors.headers.get("access-control-allow-origin"), origin);
  assert.equal(cors.headers.get("access-control-expose-headers"), "www-authenticate");
  assert.equal(cors.headers.get("vary"), "Accept, Origin");
  assert.equal(next.seen.length, 2);
});

Deno.test("preflight answers OPTIONS with an Origin 204; anything else goes on", async () => {
  const next = fakeNext();
  const origin = { origin: "http://localhost:5173" };
  const answered = await preflight(
    { request: request("/mcp", { method: "OPTIONS", headers: origin }) },
    next,
  );
  assert.equal(answered.status, 204);
  assert.equal(answered.headers.get("access-control-allow-methods"), "POST");
  assert.match(answered.headers.get("access-control-allow-headers") ?? "", /mcp-protocol-version/);
  assert.match(answered.headers.get("access-control-allow-headers") ?? "", /authorization/);
  assert.equal(answered.headers.get("access-control-max-age"), "600");
  assert.equal(next.seen.length, 0);

  await preflight({ request: request("/mcp", { method: "OPTIONS" }) }, next);
  await preflight({ request: request("/mcp", { method: "POST", headers: origin }) }, next);
  assert.equal(next.seen.length, 2);
});
