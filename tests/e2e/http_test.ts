/**
 * SPEC 8.1 and 8.2 over real sockets: `serve --http` started as the shipped program, spoken
 * to with the SDK's Streamable HTTP client, with raw requests, over TLS with a CA made in
 * the test, and through the official MCP conformance suite. What is answered over HTTP is
 * held to what stdio answers for the same calls.
 */
import assert from "node:assert/strict";
import devImports from "../imports.json" with { type: "json" };
import { connectHttp, freePort, startHttpServer, withCollector } from "../helpers/http.ts";
import {
  DEV_FLAGS,
  endArgs,
  mintToken,
  runProgram,
  runtimeEnv,
  SECRET,
  startArgs,
  startServer,
  tempDir,
} from "../helpers/server.ts";
import { makeTestCa } from "../helpers/tls.ts";

const IN_CI = Deno.env.get("CI") === "true";

/** One raw HTTP/1.1 exchange; returns the status code and the whole response text. */
async function raw(port: number, request: string): Promise<{ status: number; text: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(request));
    let text = "";
    const buffer = new Uint8Array(16 * 1024);
    const decoder = new TextDecoder();
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
      const head = text.indexOf("\r\n\r\n");
      if (head < 0) continue;
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(text.slice(0, head))?.[1] ?? 0);
      if (text.length - head - 4 >= length) break;
    }
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]), text };
  } finally {
    conn.close();
  }
}

const FIXED = "2026-02-06T12:34:56.789Z";

/** The same calls, in order, for stdio and HTTP; `call` answers a structured result or an error code. */
async function script(call: (name: string, args: unknown) => Promise<unknown>): Promise<unknown[]> {
  const eventId = "550e8400-e29b-41d4-a716-446655440000";
  const start = startArgs({ event_id: eventId, timestamp: FIXED });
  const out = [
    await call("track_session_start", start),
    await call("track_session_start", start),
    await call("track_session_start", { ...start, pid: 1 }),
    await call("track_session_start", startArgs({ event_id: "abc", timestamp: FIXED })),
    await call("track_session_start", startArgs({ timestamp: "2026-02-06 12:00" })),
    await call("track_session_heartbeat", {
      session_id: "mahavishnu-20260206-123456",
      timestamp: FIXED,
      token: null,
    }),
    await call(
      "track_session_end",
      endArgs("mahavishnu-20260206-123456", { timestamp: "2026-02-06T13:00:00Z" }),
    ),
    await call("track_session_end", endArgs("mahavishnu-20260206-123456")),
    await call("track_session_end", endArgs("nope-20260206-000000")),
    await call("get_session", { session_id: "mahavishnu-20260206-123456", token: null }),
    await call("list_sessions", { limit: 5, token: null }),
    await call("session_stats", {
      since: "2026-02-06T00:00:00Z",
      until: "2026-02-07T00:00:00Z",
      token: null,
    }),
    await call("no_such_tool", {}),
  ];
  return JSON.parse(
    JSON.stringify(out, (key, value) => key === "last_seen_at" ? "<server clock>" : value),
  );
}

/** Log lines without their timestamps, and without the line that names the transport. */
function logLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.trim() !== "" && !l.includes("serving MCP on"))
    .map((l) => l.replace(/^\S+Z /, ""));
}

Deno.test("HTTP answers every tool call as stdio does, with the same log lines", async () => {
  const errorCode = async (p: Promise<unknown>) => {
    try {
      return await p;
    } catch (error) {
      return { jsonRpcError: (error as { code?: number }).code };
    }
  };
  const { dir, cleanup } = await tempDir();
  let overStdio: unknown[];
  let stdioLog: string;
  try {
    const server = await startServer({ env: { HOME: dir, SESSION_BUDDY_DB: `${dir}/s.kv` } });
    try {
      overStdio = await script((name, args) => errorCode(server.call(name, args)));
    } finally {
      await server.close();
    }
    stdioLog = server.stderr();
  } finally {
    await cleanup();
  }
  await withCollector(async (server) => {
    const client = await connectHttp(server.mcp);
    try {
      const overHttp = await script((name, args) => errorCode(client.call(name, args)));
      assert.deepEqual(overHttp, overStdio);
      assert.equal((overHttp[0] as { status: string }).status, "tracked");
      assert.deepEqual(overHttp.at(-1), { jsonRpcError: -32602 });
    } finally {
      await client.close();
    }
    assert.deepEqual(logLines(server.stderr()), logLines(stdioLog));
    assert.equal(server.stdout(), "", "nothing on stdout in HTTP mode");
  });
});

