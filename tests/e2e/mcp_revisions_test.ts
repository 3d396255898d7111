/**
 * SPEC 8.6 over both transports: the shipped program speaks MCP 2026-07-28 (no handshake,
 * `_meta` on every request, `server/discover`, `Mcp-Method`/`Mcp-Name` headers, caching
 * hints) beside the handshake revisions 2025-11-25, 2025-06-18 and 2025-03-26, with the same
 * tools, results, error texts and log lines in each. The official SDK v2 client drives the
 * common paths; raw requests (HTTP and stdio) hold the rules a client SDK hides.
 */
import assert from "node:assert/strict";
import type { HttpRunning } from "../helpers/http.ts";
import {
  type Answer,
  body,
  CLIENT_CAPABILITIES_KEY,
  CLIENT_INFO_KEY,
  CODES,
  connectHttpV2,
  connectStdioV2,
  errorOf,
  HANDSHAKE,
  initialize,
  legacyRequest,
  type Message,
  MODERN,
  modernCall,
  modernMeta,
  modernRequest,
  type Negotiation,
  post,
  postLegacy,
  postModern,
  PROTOCOL_VERSION_KEY,
  rawExchange,
  rawPost,
  RawStdio,
  resultOf,
  rpcError,
  SERVER_INFO_KEY,
  SUPPORTED,
  TOOL_NAMES,
  type V2Session,
  withCollector,
  withRawStdio,
} from "../helpers/mcp_v2.ts";
import { endArgs, mintToken, SECRET, startArgs, tempDir } from "../helpers/server.ts";

const FIXED = "2026-02-06T12:34:56.789Z";
const SESSION = "mahavishnu-20260206-123456";
const EVENT_ID = "550e8400-e29b-41d4-a716-446655440000";

/** Replaces what only the server's clock decides. */
function normalise<T>(value: T): T {
  return JSON.parse(
    JSON.stringify(value, (key, v) => key === "last_seen_at" ? "<server clock>" : v),
  );
}

/**
 * The part of a tool result every revision shares (2026-07-28 adds `_meta` and more), its
 * JSON text content parsed so that {@linkcode normalise} reaches into it.
 */
function toolPart(result: Record<string, unknown>): Record<string, unknown> {
  const content = (result.content as { type: string; text?: string }[]).map((block) =>
    block.type === "text" ? { ...block, text: JSON.parse(String(block.text)) } : block
  );
  return {
    content,
    structuredContent: result.structuredContent,
    isError: result.isError ?? false,
  };
}

/** The same calls, in order, through the v2 client; what every revision must answer alike. */
async function script(session: V2Session): Promise<Record<string, unknown>> {
  const c = session.client;
  const call = async (name: string, args: unknown) =>
    toolPart(
      await c.callTool({ name, arguments: args as Record<string, unknown> }) as Record<
        string,
        unknown
      >,
    );
  const start = startArgs({ event_id: EVENT_ID, timestamp: FIXED });
  const out: Record<string, unknown> = {};
  out.tools = (await c.listTools()).tools;
  out.start = await call("track_session_start", start);
  out.retry = await call("track_session_start", start);
  out.conflict = await call("track_session_start", { ...start, pid: 1 });
  out.badUuid = await call("track_session_start", startArgs({ event_id: "abc", timestamp: FIXED }));
  out.wrongType = await call("track_session_start", startArgs({ timestamp: FIXED, pid: "12345" }));
  out.missingField = await call("track_session_end", { timestamp: FIXED, token: null });
  out.heartbeat = await call("track_session_heartbeat", {
    session_id: SESSION,
    timestamp: FIXED,
    token: null,
  });
  out.end = await call(
    "track_session_end",
    endArgs(SESSION, { timestamp: "2026-02-06T13:00:00Z" }),
  );
  out.endAgain = await call("track_session_end", endArgs(SESSION));
  out.endUnknown = await call("track_session_end", endArgs("nope-20260206-000000"));
  out.get = await call("get_session", { session_id: SESSION, token: null });
  out.list = await call("list_sessions", { limit: 5, token: null });
  out.stats = await call("session_stats", {
    since: "2026-02-06T00:00:00Z",
    until: "2026-02-07T00:00:00Z",
    token: null,
  });
  out.unknownTool = await rpcError(c.callTool({ name: "no_such_tool", arguments: {} }));
  out.prompts = (await c.listPrompts()).prompts;
  out.resources = (await c.listResources()).resources;
  out.templates = (await c.listResourceTemplates()).resourceTemplates;
  const read = await c.readResource({ uri: `session://${SESSION}` }, { cacheMode: "bypass" });
  out.read = read.contents.map((content) => ({
    ...content,
    text: "text" in content ? JSON.parse(String(content.text)) : undefined,
  }));
  out.readMissing = await rpcError(
    c.readResource({ uri: "session://nope-20260206-000000" }, { cacheMode: "bypass" }),
  );
  return normalise(out);
}

