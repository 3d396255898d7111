/**
 * Token attacks against every tool (SPEC 4): each is refused with the contract's auth
 * error, nothing is stored, a valid token still works afterwards, and neither the secret
 * nor any token shows up in stderr, the log file, an error text or the store.
 *
 * The same attacks run as the `token` argument over stdio and over HTTP (wire.ts), and
 * must get the same answers. Over HTTP each is also sent as `Authorization: Bearer`
 * (SPEC 4, 8.1): 401 with the `invalid_token` challenge before the body counts, a body
 * without the token or the secret, nothing stored; a valid bearer then stands for the
 * token argument of every tool and gives `tracked_by`.
 */
import assert from "node:assert/strict";
import { mintToken, readRecord, SECRET, startArgs, tempDir } from "../helpers/server.ts";
import { AUTH, TOOLS } from "./gen.ts";
import { dumpAll, figure, findSecrets, modeOf, serialise } from "./raw.ts";
import { bytesOf, exchange, postHead } from "./tcp.ts";
import { HttpWire, type Kind, startWire, TRANSPORTS } from "./wire.ts";

const REQUIRED = `${AUTH}Token required (SESSION_BUDDY_SECRET is set)`;
const encoder = new TextEncoder();

function b64url(data: string | Uint8Array): string {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Signs `header.payload` with HMAC-SHA256 and the secret, whatever the header says. */
async function hmacToken(header: Record<string, unknown>, payload: Record<string, unknown>) {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(SECRET),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(input)));
  return `${input}.${b64url(sig)}`;
}

function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  const c: Record<string, unknown> = {
    user_id: "admin-shell",
    exp: now + 3600,
    iat: now,
    type: "access",
    iss: "session-buddy",
    ...over,
  };
  for (const [k, v] of Object.entries(c)) if (v === undefined) delete c[k];
  return c;
}

function flip(text: string, at: number): string {
  const ch = text[at] === "A" ? "B" : "A";
  return text.slice(0, at) + ch + text.slice(at + 1);
}

async function attacks(): Promise<[string, unknown][]> {
  const now = Math.floor(Date.now() / 1000);
  const valid = await mintToken();
  const [h, p, s] = valid.split(".") as [string, string, string];
  const hs = { alg: "HS256", typ: "JWT" };
  return [
    ["alg none, no signature", `${b64url('{"alg":"none","typ":"JWT"}')}.${p}.`],
    ["alg none, HS256 signature kept", `${b64url('{"alg":"none","typ":"JWT"}')}.${p}.${s}`],
    ["alg None (case)", await hmacToken({ alg: "None", typ: "JWT" }, claims())],
    ["HS384 with the secret", await mintToken({}, SECRET, "HS384")],
    ["HS512 with the secret", await mintToken({}, SECRET, "HS512")],
    [
      "RS256 header, HMAC with the secret (key confusion)",
      await hmacToken({ alg: "RS256", typ: "JWT" }, claims()),
    ],
    ["no alg", await hmacToken({ typ: "JWT" }, claims())],
    ["missing exp", await hmacToken(hs, claims({ exp: undefined }))],
    ["exp as a string", await hmacToken(hs, claims({ exp: String(now + 3600) }))],
    ["expired beyond the leeway", await mintToken({ exp: now - 60, iat: now - 3600 })],
    ["iat in the future", await mintToken({ iat: now + 120 })],
    ["nbf in the future", await mintToken({ nbf: now + 120 })],
    ["wrong iss", await mintToken({ iss: "someone-else" })],
    ["missing iss", await mintToken({ iss: undefined })],
    ["type refresh", await mintToken({ type: "refresh" })],
    ["wrong secret", await mintToken({}, "a-different-secret-that-is-long-enough-0123")],
    ["tampered header", `${b64url(JSON.stringify({ ...hs, kid: "x" }))}.${p}.${s}`],
    ["tampered payload", `${h}.${b64url(JSON.stringify(claims({ user_id: "root" })))}.${s}`],
    ["tampered payload byte", `${h}.${flip(p, Math.floor(p.length / 2))}.${s}`],
    ["tampered signature", `${h}.${p}.${flip(s, 5)}`],
    ["signature cut off", `${h}.${p}.`],
    ["truncated", valid.slice(0, -10)],
    ["two parts", `${h}.${p}`],
    ["five parts (JWE shape)", `${valid}.x.y`],
    ["not base64", "!!!.???.***"],
    ["unicode", "é😀.中.\u0000"],
    ["whitespace only", "   "],
    ["1 MB token", `${h}.${"A".repeat(1_000_000)}.${s}`],
    ["empty string", ""],
    ["null", null],
    ["missing", undefined],
    ["number", 12345],
    ["object", { token: valid }],
    ["array", [valid]],
    ["boolean", true],
  ];
}