Deno.test("the seed's payloads over HTTP with a bearer token: tracked_by comes from the header", async () => {
  await withCollector(async (server) => {
    const bearer = await mintToken({ user_id: "collector-client" });
    const client = await connectHttp(server.mcp, {
      headers: { authorization: `Bearer ${bearer}` },
    });
    try {
      // The seed's shell code sends its own token argument; under a bearer it is ignored.
      const started = await client.call("track_session_start", startArgs({ token: null }));
      assert.equal(started.status, "tracked", JSON.stringify(started));
      const id = String(started.session_id);
      const got = await client.call("get_session", { session_id: id, token: null });
      assert.equal((got.session as Record<string, unknown>).tracked_by, "collector-client");
      const ended = await client.call("track_session_end", endArgs(id));
      assert.deepEqual(ended, { session_id: id, status: "ended", error: null });
    } finally {
      await client.close();
    }
    // The seed's client unchanged: no header, the token in every call's arguments.
    const plain = await connectHttp(server.mcp);
    try {
      const refused = await plain.call("track_session_start", startArgs({ token: null }));
      assert.deepEqual(refused, {
        session_id: null,
        status: "error",
        error: "❌ Authentication failed: Token required (SESSION_BUDDY_SECRET is set)",
      });
      const token = await mintToken();
      const started = await plain.call("track_session_start", startArgs({ token }));
      assert.equal(started.status, "tracked");
    } finally {
      await plain.close();
    }
    const refused = await fetch(server.mcp, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        authorization: `Bearer ${bearer.slice(0, -4)}AAAA`,
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    });
    assert.equal(refused.status, 401);
    assert.equal(
      refused.headers.get("www-authenticate"),
      'Bearer realm="session-buddy", error="invalid_token"',
    );
    await refused.body?.cancel();
    assert.ok(!server.stderr().includes(bearer.split(".")[2]!), "no token in the log");
    assert.ok(!server.stderr().includes(SECRET), "no secret in the log");
  }, { env: { SESSION_BUDDY_SECRET: SECRET } });
});

Deno.test("raw requests get the status codes of SPEC 8.1 and 8.2", async () => {
  await withCollector(async (server) => {
    const port = server.port;
    const ping = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" });
    const postMcp = (headers: string, body = ping) =>
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${headers}Content-Length: ${
        new TextEncoder().encode(body).length
      }\r\nConnection: close\r\n\r\n${body}`;
    const json =
      "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n";
    const cases: [string, string, number][] = [
      ["a request", postMcp(json), 200],
      [
        "a notification",
        postMcp(json, '{"jsonrpc":"2.0","method":"notifications/initialized"}'),
        202,
      ],
      ["a batch", postMcp(json, `[${ping}]`), 400],
      ["an unknown protocol revision", postMcp(`${json}MCP-Protocol-Version: 2020-01-01\r\n`), 400],
      ["text/plain", postMcp("Content-Type: text/plain\r\nAccept: application/json\r\n"), 415],
      ["Accept text/html", postMcp("Content-Type: application/json\r\nAccept: text/html\r\n"), 406],
      ["GET /mcp", `GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, 405],
      ["DELETE /mcp", `DELETE /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, 405],
      [
        "a foreign Host",
        `GET /healthz HTTP/1.1\r\nHost: evil.example.com\r\nConnection: close\r\n\r\n`,
        403,
      ],
      [
        "a Host that is no host",
        `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:abc\r\nConnection: close\r\n\r\n`,
        403,
      ],
      [
        "a foreign Origin",
        `GET /healthz HTTP/1.1\r\nHost: localhost\r\nOrigin: https://evil.example.com\r\nConnection: close\r\n\r\n`,
        403,
      ],
      [
        "/.well-known/",
        `GET /.well-known/oauth-protected-resource HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
        404,
      ],
      ["/healthz", `GET /healthz HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n`, 200],
      ["/metrics", `GET /metrics HTTP/1.1\r\nHost: localhost:1\r\nConnection: close\r\n\r\n`, 200],
    ];
    for (const [what, request, status] of cases) {
      const response = await raw(port, request);
      assert.equal(response.status, status, `${what}:\n${response.text.slice(0, 300)}`);
    }
    const allow = await raw(port, cases[6]![1]);
    assert.match(allow.text, /\r\nallow: POST\r\n/i);
    assert.doesNotMatch(server.stderr(), /ERROR/, "no request above is a failure of the server");

    // Over 1 MiB: 413 as soon as the declared length is seen, without reading the body.
    const huge = await raw(
      port,
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n${json}Content-Length: ${2 * 1024 * 1024}\r\n\r\n{`,
    );
    assert.equal(huge.status, 413);
    assert.ok(huge.text.includes('"jsonrpc":"2.0"') && huge.text.includes('"id":null'), huge.text);
  });
});