/** Log lines about sessions, without their timestamps. */
function sessionLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.includes("Session ")).map((l) =>
    l.replace(/^\S+Z /, "")
  );
}

/** Every error the server sent names its request; in 2026-07-28 every result names the server. */
function checkReceived(received: Message[], modern: boolean, what: string): void {
  assert.ok(received.length > 0, `${what}: messages were recorded`);
  for (const message of received) {
    if (!("result" in message) && !("error" in message)) continue;
    assert.ok(
      typeof message.id === "number" || typeof message.id === "string",
      `${what}: a response without its request's id: ${JSON.stringify(message)}`,
    );
    if (modern && "result" in message) {
      const meta = (message.result as Record<string, unknown>)._meta as Record<string, unknown>;
      assert.equal(
        (meta?.[SERVER_INFO_KEY] as Record<string, unknown>)?.name,
        "session-buddy",
        `${what}: a 2026-07-28 result without serverInfo: ${JSON.stringify(message).slice(0, 300)}`,
      );
    }
  }
}

Deno.test("the v2 SDK client: the same tools, results, errors and log lines over stdio and HTTP, in 2026-07-28 and through initialize", async () => {
  const pinned: Negotiation = { mode: "pin", version: MODERN };
  const legacy: Negotiation = { mode: "legacy", version: "2025-11-25" };
  const runs: { what: string; out: Record<string, unknown>; log: string[] }[] = [];
  for (const negotiation of [pinned, legacy]) {
    const modern = negotiation.mode === "pin";
    const expected = modern ? MODERN : "2025-11-25";
    // stdio, on a fresh store
    const { dir, cleanup } = await tempDir();
    try {
      const what = `stdio ${expected}`;
      const session = await connectStdioV2(negotiation, {
        HOME: dir,
        SESSION_BUDDY_DB: `${dir}/s.kv`,
      });
      let out: Record<string, unknown>;
      try {
        assert.equal(session.client.getNegotiatedProtocolVersion(), expected, what);
        assert.equal(session.client.getProtocolEra(), modern ? "modern" : "legacy", what);
        assert.equal(session.client.getServerVersion()?.name, "session-buddy", what);
        out = await script(session);
        checkReceived(session.received, modern, what);
      } finally {
        await session.close();
      }
      runs.push({ what, out, log: sessionLines(session.stderr()) });
    } finally {
      await cleanup();
    }
    // Streamable HTTP, on a fresh store
    await withCollector(async (server) => {
      const what = `HTTP ${expected}`;
      const session = await connectHttpV2(negotiation, server.mcp);
      let out: Record<string, unknown>;
      try {
        assert.equal(session.client.getNegotiatedProtocolVersion(), expected, what);
        assert.equal(session.client.getProtocolEra(), modern ? "modern" : "legacy", what);
        assert.equal(session.client.getServerVersion()?.name, "session-buddy", what);
        out = await script(session);
        checkReceived(session.received, modern, what);
      } finally {
        await session.close();
      }
      runs.push({ what, out, log: sessionLines(server.stderr()) });
    });
  }

  const first = runs[0]!;
  const out = first.out as Record<string, Record<string, unknown>>;
  const tools = first.out.tools as { name: string }[];
  assert.deepEqual(tools.map((t) => t.name).sort(), TOOL_NAMES);
  assert.deepEqual(out.start!.structuredContent, {
    session_id: SESSION,
    status: "tracked",
    error: null,
  });
  assert.deepEqual(out.retry!.structuredContent, out.start!.structuredContent);
  assert.equal((out.conflict!.structuredContent as Record<string, unknown>).status, "error");
  assert.match(
    String((out.badUuid!.structuredContent as Record<string, unknown>).error),
    /^Session start tracking failed: Invalid UUID v4 format: abc/,
  );
  for (const malformed of ["wrongType", "missingField"]) {
    const result = out[malformed]!.structuredContent as Record<string, unknown>;
    assert.equal(result.status, "error", `${malformed}: ${JSON.stringify(result)}`);
    assert.equal(result.session_id, null, malformed);
  }
  assert.deepEqual(out.end!.structuredContent, {
    session_id: SESSION,
    status: "ended",
    error: null,
  });
  assert.deepEqual(out.endUnknown!.structuredContent, {
    session_id: "nope-20260206-000000",
    status: "not_found",
    error: null,
  });
  assert.equal((out.get!.structuredContent as Record<string, unknown>).status, "found");
  assert.equal((out.unknownTool as unknown as { code: number }).code, CODES.invalidParams);
  assert.deepEqual(first.out.prompts, []);
  const readMissing = first.out.readMissing as { code: number; data?: unknown };
  assert.equal(readMissing.code, CODES.invalidParams);
  assert.deepEqual(readMissing.data, { uri: "session://nope-20260206-000000" });
  const read = first.out.read as { uri: string; text: Record<string, unknown> }[];
  assert.equal(read[0]?.uri, `session://${SESSION}`);
  assert.deepEqual(read[0]?.text, (out.get!.structuredContent as Record<string, unknown>).session);
  assert.ok(
    first.log.some((l) => l.startsWith("INFO - Session start tracked: ")),
    first.log.join("\n"),
  );

  for (const run of runs.slice(1)) {
    assert.deepEqual(run.out, first.out, `${run.what} answers as ${first.what} does`);
    assert.deepEqual(run.log, first.log, `${run.what} logs as ${first.what} does`);
  }
});

