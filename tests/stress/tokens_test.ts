/**
 * Token attacks against every tool (SPEC 4): each is refused with the contract's auth
 * error, nothing is stored, a valid token still works afterwards, and neither the secret
 * nor any token shows up in stderr, the log file, an error text or the store.
 */
import assert from "node:assert/strict";
import { mintToken, SECRET, startArgs, tempDir } from "../helpers/server.ts";
import { AUTH, TOOLS } from "./gen.ts";
import { dumpAll, figure, findSecrets, modeOf, RawServer } from "./raw.ts";

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

Deno.test("token attacks on every tool are refused with the auth error; a valid token still works", async () => {
  const { dir, cleanup } = await tempDir();
  const db = `${dir}/s.kv`;
  const logFile = `${dir}/server.log`;
  const server = await RawServer.start({
    env: {
      SESSION_BUDDY_DB: db,
      HOME: dir,
      SESSION_BUDDY_SECRET: SECRET,
      SESSION_BUDDY_LOG_FILE: logFile,
    },
  });
  const cases = await attacks();
  const errors: string[] = [];
  let refused = 0;
  try {
    for (const [name, token] of cases) {
      for (const tool of TOOLS) {
        const args = argsFor(tool);
        if (token !== undefined) args.token = token;
        else delete args.token;
        const result = await server.call(tool, args);
        const what = `${name} on ${tool}: ${JSON.stringify(result).slice(0, 300)}`;
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
    assert.equal(await server.close().then((s) => s.code), 0);

    const tokens = cases.map(([, t]) => t).filter((t): t is string => typeof t === "string");
    const leaks = findSecrets({
      stderr: server.stderr(),
      log: await Deno.readTextFile(logFile),
      errors: errors.join("\n"),
      store: await dumpAll(db),
    }, [SECRET, good, lenient, ...tokens]);
    assert.deepEqual(leaks, []);
    assert.equal(modeOf(db), 0o600);
    assert.equal(modeOf(logFile), 0o600);
    assert.deepEqual(server.violations, []);
    figure("tokens", { cases: cases.length, tools: TOOLS.length, refused, valid_after: true });
  } finally {
    await server.destroy();
    await cleanup();
  }
});
