import assert from "node:assert/strict";
import { acceptsJson, isJsonContentType, mcpRoute, postOnly } from "../../../src/http/mcp.ts";
import type { JsonRpcMessage, RequestContext } from "../../../src/mcp/rpc.ts";
import { collectLog, request } from "../../helpers/steps.ts";

/** The route over a fake RpcServer that records what it was handed and echoes a result. */
function setup() {
  const seen: { message: unknown; context: RequestContext }[] = [];
  const route = mcpRoute({
    rpc: {
      reply: (message: JsonRpcMessage, context: RequestContext = {}) => {
        seen.push({ message, context });
        if (!("id" in message)) return Promise.resolve(null);
        return Promise.resolve({
          status: 200,
          message: { jsonrpc: "2.0", id: message.id, result: {} } as JsonRpcMessage,
        });
      },
      replyBatch: (messages: unknown[]) => Promise.resolve(messages as JsonRpcMessage[]),
    },
    log: collectLog(),
    maxBodyBytes: 64,
    bodyDeadlineMs: 1000,
  });
  return { route, seen };
}

function post(body: string, headers: Record<string, string> = {}): Request {
  return request("/mcp", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
}

const PING = JSON.stringify({ jsonrpc: "2.0", id: 7, method: "ping" });

Deno.test("mcpRoute hands a request to the RpcServer with its auth, revision headers and signal", async () => {
  const { route, seen } = setup();
  const auth = { ok: true as const, trackedBy: "alice" };
  const req = post(PING, { "mcp-protocol-version": "2025-06-18", "mcp-method": "ping" });
  const response = await route({ request: req, auth });
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { jsonrpc: "2.0", id: 7, result: {} });
  assert.deepEqual(seen[0]?.context.auth, auth);
  assert.deepEqual(seen[0]?.context.headers, {
    protocolVersion: "2025-06-18",
    method: "ping",
    name: null,
  });
  assert.equal(seen[0]?.context.signal, req.signal);

  const note = await route({ request: post(JSON.stringify({ jsonrpc: "2.0", method: "x" })) });
  assert.equal(note.status, 202);
  assert.equal("auth" in seen[1]!.context, false);
});

Deno.test("mcpRoute refuses before the RpcServer: 406, 415, 413, 400 for JSON, batches, envelopes", async () => {
  const { route, seen } = setup();
  const status = async (req: Request) => (await route({ request: req })).status;
  assert.equal(await status(post(PING, { accept: "text/html" })), 406);
  assert.equal(await status(post(PING, { "content-type": "text/plain" })), 415);
  assert.equal(await status(post(`{"pad":"${"x".repeat(64)}"}`)), 413);
  assert.equal(await status(post("{not json")), 400);
  assert.equal(await status(post(`[${PING}]`)), 400, "a batch without 2025-03-26");
  assert.equal(await status(post("[]", { "mcp-protocol-version": "2025-03-26" })), 400);
  assert.equal(await status(post(JSON.stringify({ id: 1 }))), 400, "not an envelope");
  assert.equal(seen.length, 0);
  const batch = await route({
    request: post(`[${PING}]`, { "mcp-protocol-version": "2025-03-26" }),
  });
  assert.equal(batch.status, 200);
});

Deno.test("postOnly is the 405 of /mcp, as a JSON-RPC error with Allow: POST", async () => {
  const response = postOnly();
  assert.equal(response.status, 405);
  assert.equal(response.headers.get("allow"), "POST");
  assert.equal((await response.json()).error.message, "Method not allowed: use POST");
});

Deno.test("acceptsJson and isJsonContentType read the headers as HTTP does", () => {
  assert.equal(acceptsJson(null), true);
  assert.equal(acceptsJson("application/json, text/event-stream"), true);
  assert.equal(acceptsJson("*/*"), true);
  assert.equal(acceptsJson("application/json;q=0, text/html"), false);
  assert.equal(acceptsJson("text/event-stream"), false);
  assert.equal(isJsonContentType("Application/JSON; charset=utf-8"), true);
  assert.equal(isJsonContentType("text/json"), false);
  assert.equal(isJsonContentType(null), false);
});