Deno.test("mode auto: the v2 client's server/discover probe negotiates 2026-07-28 on stdio and on HTTP", async () => {
  const check = async (session: V2Session, what: string) => {
    try {
      assert.equal(session.client.getNegotiatedProtocolVersion(), MODERN, what);
      assert.equal(session.client.getProtocolEra(), "modern", what);
      assert.deepEqual(session.client.getDiscoverResult()?.supportedVersions, SUPPORTED, what);
      assert.equal(session.client.getServerVersion()?.name, "session-buddy", what);
      const listed = await session.client.callTool({
        name: "list_sessions",
        arguments: { token: null },
      });
      assert.equal((listed.structuredContent as Record<string, unknown>).status, "ok", what);
      checkReceived(session.received, true, what);
    } finally {
      await session.close();
    }
  };
  const { dir, cleanup } = await tempDir();
  try {
    await check(
      await connectStdioV2({ mode: "auto" }, { HOME: dir, SESSION_BUDDY_DB: `${dir}/s.kv` }),
      "stdio",
    );
  } finally {
    await cleanup();
  }
  await withCollector(async (server) => {
    await check(await connectHttpV2({ mode: "auto" }, server.mcp), "HTTP");
  });
});

Deno.test("the handshake revisions through initialize, on both transports; 2024 revisions and unknown ones get 2025-11-25", async () => {
  for (const version of HANDSHAKE) {
    const { dir, cleanup } = await tempDir();
    try {
      const session = await connectStdioV2({ mode: "legacy", version }, {
        HOME: dir,
        SESSION_BUDDY_DB: `${dir}/s.kv`,
      });
      try {
        assert.equal(session.client.getNegotiatedProtocolVersion(), version, `stdio ${version}`);
        const names = (await session.client.listTools()).tools.map((t) => t.name).sort();
        assert.deepEqual(names, TOOL_NAMES);
      } finally {
        await session.close();
      }
    } finally {
      await cleanup();
    }
  }
  await withCollector(async (server) => {
    for (const version of HANDSHAKE) {
      const session = await connectHttpV2({ mode: "legacy", version }, server.mcp);
      try {
        assert.equal(session.client.getNegotiatedProtocolVersion(), version, `HTTP ${version}`);
        const listed = await session.client.callTool({
          name: "list_sessions",
          arguments: { token: null },
        });
        assert.equal((listed.structuredContent as Record<string, unknown>).status, "ok");
        checkReceived(session.received, false, `HTTP ${version}`);
      } finally {
        await session.close();
      }
    }
    for (const asked of ["2024-11-05", "2024-10-07", "1999-01-01"]) {
      const answer = await postLegacy(server.mcp, initialize(7, asked), null);
      assert.equal(answer.status, 200, answer.text);
      const message = body(answer);
      assert.equal(message.id, 7);
      assert.equal(resultOf(message).protocolVersion, "2025-11-25", `initialize ${asked}`);
    }
  });
  await withRawStdio(async (server) => {
    const answer = await server.request(initialize(1, "2024-11-05"));
    assert.equal(resultOf(answer).protocolVersion, "2025-11-25");
  });
});

/** Asserts a refusal: its HTTP status, JSON-RPC code and the request's id. */
function refused(answer: Answer, status: number, code: number, id: unknown, what: string) {
  assert.equal(answer.status, status, `${what}: ${answer.text}`);
  const message = body(answer);
  assert.equal(message.id, id, `${what}: the error carries the request's id: ${answer.text}`);
  const error = errorOf(message);
  assert.equal(error.code, code, `${what}: ${answer.text}`);
  return error;
}

/** Asserts a 2026-07-28 result: 200, the request's id, serverInfo in `_meta`. */
function served(answer: Answer, id: unknown, what: string): Record<string, unknown> {
  assert.equal(answer.status, 200, `${what}: ${answer.text}`);
  const message = body(answer);
  assert.equal(message.id, id, what);
  const result = resultOf(message);
  const info = (result._meta as Record<string, unknown> | undefined)?.[SERVER_INFO_KEY] as
    | Record<string, unknown>
    | undefined;
  assert.equal(info?.name, "session-buddy", `${what}: serverInfo in _meta: ${answer.text}`);
  assert.equal(typeof info?.version, "string", what);
  return result;
}

