import assert from "node:assert/strict";
// @ts-types="npm:/@modelcontextprotocol/sdk@1.32.2/types"
import { SUPPORTED_PROTOCOL_VERSIONS as SDK_VERSIONS } from "@modelcontextprotocol/sdk/types.js";
import {
  INTERNAL_ERROR,
  INVALID_PARAMS,
  JsonRpcError,
  type JsonRpcMessage,
  METHOD_NOT_FOUND,
  RpcServer,
  SUPPORTED_PROTOCOL_VERSIONS,
  type Transport,
} from "../../../src/mcp/rpc.ts";

/** A transport that hands messages in directly and collects what the server sends. */
class MemoryTransport implements Transport {
  onmessage?: (message: JsonRpcMessage) => void;
  onclose?: () => void;
  readonly sent: JsonRpcMessage[] = [];
  #waiters: (() => void)[] = [];
  start() {
    return Promise.resolve();
  }
  send(message: JsonRpcMessage) {
    this.sent.push(message);
    for (const wake of this.#waiters.splice(0)) wake();
    return Promise.resolve();
  }
  close() {
    this.onclose?.();
    return Promise.resolve();
  }
  /** Delivers a request and waits for the answer with its id. */
  async ask(message: JsonRpcMessage): Promise<JsonRpcMessage> {
    this.onmessage?.(message);
    while (true) {
      const answer = this.sent.find((m) => m.id === message.id);
      if (answer) return answer;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
}

async function connected(errors: unknown[] = []) {
  const server = new RpcServer({ name: "t", version: "9.9.9" }, {
    capabilities: { tools: {} },
    instructions: "be kind",
    onerror: (e) => errors.push(e),
  });
  const transport = new MemoryTransport();
  await server.connect(transport);
  return { server, transport };
}

Deno.test("the supported MCP revisions are the SDK's, newest first", () => {
  assert.deepEqual([...SUPPORTED_PROTOCOL_VERSIONS], [...SDK_VERSIONS]);
});

Deno.test("initialize echoes a known revision and offers the newest for an unknown one", async () => {
  const { transport } = await connected();
  const known = await transport.ask({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "c" } },
  });
  assert.deepEqual(known.result, {
    protocolVersion: "2025-06-18",
    capabilities: { tools: {} },
    serverInfo: { name: "t", version: "9.9.9" },
    instructions: "be kind",
  });
  const unknown = await transport.ask({
    jsonrpc: "2.0",
    id: 2,
    method: "initialize",
    params: { protocolVersion: "1999-01-01" },
  });
  assert.equal((unknown.result as Record<string, unknown>).protocolVersion, "2025-11-25");
  const bad = await transport.ask({ jsonrpc: "2.0", id: 3, method: "initialize", params: {} });
  assert.equal((bad.error as { code: number }).code, INVALID_PARAMS);
});

Deno.test("ping, unknown methods, handler errors and notifications", async () => {
  const errors: unknown[] = [];
  const { server, transport } = await connected(errors);
  server.handle("boom", () => {
    throw new Error("secret internals");
  });
  server.handle("refuse", () => {
    throw new JsonRpcError(INVALID_PARAMS, "no such thing");
  });
  server.handle("echo", async (params) => await Promise.resolve({ got: params }));
  assert.deepEqual((await transport.ask({ jsonrpc: "2.0", id: "p", method: "ping" })).result, {});
  const missing = await transport.ask({ jsonrpc: "2.0", id: 4, method: "nope" });
  assert.deepEqual(missing.error, { code: METHOD_NOT_FOUND, message: "Method not found: nope" });
  const boom = await transport.ask({ jsonrpc: "2.0", id: 5, method: "boom" });
  // An unexpected failure is answered generically; its text goes to onerror only.
  assert.deepEqual(boom.error, { code: INTERNAL_ERROR, message: "Internal error" });
  assert.match(String(errors[0]), /secret internals/);
  const refused = await transport.ask({ jsonrpc: "2.0", id: 6, method: "refuse" });
  assert.deepEqual(refused.error, { code: INVALID_PARAMS, message: "no such thing" });
  const echoed = await transport.ask({ jsonrpc: "2.0", id: 7, method: "echo", params: { a: 1 } });
  assert.deepEqual(echoed.result, { got: { a: 1 } });
  // Notifications and responses are never answered.
  const before = transport.sent.length;
  transport.onmessage?.({ jsonrpc: "2.0", method: "notifications/initialized" });
  transport.onmessage?.({ jsonrpc: "2.0", id: 99, result: {} });
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(transport.sent.length, before);
});

Deno.test("close reaches onclose", async () => {
  const { server } = await connected();
  let closed = false;
  server.onclose = () => closed = true;
  await server.close();
  assert.equal(closed, true);
});

Deno.test("a cancelled request is still answered, once", async () => {
  const { server, transport } = await connected();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  server.handle("slow", async () => {
    await gate;
    return { done: true };
  });
  const answer = transport.ask({ jsonrpc: "2.0", id: 11, method: "slow" });
  transport.onmessage?.({
    jsonrpc: "2.0",
    method: "notifications/cancelled",
    params: { requestId: 11, reason: "user" },
  });
  release();
  assert.deepEqual((await answer).result, { done: true });
  assert.equal(transport.sent.filter((m) => m.id === 11).length, 1);
});
