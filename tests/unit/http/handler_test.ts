/**
 * The HTTP edge's answers (SPEC 8.1, 8.2), request by request: the real handler, the real
 * MCP server and a real Deno KV store in memory, with `Request` objects handed in directly
 * (the e2e tests send the same over sockets).
 */
import assert from "node:assert/strict";
import { collectingLog } from "../../helpers/log.ts";
import { createVerifier } from "../../../src/auth/verify.ts";
import { acceptAll } from "../../../src/auth/verifier.ts";
import { createHandler, type HttpDeps, UNAUTHORIZED } from "../../../src/http/handler.ts";
import { createServer } from "../../../src/mcp/server.ts";
import { Metrics } from "../../../src/metrics.ts";
import { openStore } from "../../../src/store/open.ts";
import { mintToken, SECRET, startArgs } from "../../helpers/server.ts";

const ORIGIN = "http://127.0.0.1:8080";

interface Edge {
  handle: (request: Request) => Promise<Response>;
  drain: (limitMs: number) => Promise<void>;
  lines: string[];
  metrics: Metrics;
  close: () => Promise<void>;
}

async function edge(
  options: { secret?: boolean; loopback?: boolean; overrides?: Partial<HttpDeps> } = {},
): Promise<Edge> {
  const store = await openStore({ kind: "memory" });
  const { log, lines } = collectingLog();
  const metrics = new Metrics();
  const deps = {
    store,
    verify: options.secret ? createVerifier(SECRET) : acceptAll,
    log,
    now: () => new Date(),
    staleAfterMs: 12 * 3600_000,
    authRequired: options.secret ?? false,
    version: "9.9.9",
    metrics,
  };
  const rpc = createServer(deps);
  const { handle, drain } = createHandler({
    ...deps,
    rpc,
    guard: {
      loopback: options.loopback ?? true,
      allowedOrigins: ["https://console.example.com"],
      allowedHosts: ["collector.example.com"],
    },
    startSeconds: 1_700_000_000,
    rssBytes: () => 42_000_000,
    ...options.overrides,
  });
  return {
    handle,
    drain,
    lines,
    metrics,
    close: async () => {
      await store.close();
    },
  };
}

const JSON_HEADERS = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
};