/** Asserts the caching hints of a 2026-07-28 list or read result. */
function cacheable(result: Record<string, unknown>, what: string): void {
  assert.ok(
    Number.isInteger(result.ttlMs) && (result.ttlMs as number) >= 0,
    `${what}: ttlMs ${JSON.stringify(result.ttlMs)}`,
  );
  assert.ok(
    result.cacheScope === "public" || result.cacheScope === "private",
    `${what}: cacheScope ${JSON.stringify(result.cacheScope)}`,
  );
}

async function trackOver(server: HttpRunning, headers: Record<string, string> = {}) {
  const answer = await postModern(
    server.mcp,
    modernCall("start", "track_session_start", startArgs({ timestamp: FIXED })),
    headers,
  );
  const result = served(answer, "start", "track_session_start");
  const structured = result.structuredContent as Record<string, unknown>;
  assert.equal(structured.status, "tracked", answer.text);
  return String(structured.session_id);
}

Deno.test("raw HTTP at 2026-07-28: server/discover, the _meta envelope, header checks, removed methods, caching hints", async () => {
  await withCollector(async (server) => {
    const mcp = server.mcp;
    // server/discover
    const discover = served(
      await postModern(mcp, modernRequest(1, "server/discover")),
      1,
      "server/discover",
    );
    assert.deepEqual(discover.supportedVersions, SUPPORTED);
    assert.deepEqual(discover.capabilities, { tools: {}, resources: {}, prompts: {} });
    assert.ok(typeof discover.instructions === "string" && discover.instructions.length > 0);

    // clientInfo is optional; tools/list is cacheable and always in the same order
    const lists: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      const listed = served(
        await postModern(
          mcp,
          modernRequest(`l${i}`, "tools/list", {}, modernMeta({ [CLIENT_INFO_KEY]: undefined })),
        ),
        `l${i}`,
        "tools/list without clientInfo",
      );
      cacheable(listed, "tools/list");
      lists.push(listed.tools);
    }
    assert.deepEqual(lists[1], lists[0]);
    assert.deepEqual(lists[2], lists[0]);
    assert.deepEqual((lists[0] as { name: string }[]).map((t) => t.name).sort(), TOOL_NAMES);

    // a session to read
    const id = await trackOver(server);
    for (
      const [method, params] of [
        ["prompts/list", {}],
        ["resources/list", {}],
        ["resources/templates/list", {}],
        ["resources/read", { uri: `session://${id}` }],
      ] as const
    ) {
      const result = served(
        await postModern(mcp, modernRequest(method, method, params)),
        method,
        method,
      );
      cacheable(result, method);
      if (method === "prompts/list") assert.deepEqual(result.prompts, []);
      if (method === "resources/read") {
        const contents = result.contents as { uri: string; text: string }[];
        assert.equal(contents[0]?.uri, `session://${id}`);
        assert.equal(JSON.parse(contents[0]!.text).session_id, id);
      }
    }

    // the envelope: -32602 with HTTP 400
    const headers2026 = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": MODERN,
      "mcp-method": "tools/list",
    };
    refused(
      await post(mcp, modernRequest(10, "tools/list", {}, null), headers2026),
      400,
      CODES.invalidParams,
      10,
      "params without _meta",
    );
    refused(
      await post(mcp, { jsonrpc: "2.0", id: 11, method: "tools/list" }, headers2026),
      400,
      CODES.invalidParams,
      11,
      "no params at all",
    );
    refused(
      await post(
        mcp,
        modernRequest(12, "tools/list", {}, modernMeta({ [PROTOCOL_VERSION_KEY]: undefined })),
        headers2026,
      ),
      400,
      CODES.invalidParams,
      12,
      "_meta without protocolVersion",
    );
    refused(
      await postModern(
        mcp,
        modernRequest(13, "tools/list", {}, modernMeta({ [CLIENT_CAPABILITIES_KEY]: undefined })),
      ),
      400,
      CODES.invalidParams,
      13,
      "_meta without clientCapabilities",
    );
    refused(
      await postModern(
        mcp,
        modernRequest(14, "tools/list", {}, modernMeta({ [CLIENT_CAPABILITIES_KEY]: "all" })),
      ),
      400,
      CODES.invalidParams,
      14,
      "clientCapabilities that is no object",
    );

    // an unknown revision: -32022 naming what is supported and what was asked
    const unknown = refused(
      await postModern(
        mcp,
        modernRequest(15, "tools/list", {}, modernMeta({ [PROTOCOL_VERSION_KEY]: "v999.0.0" })),
      ),
      400,
      CODES.unsupportedVersion,
      15,
      "an unknown revision",
    );
    assert.deepEqual(unknown.data, { supported: SUPPORTED, requested: "v999.0.0" });

    // MCP-Protocol-Version against _meta
    const list = modernRequest(20, "tools/list");
    refused(
      await postModern(mcp, list, { "mcp-protocol-version": "2025-11-25" }),
      400,
      CODES.headerMismatch,
      20,
      "MCP-Protocol-Version 2025-11-25 with a 2026-07-28 body",
    );
    refused(
      await postModern(mcp, list, { "mcp-protocol-version": null }),
      400,
      CODES.headerMismatch,
      20,
      "no MCP-Protocol-Version",
    );

    // Mcp-Method against the body's method
    refused(
      await postModern(mcp, list, { "mcp-method": null }),
      400,
      CODES.headerMismatch,
      20,
      "no Mcp-Method",
    );
    refused(
      await postModern(mcp, list, { "mcp-method": "prompts/list" }),
      400,
      CODES.headerMismatch,
      20,
      "Mcp-Method of another method",
    );
    refused(
      await postModern(mcp, list, { "mcp-method": "Tools/List" }),
      400,
      CODES.headerMismatch,
      20,
      "Mcp-Method in other case",
    );

    // Mcp-Name: the tool's name, the prompt's name, the resource's URI
    const named: [Message, string][] = [
      [modernCall(30, "list_sessions", { token: null }), "get_session"],
      [modernRequest(31, "prompts/get", { name: "summary" }), "other"],
      [modernRequest(32, "resources/read", { uri: `session://${id}` }), "session://other"],
    ];
    for (const [message, wrong] of named) {
      const method = String(message.method);
      refused(
        await postModern(mcp, message, { "mcp-name": null }),
        400,
        CODES.headerMismatch,
        message.id,
        `${method} without Mcp-Name`,
      );
      refused(
        await postModern(mcp, message, { "mcp-name": wrong }),
        400,
        CODES.headerMismatch,
        message.id,
        `${method} with Mcp-Name ${wrong}`,
      );
    }
    const called = served(await postModern(mcp, named[0]![0]), 30, "tools/call with its Mcp-Name");
    assert.equal((called.structuredContent as Record<string, unknown>).status, "ok");
    const prompt = await postModern(mcp, named[1]![0]);
    assert.equal(prompt.status, 200, prompt.text);
    assert.equal(errorOf(body(prompt)).code, CODES.invalidParams, "no such prompt");
    assert.equal(body(prompt).id, 31);
    served(await postModern(mcp, named[2]![0]), 32, "resources/read with its Mcp-Name");

    // methods the revision removed, and unknown ones: -32601 with HTTP 404
    for (
      const [method, params] of [
        ["initialize", {
          protocolVersion: MODERN,
          capabilities: {},
          clientInfo: { name: "t", version: "1" },
        }],
        ["ping", {}],
        ["logging/setLevel", { level: "debug" }],
        ["resources/subscribe", { uri: `session://${id}` }],
        ["resources/unsubscribe", { uri: `session://${id}` }],
        ["no/such-method", {}],
      ] as const
    ) {
      refused(
        await postModern(mcp, modernRequest(`m-${method}`, method, params)),
        404,
        CODES.methodNotFound,
        `m-${method}`,
        `${method} at 2026-07-28`,
      );
    }

    // an unknown tool is in-band; a malformed call gets the tool's own error result
    refused(
      await postModern(mcp, modernCall(40, "no_such_tool", {})),
      200,
      CODES.invalidParams,
      40,
      "an unknown tool",
    );
    const malformed = served(
      await postModern(mcp, modernCall(41, "track_session_start", { pid: "x" })),
      41,
      "a malformed call",
    );
    const structured = malformed.structuredContent as Record<string, unknown>;
    assert.equal(structured.status, "error");
    assert.match(String(structured.error), /^Session start tracking failed: /);

    // a missing resource: -32602 naming the URI
    const missing = refused(
      await postModern(
        mcp,
        modernRequest(42, "resources/read", { uri: "session://nope-20260206-000000" }),
      ),
      200,
      CODES.invalidParams,
      42,
      "a missing session",
    );
    assert.deepEqual(missing.data, { uri: "session://nope-20260206-000000" });
    assert.doesNotMatch(server.stderr(), /ERROR/, "no request above is a failure of the server");
  });
});

