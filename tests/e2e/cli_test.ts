/** SPEC sections 2 and 6: the command line, its exit statuses and its one-line errors. */
import assert from "node:assert/strict";
import { decodeJwt, jwtVerify } from "jose";
import {
  CONFIG,
  initializeRequest,
  runProgram,
  SECRET,
  startArgs,
  tempDir,
} from "../helpers/server.ts";

const VERSION: string = JSON.parse(await Deno.readTextFile(CONFIG)).version;
const ENV_VARS = [
  "SESSION_BUDDY_SECRET",
  "SESSION_BUDDY_DB",
  "SESSION_BUDDY_LOG_FILE",
  "SESSION_BUDDY_LOG_LEVEL",
  "SESSION_BUDDY_STALE_AFTER",
  "SESSION_BUDDY_HTTP",
  "SESSION_BUDDY_TLS_CERT",
  "SESSION_BUDDY_TLS_KEY",
  "SESSION_BUDDY_ALLOWED_ORIGINS",
  "SESSION_BUDDY_DB_PASSWORD",
  "SESSION_BUDDY_DB_CA",
];

/** The non-empty stderr lines (the runtime runs with --quiet: every one is the program's). */
function ownLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line.trim() !== "");
}

/** Asserts a usage or runtime failure: the status, one line, no stack trace, no stdout. */
function assertOneLineFailure(
  out: { code: number; stdout: string; stderr: string },
  code: number,
): string {
  assert.equal(out.code, code, `exit status; stderr: ${out.stderr}`);
  const lines = ownLines(out.stderr);
  assert.equal(lines.length, 1, `exactly one line on stderr, got: ${JSON.stringify(lines)}`);
  assert.ok(!out.stderr.includes("    at "), `no stack trace: ${out.stderr}`);
  assert.equal(out.stdout, "", "stdout is for MCP messages only");
  return lines[0]!;
}

const initialize = initializeRequest("cli-test");
const initialized = { jsonrpc: "2.0", method: "notifications/initialized" };

function ndjson(...messages: unknown[]): string {
  return messages.map((m) => JSON.stringify(m) + "\n").join("");
}

function parseLines(stdout: string): Record<string, unknown>[] {
  return stdout.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

Deno.test("--help: exit 0 on stdout, names every variable and the default store", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const out = await runProgram(["--help"], { HOME: dir });
    assert.equal(out.code, 0, out.stderr);
    for (const name of ENV_VARS) assert.ok(out.stdout.includes(name), `help names ${name}`);
    if (Deno.build.os === "linux") {
      assert.ok(
        out.stdout.includes(`${dir}/.local/share/session-buddy/sessions.kv`),
        `help prints the default store under ${dir}:\n${out.stdout}`,
      );
    } else if (Deno.build.os === "darwin") {
      assert.ok(out.stdout.includes(`${dir}/Library/Application Support/session-buddy/`));
    }
    assert.deepEqual(ownLines(out.stderr), []);
  } finally {
    await cleanup();
  }
});

Deno.test("--version: exit 0 prints the version from deno.json", async () => {
  const out = await runProgram(["--version"]);
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout.trim(), `session-buddy ${VERSION}`);
});

Deno.test("an unknown flag: exit 2, one line, no stack trace, empty stdout", async () => {
  const line = assertOneLineFailure(await runProgram(["--bogus"]), 2);
  assert.match(line, /--bogus/);
});

Deno.test("an unknown command: exit 2, one line", async () => {
  const line = assertOneLineFailure(await runProgram(["frobnicate"]), 2);
  assert.match(line, /frobnicate/);
});

Deno.test("a secret shorter than 32 characters: exit 2, one line without the secret", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const secret = "short-secret-abc";
    const out = await runProgram([], {
      HOME: dir,
      SESSION_BUDDY_DB: `${dir}/s.kv`,
      SESSION_BUDDY_SECRET: secret,
    });
    const line = assertOneLineFailure(out, 2);
    assert.match(line, /SESSION_BUDDY_SECRET/);
    assert.ok(!out.stderr.includes(secret), "the secret is never printed");
  } finally {
    await cleanup();
  }
});

Deno.test("a bad --log-level: exit 2, one line", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const out = await runProgram(["--log-level", "loud", "--db", `${dir}/s.kv`], { HOME: dir });
    assert.match(assertOneLineFailure(out, 2), /loud/);
  } finally {
    await cleanup();
  }
});