function post(body: unknown, headers: Record<string, string> = {}, path = "/mcp"): Request {
  return new Request(`${ORIGIN}${path}`, {
    method: "POST",
    headers: { ...JSON_HEADERS, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

function call(name: string, args: unknown, id: number | string = 1) {
  return { jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } };
}

/** Asserts a JSON-RPC error body without an id, as SPEC 8.1 wants for 400/406/413/415. */
/** Checks an error answer; its `id` member is the request's, or null where none was read. */
async function assertRpcError(
  response: Response,
  status: number,
  code: number,
  id: string | number | null = null,
): Promise<string> {
  assert.equal(response.status, status);
  assert.match(response.headers.get("content-type") ?? "", /application\/json/);
  const body = await response.json();
  assert.equal(body.jsonrpc, "2.0");
  assert.ok("id" in body, JSON.stringify(body));
  assert.equal(body.id, id, JSON.stringify(body));
  assert.equal(body.error.code, code);
  return body.error.message;
}

Deno.test("POST /mcp: a request is answered 200 as JSON; a notification or a response 202", async () => {
  const e = await edge();
  try {
    const init = await e.handle(post({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t" } },
    }));
    assert.equal(init.status, 200);
    assert.equal(init.headers.get("mcp-session-id"), null, "stateless: no session id");
    assert.equal((await init.json()).result.serverInfo.name, "session-buddy");
    const note = await e.handle(post({ jsonrpc: "2.0", method: "notifications/initialized" }));
    assert.equal(note.status, 202);
    assert.equal(await note.text(), "");
    const answer = await e.handle(post({ jsonrpc: "2.0", id: 5, result: {} }));
    assert.equal(answer.status, 202);
    const started = await e.handle(post(call("track_session_start", startArgs()), {}, "/mcp"));
    const body = await started.json();
    assert.equal(body.id, 1);
    assert.equal(body.result.structuredContent.status, "tracked");
  } finally {
    await e.close();
  }
});

Deno.test("GET, DELETE and other methods on /mcp: 405 with Allow: POST", async () => {
  const e = await edge();
  try {
    for (const method of ["GET", "DELETE", "PUT", "PATCH"]) {
      const response = await e.handle(new Request(`${ORIGIN}/mcp`, { method }));
      assert.equal(response.status, 405, method);
      assert.equal(response.headers.get("allow"), "POST", method);
      await response.body?.cancel();
    }
  } finally {
    await e.close();
  }
});

Deno.test("batches, bad JSON, bad envelopes and unknown MCP-Protocol-Version: 400", async () => {
  const e = await edge();
  try {
    const batch = [call("track_session_start", startArgs(), 1), call("get_session", {}, 2)];
    assert.match(await assertRpcError(await e.handle(post(batch)), 400, -32600), /batch/i);
    assert.match(
      await assertRpcError(await e.handle(post("{not json")), 400, -32700),
      /Parse error/,
    );
    const envelope = await e.handle(post({ jsonrpc: "1.0", id: 3, method: "ping" }));
    assert.match(await assertRpcError(envelope, 400, -32600, 3), /jsonrpc must be "2.0"/);
    const revision = await e.handle(
      post({ jsonrpc: "2.0", id: 4, method: "ping" }, { "mcp-protocol-version": "1999-01-01" }),
    );
    assert.match(await assertRpcError(revision, 400, -32022, 4), /1999-01-01/);
    for (const known of ["2025-06-18", "2025-11-25"]) {
      const ok = await e.handle(
        post({ jsonrpc: "2.0", id: 5, method: "ping" }, { "mcp-protocol-version": known }),
      );
      assert.equal(ok.status, 200, known);
      await ok.body?.cancel();
    }
  } finally {
    await e.close();
  }
});

Deno.test("a batch is answered with MCP-Protocol-Version 2025-03-26, whose batches are part of it", async () => {
  const e = await edge();
  try {
    const old = { "mcp-protocol-version": "2025-03-26" };
    const batch = [
      call("track_session_start", startArgs(), 1),
      { jsonrpc: "2.0", method: "notifications/initialized" },
      call("get_session", {}, 2),
    ];
    const answered = await e.handle(post(batch, old));
    assert.equal(answered.status, 200);
    const body = await answered.json() as {
      id: number;
      result: { structuredContent: { status: string } };
    }[];
    assert.deepEqual(body.map((r) => [r.id, r.result.structuredContent.status]), [
      [1, "tracked"],
      [2, "error"],
    ]);
    const notifications = await e.handle(
      post([{ jsonrpc: "2.0", method: "notifications/initialized" }], old),
    );
    assert.equal(notifications.status, 202);
    await assertRpcError(await e.handle(post([], old)), 400, -32600);
  } finally {
    await e.close();
  }
});

Deno.test("415 for a body that is not JSON, 406 for an Accept without JSON", async () => {
  const e = await edge();
  try {
    const ping = { jsonrpc: "2.0", id: 1, method: "ping" };
    for (const type of ["text/plain", "application/x-www-form-urlencoded", ""]) {
      const response = await e.handle(post(ping, { "content-type": type }));
      await assertRpcError(response, 415, -32600);
    }
    const charset = await e.handle(
      post(ping, { "content-type": "application/json; charset=utf-8" }),
    );
    assert.equal(charset.status, 200);
    await charset.body?.cancel();
    for (
      const accept of ["text/html", "text/event-stream", "application/*", "application/json;q=0"]
    ) {
      await assertRpcError(await e.handle(post(ping, { accept })), 406, -32600);
    }
    for (const accept of ["*/*", "application/json", "text/html, application/json;q=0.5"]) {
      const ok = await e.handle(post(ping, { accept }));
      assert.equal(ok.status, 200, accept);
      await ok.body?.cancel();
    }
  } finally {
    await e.close();
  }
});

Deno.test("413 past 1 MiB: a declared length is refused unread, a streamed body stops at the limit", async () => {
  const e = await edge();
  try {
    const declared = new Request(`${ORIGIN}/mcp`, {
      method: "POST",
      headers: { ...JSON_HEADERS, "content-length": String(2 * 1024 * 1024) },
      body: new ReadableStream({
        pull: () => assert.fail("a body declared too large was read"),
      }),
    });
    await assertRpcError(await e.handle(declared), 413, -32600);
    let sent = 0;
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    const streamed = new Request(`${ORIGIN}/mcp`, {
      method: "POST",
      headers: JSON_HEADERS,
      body: new ReadableStream({
        pull(controller) {
          sent += chunk.length;
          if (sent > 64 * 1024 * 1024) controller.close();
          else controller.enqueue(chunk);
        },
      }),
    });
    await assertRpcError(await e.handle(streamed), 413, -32600);
    assert.ok(sent <= 1024 * 1024 + 2 * chunk.length, `read ${sent} bytes before stopping`);
    // Exactly 1 MiB is allowed (whitespace around a ping).
    const ping = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" });
    const full = ping + " ".repeat(1024 * 1024 - ping.length);
    const ok = await e.handle(post(full));
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  } finally {
    await e.close();
  }
});

Deno.test("a body that does not arrive by the deadline: 408", async () => {
  const e = await edge({ overrides: { limits: { bodyDeadlineMs: 50 } } });
  try {
    const stalled = new Request(`${ORIGIN}/mcp`, {
      method: "POST",
      headers: JSON_HEADERS,
      body: new ReadableStream({ start: (c) => c.enqueue(new TextEncoder().encode('{"jsonrpc"')) }),
    });
    await assertRpcError(await e.handle(stalled), 408, -32600);
  } finally {
    await e.close();
  }
});

Deno.test("503 with Retry-After past the limit of requests in progress", async () => {
  const e = await edge({ overrides: { limits: { maxInFlight: 2, bodyDeadlineMs: 5000 } } });
  try {
    const releases: (() => void)[] = [];
    const held = [1, 2].map(() => {
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          releases.push(() => {
            c.enqueue(
              new TextEncoder().encode(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" })),
            );
            c.close();
          });
        },
      });
      return e.handle(
        new Request(`${ORIGIN}/mcp`, { method: "POST", headers: JSON_HEADERS, body }),
      );
    });
    const refused = await e.handle(new Request(`${ORIGIN}/healthz`));
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "1");
    // /healthz keeps its own shape, for a load balancer's check.
    assert.deepEqual(await refused.json(), {
      status: "unavailable",
      error: "too many requests in progress",
    });
    const busyMcp = await e.handle(post({ jsonrpc: "2.0", id: 9, method: "ping" }));
    await assertRpcError(busyMcp, 503, -32600);
    for (const release of releases) release();
    for (const response of await Promise.all(held)) {
      assert.equal(response.status, 200);
      await response.body?.cancel();
    }
    const later = await e.handle(new Request(`${ORIGIN}/healthz`));
    assert.equal(later.status, 200);
    await later.body?.cancel();
  } finally {
    await e.close();
  }
});