Deno.test("raw HTTP/1.1: header names in any case and values with spaces around them are the same headers", async () => {
  await withCollector(async (server) => {
    const port = server.port;
    const exchange = async (lines: string[], message: Message) => {
      const response = await rawExchange(port, rawPost(port, lines, message));
      return { response, message: JSON.parse(response.body) as Message };
    };
    const base = ["Content-Type: application/json", "Accept: application/json, text/event-stream"];
    const list = modernRequest(1, "tools/list");
    let got = await exchange(
      [...base, `MCP-PROTOCOL-VERSION: ${MODERN}`, "MCP-METHOD: tools/list"],
      list,
    );
    assert.equal(got.response.status, 200, got.response.body);
    assert.equal(got.message.id, 1);
    got = await exchange(
      [...base, `mcp-protocol-version:   ${MODERN}  `, "mcp-method: \t tools/list \t"],
      list,
    );
    assert.equal(got.response.status, 200, got.response.body);
    got = await exchange(
      [...base, `Mcp-Protocol-Version: ${MODERN}`, "Mcp-Method: TOOLS/LIST"],
      list,
    );
    assert.equal(got.response.status, 400, got.response.body);
    assert.equal(errorOf(got.message).code, CODES.headerMismatch);
    assert.equal(got.message.id, 1);
    const call = modernCall(2, "list_sessions", { token: null });
    got = await exchange(
      [
        ...base,
        `Mcp-Protocol-Version: ${MODERN}`,
        "Mcp-Method: tools/call",
        "MCP-NAME:  list_sessions ",
      ],
      call,
    );
    assert.equal(got.response.status, 200, got.response.body);
    assert.equal(got.message.id, 2);
    got = await exchange(
      [
        ...base,
        `Mcp-Protocol-Version: ${MODERN}`,
        "Mcp-Method: tools/call",
        "Mcp-Name: List_Sessions",
      ],
      call,
    );
    assert.equal(got.response.status, 400, got.response.body);
    assert.equal(errorOf(got.message).code, CODES.headerMismatch);
  });
});