/** Arguments that would be valid for each tool, apart from the token. */
function argsFor(tool: string): Record<string, unknown> {
  switch (tool) {
    case "track_session_start":
      return startArgs({ timestamp: "2026-02-06T12:34:56Z" });
    case "track_session_end":
    case "track_session_heartbeat":
      return { session_id: "mahavishnu-20260206-123456", timestamp: "2026-02-06T13:00:00Z" };
    case "get_session":
      return { session_id: "mahavishnu-20260206-123456" };
    default:
      return {};
  }
}

/** Each transport's answers, by `attack on tool`; the runs of one file compare them. */
const answers = new Map<Kind, Map<string, string>>();

function serverEnv(dir: string): Record<string, string> {
  return {
    SESSION_BUDDY_DB: `${dir}/s.kv`,
    HOME: dir,
    SESSION_BUDDY_SECRET: SECRET,
    SESSION_BUDDY_LOG_FILE: `${dir}/server.log`,
  };
}

/** Every attack as the `token` argument of every tool, over one transport. */
async function attacksAsArgument(kind: Kind): Promise<void> {
  const { dir, cleanup } = await tempDir();
  const db = `${dir}/s.kv`;
  const logFile = `${dir}/server.log`;
  const server = await startWire(kind, serverEnv(dir));
  const cases = await attacks();
  const errors: string[] = [];
  const mine = new Map<string, string>();
  let refused = 0;
  try {
    for (const [name, token] of cases) {
      for (const tool of TOOLS) {
        const args = argsFor(tool);
        if (token !== undefined) args.token = token;
        else delete args.token;
        const result = await server.call(tool, args);
        const what = `${name} on ${tool} over ${kind}: ${JSON.stringify(result).slice(0, 300)}`;
        mine.set(`${name} on ${tool}`, JSON.stringify(result));
        assert.equal(result.status, "error", what);
        const error = String(result.error);
        errors.push(error);
        assert.ok(error.startsWith(AUTH), what);
        if (token === undefined || token === null || token === "") {
          assert.equal(error, REQUIRED, what);
        }
        if ("session_id" in result) assert.equal(result.session_id, null, what);
        refused++;
      }
    }
    assert.equal((await dumpAll(db)).includes('["session"'), false, "no attack stored anything");

    // A token just inside the leeway, and a plain one, work after all of that.
    const now = Math.floor(Date.now() / 1000);
    const good = await mintToken();
    const lenient = await mintToken({ exp: now - 10 });
    const started = await server.call("track_session_start", {
      ...argsFor("track_session_start"),
      token: good,
    });
    assert.deepEqual(started, {
      session_id: "mahavishnu-20260206-123456",
      status: "tracked",
      error: null,
    });
    const found = await server.call("get_session", {
      session_id: "mahavishnu-20260206-123456",
      token: lenient,
    });
    assert.equal(found.status, "found");
    assert.equal((found.session as Record<string, unknown>).tracked_by, "admin-shell");
    await server.assertServing();
    assert.deepEqual(server.violations, [], `protocol violations over ${kind}`);
    assert.equal(await server.close().then((s) => s.code), 0, server.stderr().slice(-2000));

    const tokens = cases.map(([, t]) => t).filter((t): t is string => typeof t === "string");
    const leaks = findSecrets({
      stderr: server.stderr(),
      stdout: server.otherOutput(),
      log: await Deno.readTextFile(logFile),
      errors: errors.join("\n"),
      store: await dumpAll(db),
    }, [SECRET, good, lenient, ...tokens]);
    assert.deepEqual(leaks, []);
    assert.equal(modeOf(db), 0o600);
    assert.equal(modeOf(logFile), 0o600);

    // The same attack gets the same answer whatever carries it.
    answers.set(kind, mine);
    let compared: Kind | null = null;
    for (const [other, theirs] of answers) {
      if (other === kind) continue;
      for (const [key, answer] of mine) {
        assert.equal(answer, theirs.get(key), `${key}: ${kind} and ${other} answer differently`);
      }
      compared = other;
    }
    if (!compared && kind !== TRANSPORTS[0]) {
      console.log(`tokens over ${kind}: no ${TRANSPORTS[0]} run in this process to compare with`);
    }
    figure(kind === "stdio" ? "tokens" : `tokens_${kind}`, {
      cases: cases.length,
      tools: TOOLS.length,
      refused,
      valid_after: true,
      ...(compared ? { same_answers_as: compared } : {}),
    });
  } finally {
    await server.destroy();
    await cleanup();
  }
}