Deno.test("/metrics over the wire: what a scrape reads passes promtool, and counts every writer's sessions", async () => {
  await withCollector(async (server, dir) => {
    const client = await connectHttp(server.mcp);
    try {
      await client.call("track_session_start", startArgs({ component_name: "oneiric" }));
    } finally {
      await client.close();
    }
    // A second process writing the same store: its sessions count too.
    const other = await startServer({ env: { HOME: dir, SESSION_BUDDY_DB: `${dir}/s.kv` } });
    try {
      await other.call("track_session_start", startArgs({ component_name: "oneiric" }));
    } finally {
      await other.close();
    }
    const text = await (await fetch(`${server.origin}/metrics`)).text();
    assert.match(text, /^session_buddy_open_sessions\{component="oneiric",status="active"\} 2$/m);
    assert.match(
      text,
      /^session_buddy_tool_calls_total\{tool="track_session_start",status="tracked"\} 1$/m,
    );
    assert.match(text, /^session_buddy_store_commit_duration_seconds_count [1-9]\d*$/m);
    let promtool;
    try {
      promtool = new Deno.Command("promtool", {
        args: ["check", "metrics"],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      if (IN_CI) assert.fail("promtool is missing (CI must have it)");
      return console.log("skipped: promtool is not installed (Debian: apt install prometheus)");
    }
    const writer = promtool.stdin.getWriter();
    await writer.write(new TextEncoder().encode(text));
    await writer.close();
    const checked = await promtool.output();
    assert.equal(
      checked.code,
      0,
      new TextDecoder().decode(checked.stderr) + new TextDecoder().decode(checked.stdout),
    );
  });
});

Deno.test("HTTPS with a certificate from a CA made here: the SDK client is served", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const ca = await makeTestCa(dir);
    if (!ca) {
      if (IN_CI) assert.fail("openssl is missing (CI must have it)");
      return console.log("skipped: openssl is not installed");
    }
    await withCollector(async (server) => {
      assert.match(server.stderr(), /serving MCP on https:\/\/127\.0\.0\.1:\d+\/mcp/);
      const httpClient = Deno.createHttpClient({ caCerts: [ca.caCert] });
      try {
        const tlsFetch: typeof fetch = (input, init) =>
          fetch(input, { ...init, client: httpClient });
        const client = await connectHttp(server.mcp, { fetch: tlsFetch });
        try {
          const started = await client.call("track_session_start", startArgs());
          assert.equal(started.status, "tracked");
        } finally {
          await client.close();
        }
        const health = await tlsFetch(`${server.origin}/healthz`);
        assert.equal(health.status, 200);
        await health.body?.cancel();
      } finally {
        httpClient.close();
      }
      // Without the CA the certificate is not trusted.
      await assert.rejects(fetch(`${server.origin}/healthz`));
    }, { args: () => ["--tls-cert", ca.certFile, "--tls-key", ca.keyFile], scheme: "https" });
  } finally {
    await cleanup();
  }
});