Deno.test("with a secret: 401 names no request (id null); session:// is read with a bearer header only, else the error points to get_session", async () => {
  await withCollector(async (server, dir) => {
    const mcp = server.mcp;
    const bearer = await mintToken({ user_id: "collector-client" });
    const expired = await mintToken({
      exp: Math.floor(Date.now() / 1000) - 3600,
      iat: Math.floor(Date.now() / 1000) - 7200,
    });
    const list = modernRequest(1, "tools/list");
    for (
      const [what, answer] of [
        [
          "a forged signature, 2026-07-28",
          await postModern(mcp, list, { authorization: `Bearer ${bearer.slice(0, -4)}AAAA` }),
        ],
        [
          "an expired token, 2026-07-28",
          await postModern(mcp, list, { authorization: `Bearer ${expired}` }),
        ],
        [
          "a forged signature, 2025-11-25",
          await postLegacy(mcp, legacyRequest(2, "tools/list"), "2025-11-25", {
            authorization: `Bearer ${bearer.slice(0, -4)}AAAA`,
          }),
        ],
      ] as const
    ) {
      assert.equal(answer.status, 401, `${what}: ${answer.text}`);
      assert.match(
        answer.headers.get("www-authenticate") ?? "",
        /^Bearer .*error="invalid_token"/,
        what,
      );
      const message = body(answer);
      assert.deepEqual(
        Object.keys(message).sort(),
        ["error", "id", "jsonrpc"],
        `${what}: ${answer.text}`,
      );
      assert.equal(message.jsonrpc, "2.0");
      assert.equal(message.id, null, `${what}: "id": null`);
      const error = errorOf(message);
      assert.deepEqual(Object.keys(error).sort(), ["code", "message"], answer.text);
      assert.equal(error.code, CODES.authentication, answer.text);
      assert.match(error.message, /^❌ Authentication failed: \S/, answer.text);
    }

    const authorization = `Bearer ${bearer}`;
    const id = await trackOver(server, { authorization });
    const uri = `session://${id}`;
    // 2026-07-28 with the bearer header: the record
    const read = served(
      await postModern(mcp, modernRequest(3, "resources/read", { uri }), { authorization }),
      3,
      "resources/read with a bearer header",
    );
    const record = JSON.parse((read.contents as { text: string }[])[0]!.text);
    assert.equal(record.session_id, id);
    assert.equal(record.tracked_by, "collector-client");
    // 2025-11-25 with the bearer header: the record
    const legacyRead = await postLegacy(
      mcp,
      legacyRequest(4, "resources/read", { uri }),
      "2025-11-25",
      {
        authorization,
      },
    );
    assert.equal(legacyRead.status, 200, legacyRead.text);
    assert.equal(
      JSON.parse((resultOf(body(legacyRead)).contents as { text: string }[])[0]!.text).session_id,
      id,
    );
    // without it: refused, pointing to get_session
    for (
      const [what, answer, requestId] of [
        [
          "2026-07-28 without a bearer",
          await postModern(mcp, modernRequest(5, "resources/read", { uri })),
          5,
        ],
        [
          "2025-11-25 without a bearer",
          await postLegacy(mcp, legacyRequest(6, "resources/read", { uri }), "2025-11-25"),
          6,
        ],
      ] as const
    ) {
      const message = body(answer);
      assert.equal(message.id, requestId, `${what}: ${answer.text}`);
      assert.match(errorOf(message).message, /get_session/, `${what}: ${answer.text}`);
      assert.doesNotMatch(answer.text, /"contents"/, what);
    }

    // stdio on the same store: no way to give a token, so refused, pointing to get_session
    const env = { HOME: dir, SESSION_BUDDY_DB: `${dir}/s.kv`, SESSION_BUDDY_SECRET: SECRET };
    const modern = RawStdio.start(env);
    try {
      const answer = await modern.request(modernRequest(7, "resources/read", { uri }));
      assert.equal(answer.id, 7);
      assert.match(errorOf(answer).message, /get_session/, JSON.stringify(answer));
    } finally {
      await modern.end();
    }
    const legacy = RawStdio.start(env);
    try {
      await legacy.request(initialize(1, "2025-11-25"));
      await legacy.send({ jsonrpc: "2.0", method: "notifications/initialized" });
      const answer = await legacy.request(legacyRequest(8, "resources/read", { uri }));
      assert.equal(answer.id, 8);
      assert.match(errorOf(answer).message, /get_session/, JSON.stringify(answer));
    } finally {
      await legacy.end();
    }
    assert.ok(!server.stderr().includes(bearer.split(".")[2]!), "no token in the log");
  }, { SESSION_BUDDY_SECRET: SECRET });
});