for (const kind of TRANSPORTS) {
  Deno.test(
    `token attacks on every tool over ${kind} are refused with the auth error; a valid token still works`,
    () => attacksAsArgument(kind),
  );
}

/**
 * The largest request head Deno's HTTP/1.1 parser takes (seen with Deno 2.9.6: a head of
 * about 64 KiB); a larger one is refused before the server's handler sees it.
 */
const HEAD_LIMIT = 64 * 1024;

/** The `Authorization` value an attack makes, as text. */
function bearerValue(token: unknown): string {
  if (token === undefined) return "Bearer";
  return `Bearer ${typeof token === "string" ? token : JSON.stringify(token)}`;
}

/**
 * Whether `fetch` can send a header value: a ByteString without NUL, CR or LF (Headers
 * also trims the value's outer whitespace, as a server's parser does).
 */
function fetchable(value: string): boolean {
  // deno-lint-ignore no-control-regex
  return !/[^\u0001-\u00ff]|[\r\n]/.test(value);
}

Deno.test("bearer token attacks over HTTP get 401 and store nothing; a valid bearer stands for the token argument", async () => {
  const { dir, cleanup } = await tempDir();
  const db = `${dir}/s.kv`;
  const logFile = `${dir}/server.log`;
  const server = await HttpWire.start(serverEnv(dir));
  const good = await mintToken();
  const [h, , sig] = good.split(".") as [string, string, string];
  const cases: [string, unknown][] = [
    ...await attacks(),
    // Only a header can carry these: raw UTF-8 bytes, and a head just inside the parser's.
    ["UTF-8 bytes", "é😀.中.x"],
    ["60 KB token", `${h}.${"A".repeat(60_000)}.${sig}`],
  ];
  const bodies: string[] = [];
  const byRuntime: string[] = [];
  let unauthorized = 0;
  try {
    for (const [name, token] of cases) {
      const value = bearerValue(token);
      for (const tool of TOOLS) {
        // The argument holds a valid token: the header's verdict must stand regardless.
        const body = serialise({
          jsonrpc: "2.0",
          id: 1,
          method: "tools/call",
          params: { name: tool, arguments: { ...argsFor(tool), token: good } },
        });
        const bodyBytes = new TextEncoder().encode(body);
        const what = `bearer "${name}" on ${tool}`;
        const headBytes = new TextEncoder().encode(value).length + 300;
        // deno-lint-ignore no-control-regex
        const parserRefuses = headBytes > HEAD_LIMIT || /[\u0000\r\n]/.test(value);
        let outcome: { status: number; challenge: string | null; text: string } | null = null;
        try {
          if (fetchable(value)) {
            const posted = await server.post(body, { authorization: value });
            outcome = {
              status: posted.status,
              text: posted.text,
              challenge: posted.headers.get("www-authenticate"),
            };
          } else {
            // Bytes no Headers object takes (UTF-8, NUL): straight onto a socket.
            const head = postHead(server.server.port, bodyBytes.length).replace(
              /\r\n\r\n$/,
              "\r\nAuthorization: ",
            );
            const response = await exchange(
              server.server.port,
              bytesOf(head, value, "\r\n\r\n", bodyBytes),
            );
            if (response) {
              outcome = {
                status: response.status,
                text: response.body,
                challenge: response.headers["www-authenticate"] ?? null,
              };
            }
          }
        } catch (error) {
          // Only a head the parser refuses may see its connection closed mid-send.
          if (!parserRefuses) throw new Error(`${what}: no HTTP response: ${error}`);
        }
        if (parserRefuses) {
          // Deno's HTTP parser refuses a head over 64 KiB, or with a NUL, itself, before the
          // server's handler sees the request: 400 with an empty body, or (the client still
          // writing) the connection reset. No 401 then; still no answer, nothing stored.
          if (outcome) {
            assert.equal(outcome.status, 400, `${what}: ${outcome.status} ${outcome.text}`);
            assert.equal(outcome.text, "", what);
          }
          byRuntime.push(name);
          continue;
        }
        assert.ok(outcome, `${what}: no HTTP response`);
        const { status, challenge, text } = outcome;
        bodies.push(text);
        assert.equal(status, 401, `${what}: ${status} ${text.slice(0, 300)}`);
        assert.equal(
          challenge,
          'Bearer realm="session-buddy", error="invalid_token"',
          `${what}: WWW-Authenticate`,
        );
        const answer = JSON.parse(text);
        assert.equal(answer.id, null, `${what}: a 401 names no request id (id: null)`);
        assert.ok(String(answer.error?.message).startsWith(AUTH), `${what}: ${text}`);
        unauthorized++;
      }
    }
    assert.equal((await dumpAll(db)).includes('["session"'), false, "no attack stored anything");

    // Without the header the argument counts, exactly as over stdio.
    const plain = await server.call("track_session_start", {
      ...argsFor("track_session_start"),
      token: "garbage-not-a-jwt",
    });
    assert.equal(plain.status, "error");
    assert.ok(String(plain.error).startsWith(AUTH), JSON.stringify(plain));

    // A valid bearer works after all of that and stands for every tool's token argument,
    // garbage, expired or missing.
    const bearer = await mintToken({ user_id: "bearer-user" });
    const expired = await mintToken({
      exp: Math.floor(Date.now() / 1000) - 3600,
      iat: Math.floor(Date.now() / 1000) - 7200,
    });
    const headers = { authorization: `Bearer ${bearer}` };
    const ids: string[] = [];
    for (const token of ["garbage-not-a-jwt", expired, undefined, 12345]) {
      const args = startArgs({ token });
      if (token === undefined) delete args.token;
      const msg = await server.requestWith(
        "tools/call",
        { name: "track_session_start", arguments: args },
        headers,
      );
      assert.ok(msg.result, JSON.stringify(msg));
      const result = (msg.result as { structuredContent: Record<string, unknown> })
        .structuredContent;
      assert.equal(result.status, "tracked", JSON.stringify(result));
      ids.push(String(result.session_id));
    }
    for (const id of ids) {
      const msg = await server.requestWith("tools/call", {
        name: "get_session",
        arguments: { session_id: id, token: "garbage-not-a-jwt" },
      }, headers);
      const found = (msg.result as { structuredContent: Record<string, unknown> })
        .structuredContent;
      assert.equal(found.status, "found", JSON.stringify(found));
      assert.equal((found.session as Record<string, unknown>).tracked_by, "bearer-user");
    }
    // The failures were counted (SPEC 8.2), by a scrape that a valid bearer may make.
    const metrics = await fetch(`${server.server.origin}/metrics`, { headers });
    const exposition = await metrics.text();
    assert.equal(metrics.status, 200, exposition.slice(0, 300));
    const failures = Number(/^session_buddy_auth_failures_total (\d+)/m.exec(exposition)?.[1]);
    assert.ok(failures >= unauthorized, `auth failures counted: ${failures} < ${unauthorized}`);

    await server.assertServing();
    assert.deepEqual(server.violations, []);
    assert.equal(await server.close().then((s) => s.code), 0, server.stderr().slice(-2000));
    for (const id of ids) {
      const record = await readRecord(db, id);
      assert.equal(record?.tracked_by, "bearer-user", `stored ${id} is the bearer's`);
      assert.equal(record?.status, "active");
    }
    assert.equal((await sessionIdsIn(db)).length, ids.length, "only the bearer's starts stored");

    const tokens = cases.map(([, t]) => t).filter((t): t is string => typeof t === "string");
    const leaks = findSecrets({
      stderr: server.stderr(),
      stdout: server.otherOutput(),
      log: await Deno.readTextFile(logFile),
      bodies: bodies.join("\n"),
      store: await dumpAll(db),
    }, [SECRET, good, bearer, expired, ...tokens]);
    assert.deepEqual(leaks, []);
    figure("tokens_bearer", {
      cases: cases.length,
      tools: TOOLS.length,
      http_401: unauthorized,
      refused_by_deno_parser: byRuntime.length,
      refused_by_deno_parser_cases: byRuntime.filter((n, i) => byRuntime.indexOf(n) === i),
      valid_bearer_after: ids.length,
    });
  } finally {
    await server.destroy();
    await cleanup();
  }
});

async function sessionIdsIn(db: string): Promise<string[]> {
  const kv = await Deno.openKv(db);
  try {
    const ids: string[] = [];
    for await (const e of kv.list({ prefix: ["session"] })) ids.push(String(e.key[1]));
    return ids;
  } finally {
    kv.close();
  }
}