Deno.test("404 for every other path, /.well-known/ too", async () => {
  const e = await edge();
  try {
    for (
      const path of [
        "/",
        "/mcp/",
        "/sse",
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-protected-resource",
        "/healthz/x",
      ]
    ) {
      const response = await e.handle(new Request(`${ORIGIN}${path}`));
      assert.equal(response.status, 404, path);
      await response.body?.cancel();
    }
  } finally {
    await e.close();
  }
});

Deno.test("DNS rebinding: foreign hosts and origins get 403 on loopback; listed origins pass", async () => {
  const e = await edge();
  try {
    const ping = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" });
    const at = (url: string, headers: Record<string, string> = {}) =>
      e.handle(
        new Request(url, { method: "POST", headers: { ...JSON_HEADERS, ...headers }, body: ping }),
      );
    for (
      const url of [
        "http://evil.example.com:8080/mcp",
        "http://192.168.1.5:8080/mcp",
        "http://10.0.0.1/healthz",
      ]
    ) {
      const response = await at(url);
      assert.equal(response.status, 403, url);
      await response.body?.cancel();
    }
    // A name given with --allowed-host (what a proxy in front forwards) passes, any port.
    for (
      const url of [
        "http://localhost:8080/mcp",
        "http://127.0.0.1:9/mcp",
        "http://[::1]:8080/mcp",
        "https://Collector.Example.com/mcp",
        "http://collector.example.com:8080/mcp",
      ]
    ) {
      const response = await at(url);
      assert.equal(response.status, 200, url);
      await response.body?.cancel();
    }
    const evil = await at(`${ORIGIN}/mcp`, { origin: "http://evil.example.com" });
    assert.equal(evil.status, 403);
    await evil.body?.cancel();
    for (
      const origin of ["http://localhost:5173", "https://127.0.0.1", "https://console.example.com"]
    ) {
      const response = await at(`${ORIGIN}/mcp`, { origin });
      assert.equal(response.status, 200, origin);
      assert.equal(response.headers.get("access-control-allow-origin"), origin);
      await response.body?.cancel();
    }
  } finally {
    await e.close();
  }
});