Deno.test("batches: answered for 2025-03-26 only, over HTTP and over stdio", async () => {
  const batch = [
    legacyRequest(1, "tools/list"),
    { jsonrpc: "2.0", method: "notifications/roots/list_changed" },
    legacyRequest(2, "tools/call", { name: "list_sessions", arguments: { limit: 1, token: null } }),
    legacyRequest(3, "ping"),
  ];
  const notifications = [
    { jsonrpc: "2.0", method: "notifications/roots/list_changed" },
    { jsonrpc: "2.0", method: "notifications/roots/list_changed" },
  ];
  const checkAnswers = (answers: unknown, what: string) => {
    assert.ok(Array.isArray(answers), `${what}: an array: ${JSON.stringify(answers)}`);
    const byId = new Map((answers as Message[]).map((m) => [m.id, m]));
    assert.equal(
      answers.length,
      3,
      `${what}: one response per request: ${JSON.stringify(answers)}`,
    );
    assert.deepEqual([...byId.keys()].sort(), [1, 2, 3], what);
    assert.deepEqual(
      (resultOf(byId.get(1)!).tools as { name: string }[]).map((t) => t.name).sort(),
      TOOL_NAMES,
    );
    assert.equal(
      (resultOf(byId.get(2)!).structuredContent as Record<string, unknown>).status,
      "ok",
      what,
    );
    resultOf(byId.get(3)!);
  };

  await withCollector(async (server) => {
    const answer = await postLegacy(server.mcp, batch, "2025-03-26");
    assert.equal(answer.status, 200, answer.text);
    checkAnswers(answer.json, "HTTP 2025-03-26");
    const quiet = await postLegacy(server.mcp, notifications, "2025-03-26");
    assert.equal(quiet.status, 202, quiet.text);
    assert.equal(quiet.text, "");
    for (const version of [null, "2025-11-25", "2025-06-18", MODERN]) {
      const refusal = await postLegacy(server.mcp, batch, version);
      assert.equal(
        refusal.status,
        400,
        `a batch with MCP-Protocol-Version ${version}: ${refusal.text}`,
      );
      if (refusal.json !== undefined) {
        const message = body(refusal);
        assert.ok("id" in message && message.id === null, refusal.text);
        errorOf(message);
      }
    }
  });

  // stdio, after initialize negotiated 2025-03-26
  await withRawStdio(async (server) => {
    const init = await server.request(initialize(0, "2025-03-26"));
    assert.equal(resultOf(init).protocolVersion, "2025-03-26");
    await server.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    const from = server.received.length;
    await server.send(batch);
    const answers = await server.next((m) => Array.isArray(m), { from });
    checkAnswers(answers, "stdio 2025-03-26");
    const afterBatch = server.received.length;
    await server.send(notifications);
    await server.request(legacyRequest(4, "ping"));
    await server.end();
    // Nothing answered the batch of notifications, ever.
    assert.deepEqual(
      server.received.slice(afterBatch).map((m) => Array.isArray(m) ? "array" : m.id),
      [4],
      JSON.stringify(server.received.slice(afterBatch)),
    );
  });

  // stdio before initialize, and after initialize negotiated 2025-11-25: refused, id null
  await withRawStdio(async (server) => {
    const refusedBatch = async (what: string) => {
      const from = server.received.length;
      await server.send(batch);
      const answer = await server.next(() => true, { from });
      assert.ok(!Array.isArray(answer), `${what}: no array of answers: ${JSON.stringify(answer)}`);
      assert.ok("id" in answer && answer.id === null, `${what}: ${JSON.stringify(answer)}`);
      errorOf(answer);
    };
    await refusedBatch("before initialize");
    const init = await server.request(initialize(0, "2025-11-25"));
    assert.equal(resultOf(init).protocolVersion, "2025-11-25");
    await server.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    await refusedBatch("after initialize 2025-11-25");
    await server.end();
    assert.ok(
      !server.received.some((m) => Array.isArray(m)),
      JSON.stringify(server.received).slice(0, 1000),
    );
  });
});