Deno.test("a bad SESSION_BUDDY_LOG_LEVEL: exit 2, one line", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const out = await runProgram([], {
      HOME: dir,
      SESSION_BUDDY_DB: `${dir}/s.kv`,
      SESSION_BUDDY_LOG_LEVEL: "verbose",
    });
    assertOneLineFailure(out, 2);
  } finally {
    await cleanup();
  }
});

Deno.test("a bad --stale-after: exit 2, one line", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const out = await runProgram(["--stale-after", "12x", "--db", `${dir}/s.kv`], { HOME: dir });
    assert.match(assertOneLineFailure(out, 2), /12x/);
  } finally {
    await cleanup();
  }
});

Deno.test("a store whose folder does not exist: exit 1, one line naming the store", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const out = await runProgram(["--db", "/nonexistent/dir/s.kv"], { HOME: dir });
    const line = assertOneLineFailure(out, 1);
    assert.ok(line.includes("/nonexistent/dir/s.kv"), line);
  } finally {
    await cleanup();
  }
});

Deno.test("no SESSION_BUDDY_DB: the server creates the default store under HOME", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const out = await runProgram([], { HOME: dir }, ndjson(initialize));
    assert.equal(out.code, 0, out.stderr);
    const replies = parseLines(out.stdout);
    assert.equal(replies.length, 1, out.stdout);
    assert.equal(replies[0]!.id, 1);
    assert.ok(replies[0]!.result, JSON.stringify(replies[0]));
    const expected = Deno.build.os === "darwin"
      ? `${dir}/Library/Application Support/session-buddy/sessions.kv`
      : `${dir}/.local/share/session-buddy/sessions.kv`;
    const info = await Deno.stat(expected);
    assert.ok(info.isFile, `${expected} is a file`);
  } finally {
    await cleanup();
  }
});

Deno.test("stdin EOF: requests already sent are answered, then exit 0", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const call = {
      jsonrpc: "2.0",
      id: 2,
      method: "tools/call",
      params: {
        name: "track_session_start",
        arguments: startArgs({ timestamp: "2026-02-06T12:34:56.789Z" }),
      },
    };
    const out = await runProgram(
      ["--db", `${dir}/s.kv`],
      { HOME: dir },
      ndjson(initialize, initialized, call),
    );
    assert.equal(out.code, 0, out.stderr);
    const replies = parseLines(out.stdout);
    assert.deepEqual(replies.map((r) => r.id), [1, 2], out.stdout);
    const result = replies[1]!.result as Record<string, unknown>;
    assert.deepEqual(result.structuredContent, {
      session_id: "mahavishnu-20260206-123456",
      status: "tracked",
      error: null,
    });
    assert.ok(!out.stderr.includes("    at "), out.stderr);
  } finally {
    await cleanup();
  }
});

Deno.test("secret: prints a new random 32-byte base64url secret", async () => {
  const a = await runProgram(["secret"]);
  const b = await runProgram(["secret"]);
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stdout.trim(), /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a.stdout, b.stdout);
});

Deno.test("token: prints a JWT with the seed's claims that the secret verifies", async () => {
  const out = await runProgram(["token"], { SESSION_BUDDY_SECRET: SECRET });
  assert.equal(out.code, 0, out.stderr);
  const { payload, protectedHeader } = await jwtVerify(
    out.stdout.trim(),
    new TextEncoder().encode(SECRET),
    { issuer: "session-buddy", algorithms: ["HS256"] },
  );
  assert.equal(protectedHeader.alg, "HS256");
  assert.equal(payload.user_id, "admin-shell");
  assert.equal(payload.type, "access");
  const ttl = (payload.exp as number) - (payload.iat as number);
  assert.equal(ttl, 24 * 3600);
  const custom = await runProgram(["token", "--user", "ops", "--ttl", "90m"], {
    SESSION_BUDDY_SECRET: SECRET,
  });
  assert.equal(custom.code, 0, custom.stderr);
  const claims = decodeJwt(custom.stdout.trim());
  assert.equal(claims.user_id, "ops");
  assert.equal((claims.exp as number) - (claims.iat as number), 90 * 60);
});

Deno.test("token without SESSION_BUDDY_SECRET: exit 2, one line", async () => {
  assertOneLineFailure(await runProgram(["token"]), 2);
});