Deno.test("DNS rebinding off loopback: any host, but only listed origins", async () => {
  const e = await edge({ loopback: false });
  try {
    const ping = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" });
    const at = (headers: Record<string, string> = {}) =>
      e.handle(
        new Request("https://collector.example.net/mcp", {
          method: "POST",
          headers: { ...JSON_HEADERS, ...headers },
          body: ping,
        }),
      );
    const plain = await at();
    assert.equal(plain.status, 200);
    await plain.body?.cancel();
    const loopbackOrigin = await at({ origin: "http://localhost:5173" });
    assert.equal(loopbackOrigin.status, 403, "a loopback origin is not listed");
    await loopbackOrigin.body?.cancel();
    const listed = await at({ origin: "https://console.example.com" });
    assert.equal(listed.status, 200);
    await listed.body?.cancel();
  } finally {
    await e.close();
  }
});

Deno.test("a CORS preflight from an allowed origin: 204 naming POST and the MCP headers", async () => {
  const e = await edge();
  try {
    const response = await e.handle(
      new Request(`${ORIGIN}/mcp`, {
        method: "OPTIONS",
        headers: { origin: "https://console.example.com", "access-control-request-method": "POST" },
      }),
    );
    assert.equal(response.status, 204);
    assert.equal(response.headers.get("access-control-allow-methods"), "POST");
    assert.match(response.headers.get("access-control-allow-headers") ?? "", /authorization/);
    assert.match(
      response.headers.get("access-control-allow-headers") ?? "",
      /mcp-protocol-version/,
    );
  } finally {
    await e.close();
  }
});

Deno.test("bearer tokens: a bad one is 401 before the body is read, a good one stands for the token argument", async () => {
  const e = await edge({ secret: true });
  try {
    const expired = await mintToken({ exp: Math.floor(Date.now() / 1000) - 3600 });
    for (
      const header of [
        `Bearer ${expired}`,
        "Bearer not-a-jwt",
        "Basic dXNlcjpwdw==",
        `Bearer ${await mintToken({}, "another-secret-0123456789-abcdefghijklmnop")}`,
      ]
    ) {
      const response = await e.handle(
        new Request(`${ORIGIN}/mcp`, {
          method: "POST",
          headers: { ...JSON_HEADERS, authorization: header },
          body: new ReadableStream({
            pull: () => assert.fail("the body of a refused request was read"),
          }),
        }),
      );
      assert.equal(response.status, 401, header.slice(0, 20));
      assert.equal(
        response.headers.get("www-authenticate"),
        'Bearer realm="session-buddy", error="invalid_token"',
      );
      const text = await response.text();
      assert.ok(
        !text.includes(header.slice(7)) && !text.includes(SECRET),
        "no token or secret in the body",
      );
      assert.equal(JSON.parse(text).error.code, UNAUTHORIZED);
    }
    assert.ok(e.lines.every((line) => !line.includes(expired) && !line.includes(SECRET)));
    const bearer = await mintToken({ user_id: "shell-on-server01" });
    const started = await e.handle(post(
      call("track_session_start", startArgs({ token: "garbage, ignored under a bearer" })),
      { authorization: `Bearer ${bearer}` },
    ));
    const body = await started.json();
    assert.equal(body.result.structuredContent.status, "tracked", JSON.stringify(body));
    const id = body.result.structuredContent.session_id;
    const got = await (await e.handle(post(call("get_session", { session_id: id }), {
      authorization: `Bearer ${bearer}`,
    }))).json();
    assert.equal(got.result.structuredContent.session.tracked_by, "shell-on-server01");
    // Without the header, the token argument is checked exactly as over stdio.
    const bare = await (await e.handle(post(call("track_session_start", startArgs())))).json();
    assert.equal(
      bare.result.structuredContent.error,
      "❌ Authentication failed: Token required (SESSION_BUDDY_SECRET is set)",
    );
    const argument = await (await e.handle(
      post(call("track_session_start", startArgs({ token: await mintToken() }))),
    )).json();
    assert.equal(argument.result.structuredContent.status, "tracked");
  } finally {
    await e.close();
  }
});

Deno.test("/healthz: 200 with the version, 503 when the store does not answer in time; no token needed", async () => {
  const e = await edge({ secret: true });
  try {
    const ok = await e.handle(
      new Request(`${ORIGIN}/healthz`, { headers: { authorization: "Bearer junk" } }),
    );
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { status: "ok", version: "9.9.9" });
  } finally {
    await e.close();
  }
  const slow = await edge({
    overrides: {
      store: { check: () => new Promise(() => {}), active: async function* () {} },
      limits: { healthTimeoutMs: 30 },
    },
  });
  const broken = await edge({
    overrides: {
      store: {
        check: () => Promise.reject(new Error("database is closed")),
        active: async function* () {},
      },
    },
  });
  try {
    const late = await slow.handle(new Request(`${ORIGIN}/healthz`));
    assert.equal(late.status, 503);
    const body = await late.json();
    assert.equal(body.status, "unavailable");
    assert.match(body.error, /did not answer within 30 ms/);
    const failed = await broken.handle(new Request(`${ORIGIN}/healthz`));
    assert.equal(failed.status, 503);
    assert.deepEqual(await failed.json(), { status: "unavailable", error: "database is closed" });
  } finally {
    await slow.close();
    await broken.close();
  }
});