Deno.test("raw stdio at 2026-07-28: discover, the envelope, unknown revisions, removed methods, caching hints", async () => {
  await withRawStdio(async (server) => {
    const discover = resultOf(await server.request(modernRequest(1, "server/discover")));
    assert.deepEqual(discover.supportedVersions, SUPPORTED);
    assert.deepEqual(discover.capabilities, { tools: {}, resources: {}, prompts: {} });
    assert.equal(typeof discover.instructions, "string");
    assert.equal(
      ((discover._meta as Record<string, unknown>)[SERVER_INFO_KEY] as Record<string, unknown>)
        .name,
      "session-buddy",
    );
    for (
      const method of ["tools/list", "prompts/list", "resources/list", "resources/templates/list"]
    ) {
      const result = resultOf(await server.request(modernRequest(method, method)));
      cacheable(result, `stdio ${method}`);
      assert.equal(
        ((result._meta as Record<string, unknown>)[SERVER_INFO_KEY] as Record<string, unknown>)
          .name,
        "session-buddy",
      );
    }
    const started = resultOf(
      await server.request(
        modernCall(2, "track_session_start", startArgs({ timestamp: FIXED })),
      ),
    );
    assert.equal((started.structuredContent as Record<string, unknown>).session_id, SESSION);
    cacheable(
      resultOf(
        await server.request(modernRequest(3, "resources/read", { uri: `session://${SESSION}` })),
      ),
      "stdio resources/read",
    );

    let answer = await server.request(
      modernRequest(4, "tools/list", {}, modernMeta({ [CLIENT_CAPABILITIES_KEY]: undefined })),
    );
    assert.equal(answer.id, 4);
    assert.equal(errorOf(answer).code, CODES.invalidParams, JSON.stringify(answer));
    answer = await server.request(
      modernRequest(5, "tools/list", {}, modernMeta({ [PROTOCOL_VERSION_KEY]: "v999.0.0" })),
    );
    assert.equal(answer.id, 5);
    assert.equal(errorOf(answer).code, CODES.unsupportedVersion, JSON.stringify(answer));
    assert.deepEqual(errorOf(answer).data, { supported: SUPPORTED, requested: "v999.0.0" });
    for (
      const method of [
        "initialize",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
        "resources/unsubscribe",
        "no/such-method",
      ]
    ) {
      answer = await server.request(
        modernRequest(`m-${method}`, method, { uri: "session://x", level: "debug" }),
      );
      assert.equal(answer.id, `m-${method}`);
      assert.equal(
        errorOf(answer).code,
        CODES.methodNotFound,
        `${method}: ${JSON.stringify(answer)}`,
      );
    }
    answer = await server.request(modernCall(6, "no_such_tool", {}));
    assert.equal(answer.id, 6);
    assert.equal(errorOf(answer).code, CODES.invalidParams);
    answer = await server.request(
      modernRequest(7, "resources/read", { uri: "session://nope-20260206-000000" }),
    );
    assert.equal(answer.id, 7);
    assert.equal(errorOf(answer).code, CODES.invalidParams);
    assert.deepEqual(errorOf(answer).data, { uri: "session://nope-20260206-000000" });
  });
});

Deno.test("notifications/cancelled on stdio: the cancelled request is never answered, the next one is", async () => {
  const cancelled = (requestId: unknown, meta?: Record<string, unknown>) => ({
    jsonrpc: "2.0",
    method: "notifications/cancelled",
    params: { requestId, reason: "the user gave up", ...(meta ? { _meta: meta } : {}) },
  });
  // 2026-07-28: the request and its cancellation in one write (far below PIPE_BUF, so one
  // read takes both), so that the server reads the cancellation before the store has
  // answered; then a request that must be answered. Reading stdout until the server has
  // exited shows that no answer for the cancelled id ever came, however late, with no sleep.
  await withRawStdio(async (server) => {
    resultOf(await server.request(modernRequest("warm", "tools/list")));
    await server.send(
      modernCall("doomed", "list_sessions", { limit: 500, token: null }),
      cancelled("doomed", modernMeta()),
    );
    const later = await server.request(modernRequest("later", "tools/list"));
    assert.ok(Array.isArray(resultOf(later).tools));
    const status = await server.end();
    assert.equal(status.code, 0, server.stderr());
    assert.ok(
      !server.received.some((m) => !Array.isArray(m) && m.id === "doomed"),
      `no answer for the cancelled request: ${JSON.stringify(server.received).slice(0, 2000)}`,
    );
  });
  // a handshake revision: the same, with ping as the next request
  await withRawStdio(async (server) => {
    await server.request(initialize(0, "2025-11-25"));
    await server.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    await server.send(
      legacyRequest(1, "tools/call", {
        name: "list_sessions",
        arguments: { limit: 500, token: null },
      }),
      cancelled(1),
    );
    const later = await server.request(legacyRequest(2, "ping"));
    resultOf(later);
    const status = await server.end();
    assert.equal(status.code, 0, server.stderr());
    assert.ok(
      !server.received.some((m) => !Array.isArray(m) && m.id === 1),
      `no answer for the cancelled request: ${JSON.stringify(server.received).slice(0, 2000)}`,
    );
  });
});
