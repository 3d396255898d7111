import assert from "node:assert/strict";
import {
  CLIENT_CAPABILITIES_META_KEY,
  PROTOCOL_VERSION_META_KEY,
  SERVER_INFO_META_KEY,
  SUPPORTED_PROTOCOL_VERSIONS as SDK_VERSIONS,
} from "@modelcontextprotocol/server";
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
import {
  CLIENT_CAPABILITIES_KEY,
  HEADER_MISMATCH,
  MISSING_CLIENT_CAPABILITY,
  PROTOCOL_VERSION_KEY,
  type RevisionHeaders,
  SERVER_INFO_KEY,
  SUPPORTED_VERSIONS,
  UNSUPPORTED_PROTOCOL_VERSION,
} from "../../../src/mcp/revisions.ts";

/** A transport that hands messages in directly and collects what the server sends. */
class MemoryTransport implements Transport {
  onmessage?: (message: JsonRpcMessage | JsonRpcMessage[]) => void;
  acceptsBatches?: () => boolean;
  readonly forgotten: (string | number)[] = [];
  forget(id: string | number) {
    this.forgotten.push(id);
  }
  onclose?: () => void;
  readonly sent: JsonRpcMessage[] = [];
  #waiters: (() => void)[] = [];
  start() {
    return Promise.resolve();
  }
  send(message: JsonRpcMessage | JsonRpcMessage[]) {
    this.sent.push(...(Array.isArray(message) ? [{ batch: message }] : [message]));
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

Deno.test("the handshake revisions are the SDK's from 2025-03-26 on, newest first", () => {
  assert.deepEqual(
    [...SUPPORTED_PROTOCOL_VERSIONS],
    SDK_VERSIONS.filter((v) => v >= "2025-03-26"),
  );
  assert.deepEqual(SUPPORTED_VERSIONS, ["2026-07-28", ...SUPPORTED_PROTOCOL_VERSIONS]);
  // The envelope keys are the SDK's own spelling.
  assert.equal(PROTOCOL_VERSION_KEY, PROTOCOL_VERSION_META_KEY);
  assert.equal(CLIENT_CAPABILITIES_KEY, CLIENT_CAPABILITIES_META_KEY);
  assert.equal(SERVER_INFO_KEY, SERVER_INFO_META_KEY);
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

Deno.test("a cancelled request stops its work and is never answered", async () => {
  const { server, transport } = await connected();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  let seen: AbortSignal | undefined;
  server.handle("slow", async (_params, context) => {
    seen = context.signal;
    await gate;
    return { done: true };
  });
  transport.onmessage?.({ jsonrpc: "2.0", id: 11, method: "slow" });
  transport.onmessage?.({
    jsonrpc: "2.0",
    method: "notifications/cancelled",
    params: { requestId: 11, reason: "user" },
  });
  assert.equal(seen?.aborted, true);
  assert.deepEqual(transport.forgotten, [11]);
  release();
  // A later request is answered; the cancelled one never is.
  const later = await transport.ask({ jsonrpc: "2.0", id: 12, method: "ping" });
  assert.deepEqual(later.result, {});
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(transport.sent.filter((m) => m.id === 11).length, 0);
  // Cancelling what is not in progress changes nothing.
  transport.onmessage?.({
    jsonrpc: "2.0",
    method: "notifications/cancelled",
    params: { requestId: 12 },
  });
  assert.deepEqual(transport.forgotten, [11]);
});

const META = { [PROTOCOL_VERSION_KEY]: "2026-07-28", [CLIENT_CAPABILITIES_KEY]: {} };
const HEADERS: RevisionHeaders = {
  protocolVersion: "2026-07-28",
  method: "tools/list",
  name: null,
};

Deno.test("server/discover lists every revision, and 2026-07-28 results say who answered", async () => {
  const { server } = await connected();
  server.handle("tools/list", () => ({ tools: [] }), {
    cache: { ttlMs: 5, cacheScope: "public" },
  });
  const discover = await server.reply({
    jsonrpc: "2.0",
    id: 1,
    method: "server/discover",
    params: { _meta: META },
  });
  assert.deepEqual(discover, {
    status: 200,
    message: {
      jsonrpc: "2.0",
      id: 1,
      result: {
        supportedVersions: ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"],
        capabilities: { tools: {} },
        instructions: "be kind",
        resultType: "complete",
        _meta: { [SERVER_INFO_KEY]: { name: "t", version: "9.9.9" } },
      },
    },
  });
  const listed = await server.reply(
    { jsonrpc: "2.0", id: 2, method: "tools/list", params: { _meta: META } },
    { headers: HEADERS },
  );
  assert.deepEqual(listed?.message.result, {
    tools: [],
    ttlMs: 5,
    cacheScope: "public",
    resultType: "complete",
    _meta: { [SERVER_INFO_KEY]: { name: "t", version: "9.9.9" } },
  });
  // The handshake revisions get the result as it always was.
  const legacy = await server.reply({ jsonrpc: "2.0", id: 3, method: "tools/list" });
  assert.deepEqual(legacy?.message.result, { tools: [] });
});

Deno.test("2026-07-28 refusals carry the request's id and the revision's status", async () => {
  const { server } = await connected();
  server.handle("tools/list", () => ({ tools: [] }));
  server.handle("needs", () => {
    throw new JsonRpcError(MISSING_CLIENT_CAPABILITY, "needs sampling", {
      requiredCapabilities: { sampling: {} },
    });
  });
  const ask = (message: JsonRpcMessage, headers = HEADERS) =>
    server.reply({ jsonrpc: "2.0", ...message }, { headers });
  const cases: [JsonRpcMessage, typeof HEADERS, number, number][] = [
    [{ id: 1, method: "tools/list", params: {} }, HEADERS, 400, INVALID_PARAMS],
    [
      { id: 2, method: "tools/list", params: { _meta: { [PROTOCOL_VERSION_KEY]: "2026-07-28" } } },
      HEADERS,
      400,
      INVALID_PARAMS,
    ],
    [
      { id: 3, method: "tools/list", params: { _meta: { ...META, [PROTOCOL_VERSION_KEY]: "v9" } } },
      { ...HEADERS, protocolVersion: "v9" },
      400,
      UNSUPPORTED_PROTOCOL_VERSION,
    ],
    [
      { id: 4, method: "tools/list", params: { _meta: { ...META, [PROTOCOL_VERSION_KEY]: "v9" } } },
      HEADERS,
      400,
      HEADER_MISMATCH,
    ],
    [
      { id: 5, method: "tools/list", params: { _meta: META } },
      { ...HEADERS, method: "TOOLS/LIST" },
      400,
      HEADER_MISMATCH,
    ],
    [
      { id: 6, method: "tools/list", params: { _meta: META } },
      { ...HEADERS, method: null },
      400,
      HEADER_MISMATCH,
    ],
    [
      { id: 7, method: "ping", params: { _meta: META } },
      { ...HEADERS, method: "ping" },
      404,
      METHOD_NOT_FOUND,
    ],
    [
      { id: 8, method: "initialize", params: { _meta: META } },
      { ...HEADERS, method: "initialize" },
      404,
      METHOD_NOT_FOUND,
    ],
    [
      { id: 9, method: "needs", params: { _meta: META } },
      { ...HEADERS, method: "needs" },
      400,
      MISSING_CLIENT_CAPABILITY,
    ],
    [
      { id: 10, method: "server/discover", params: {} },
      { ...HEADERS, protocolVersion: null, method: null },
      400,
      INVALID_PARAMS,
    ],
  ];
  for (const [message, headers, status, code] of cases) {
    const reply = await ask(message, headers);
    assert.equal(reply?.status, status, JSON.stringify(message));
    assert.equal(reply?.message.id, message.id);
    assert.equal((reply?.message.error as { code: number }).code, code, JSON.stringify(message));
  }
  const unsupported = await ask(cases[2]![0], cases[2]![1]);
  assert.deepEqual((unsupported?.message.error as { data: unknown }).data, {
    supported: SUPPORTED_VERSIONS,
    requested: "v9",
  });
  // Whitespace around header values is not part of them; a handshake request needs no headers.
  assert.equal(
    (await ask({ id: 11, method: "tools/list", params: { _meta: META } }, {
      ...HEADERS,
      method: "  tools/list ",
    }))?.status,
    200,
  );
  assert.equal(
    (await ask({ id: 12, method: "ping" }, {
      protocolVersion: "2025-06-18",
      method: null,
      name: null,
    }))?.status,
    200,
  );
});

Deno.test("batches are answered only on a connection that negotiated 2025-03-26", async () => {
  const { server, transport } = await connected();
  assert.equal(transport.acceptsBatches?.(), false);
  await transport.ask({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2025-03-26", capabilities: {} },
  });
  assert.equal(transport.acceptsBatches?.(), true);
  assert.equal(server.acceptsBatches, true);
  const answers = await server.replyBatch([
    { jsonrpc: "2.0", id: "a", method: "ping" },
    { jsonrpc: "2.0", method: "notifications/initialized" },
    { jsonrpc: "2.0", id: "b", method: "ping", params: { _meta: META } },
    { nonsense: true },
  ]);
  assert.deepEqual(answers.map((a) => [a.id, (a.error as { code: number } | undefined)?.code]), [
    ["a", undefined],
    ["b", -32600],
    [null, -32600],
  ]);
});