Deno.test("/metrics: needs a bearer token when a secret is set, and counts what happened", async () => {
  const e = await edge({ secret: true });
  try {
    const none = await e.handle(new Request(`${ORIGIN}/metrics`));
    assert.equal(none.status, 401);
    assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="session-buddy"');
    await none.body?.cancel();
    const bad = await e.handle(
      new Request(`${ORIGIN}/metrics`, { headers: { authorization: "Bearer x" } }),
    );
    assert.equal(bad.status, 401);
    await bad.body?.cancel();
    const token = await mintToken();
    await (await e.handle(post(call("track_session_start", startArgs({ token }))))).body?.cancel();
    await (await e.handle(post(call("track_session_start", startArgs({ token: null }))))).body
      ?.cancel();
    const scrape = await e.handle(
      new Request(`${ORIGIN}/metrics`, { headers: { authorization: `Bearer ${token}` } }),
    );
    assert.equal(scrape.status, 200);
    assert.equal(scrape.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const text = await scrape.text();
    assert.match(
      text,
      /^session_buddy_tool_calls_total\{tool="track_session_start",status="tracked"\} 1$/m,
    );
    assert.match(
      text,
      /^session_buddy_tool_calls_total\{tool="track_session_start",status="error"\} 1$/m,
    );
    // Two bearer failures and one token argument refused.
    assert.match(text, /^session_buddy_auth_failures_total 3$/m);
    assert.match(text, /^session_buddy_http_requests_total\{code="401"\} 2$/m);
    assert.match(
      text,
      /^session_buddy_open_sessions\{component="mahavishnu",status="active"\} 1$/m,
    );
    assert.match(text, /^session_buddy_build_info\{version="9.9.9"\} 1$/m);
    assert.match(text, /^process_resident_memory_bytes 42000000$/m);
    assert.ok(
      !text.includes(token) && !text.includes("server01") && !text.includes("john"),
      "no token, host or user",
    );
  } finally {
    await e.close();
  }
});

Deno.test("drain: a request in progress is answered, later ones get 503, and it resolves after", async () => {
  const e = await edge({ overrides: { limits: { bodyDeadlineMs: 5000 } } });
  try {
    let release!: () => void;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        release = () => {
          c.enqueue(
            new TextEncoder().encode(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" })),
          );
          c.close();
        };
      },
    });
    const inProgress = e.handle(
      new Request(`${ORIGIN}/mcp`, { method: "POST", headers: JSON_HEADERS, body }),
    );
    let drained = false;
    const draining = e.drain(5000).then(() => drained = true);
    const late = await e.handle(new Request(`${ORIGIN}/healthz`));
    assert.equal(late.status, 503);
    assert.equal(late.headers.get("connection"), "close");
    assert.deepEqual(await late.json(), { status: "unavailable", error: "the server is stopping" });
    const lateMcp = await e.handle(post({ jsonrpc: "2.0", id: 2, method: "ping" }));
    assert.match(await assertRpcError(lateMcp, 503, -32600), /stopping/);
    assert.equal(drained, false, "still waiting for the request in progress");
    release();
    const answered = await inProgress;
    assert.equal(answered.status, 200);
    await answered.body?.cancel();
    await draining;
    assert.equal(drained, true);
  } finally {
    await e.close();
  }
});

Deno.test("a client that hangs up mid-body: 400, logged at debug only, not counted as a failure", async () => {
  const e = await edge();
  try {
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulls++ === 0) c.enqueue(new TextEncoder().encode('{"jsonrpc":'));
        else c.error(new TypeError("Cannot read request body as underlying resource unavailable"));
      },
    });
    const response = await e.handle(
      new Request(`${ORIGIN}/mcp`, { method: "POST", headers: JSON_HEADERS, body }),
    );
    assert.match(await assertRpcError(response, 400, -32600), /cut off/);
    assert.deepEqual(e.lines.filter((l) => !l.startsWith("DEBUG")), [], "no warning or error");
    assert.match(
      e.metrics.render({ version: "x", openSessions: [], rssBytes: 0, startSeconds: 0 }),
      /code="400"\} 1/,
    );
  } finally {
    await e.close();
  }
});