Deno.test("SIGTERM: what is in progress is answered, then exit 0; SIGINT twice exits 0 too", async () => {
  for (const signals of [["SIGTERM"], ["SIGINT", "SIGINT"]] as Deno.Signal[][]) {
    const { dir, cleanup } = await tempDir();
    try {
      const server = await startHttpServer({ env: { HOME: dir, SESSION_BUDDY_DB: `${dir}/s.kv` } });
      const body = JSON.stringify({
        jsonrpc: "2.0",
        id: 7,
        method: "tools/call",
        params: { name: "track_session_start", arguments: startArgs() },
      });
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      const head =
        `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
      // Half the body now: the request is in progress when the signal comes.
      await conn.write(new TextEncoder().encode(head + body.slice(0, 20)));
      await new Promise((r) => setTimeout(r, 200));
      for (const signal of signals) server.child.kill(signal);
      await new Promise((r) => setTimeout(r, 200));
      await conn.write(new TextEncoder().encode(body.slice(20)));
      let text = "";
      const buffer = new Uint8Array(8192);
      while (!text.includes('"tracked"')) {
        const n = await conn.read(buffer);
        if (n === null) break;
        text += new TextDecoder().decode(buffer.subarray(0, n));
      }
      conn.close();
      assert.match(text, /^HTTP\/1\.1 200/, text);
      assert.match(text, /"status\\?":\\?"tracked/, text);
      const status = await server.stop("SIGTERM");
      assert.equal(status.code, 0, server.stderr());
      await assert.rejects(fetch(`${server.origin}/healthz`), "no longer listening");
      assert.doesNotMatch(server.stderr(), /ERROR|Uncaught/, server.stderr());
    } finally {
      await cleanup();
    }
  }
});

Deno.test("start-up failures of serve --http: one line each, exit 2 for usage, 1 at run time", async (t) => {
  const { dir, cleanup } = await tempDir();
  const env = { HOME: dir, SESSION_BUDDY_DB: `${dir}/s.kv` };
  const oneLine = (out: { code: number; stderr: string }, code: number, pattern: RegExp) => {
    assert.equal(out.code, code, out.stderr);
    const lines = out.stderr.split("\n").filter((l) => l.trim() !== "");
    assert.equal(lines.length, 1, out.stderr);
    assert.match(lines[0]!, pattern);
  };
  try {
    await t.step("a non-loopback address without TLS or --plain-http", async () => {
      oneLine(await runProgram(["serve", "--http", `0.0.0.0:${freePort()}`], env), 2, /needs TLS/);
    });
    await t.step("one TLS flag without the other", async () => {
      oneLine(
        await runProgram(["serve", "--http", String(freePort()), "--tls-cert", "x.pem"], env),
        2,
        /needs --tls-key/,
      );
    });
    await t.step("an unreadable and an invalid PEM", async () => {
      const args = [
        "serve",
        "--http",
        String(freePort()),
        "--tls-cert",
        `${dir}/no.pem`,
        "--tls-key",
        `${dir}/no.key`,
      ];
      oneLine(await runProgram(args, env), 1, /cannot read TLS certificate .*no\.pem/);
      await Deno.writeTextFile(
        `${dir}/bad.pem`,
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
      );
      await Deno.writeTextFile(
        `${dir}/bad.key`,
        "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n",
      );
      const bad = [
        "serve",
        "--http",
        String(freePort()),
        "--tls-cert",
        `${dir}/bad.pem`,
        "--tls-key",
        `${dir}/bad.key`,
      ];
      oneLine(await runProgram(bad, env), 1, /^session-buddy: cannot listen on 127\.0\.0\.1:\d+: /);
    });
    await t.step("an address in use", async () => {
      const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      try {
        const port = (taken.addr as Deno.NetAddr).port;
        oneLine(
          await runProgram(["serve", "--http", String(port)], env),
          1,
          new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`),
        );
      } finally {
        taken.close();
      }
    });
    await t.step("DENO_SERVE_ADDRESS pointing elsewhere: refused, not moved", async () => {
      const port = freePort();
      const moved = await runProgram(["serve", "--http", String(port)], {
        ...env,
        DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${freePort()}`,
      });
      oneLine(moved, 1, /^session-buddy: /);
    });
  } finally {
    await cleanup();
  }
});

Deno.test("the official MCP conformance suite: initialize, ping, tools/list and DNS rebinding pass", async () => {
  const spec = devImports.imports["@modelcontextprotocol/conformance"];
  await withCollector(async (server) => {
    for (
      const scenario of ["server-initialize", "ping", "tools-list", "dns-rebinding-protection"]
    ) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-q",
          "-A",
          ...DEV_FLAGS,
          spec,
          "server",
          "--url",
          server.mcp,
          "--scenario",
          scenario,
        ],
        env: runtimeEnv(),
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `${scenario}:\n${said}`);
      assert.match(said, /Passed: (\d+)\/\1, 0 failed/, `${scenario}:\n${said}`);
    }
  });
});
