/** SPEC 4: HS256 JWT authentication of the tracking tools, once per store ("[kv] ...", "[postgres] ..."). */
import assert from "node:assert/strict";
import { endArgs, mintToken, SECRET, startArgs } from "../helpers/server.ts";
import { poll, storeTest, withServer } from "../helpers/contract.ts";

const AUTH = "❌ Authentication failed: ";
const REQUIRED = `${AUTH}Token required (SESSION_BUDDY_SECRET is set)`;

function b64url(text: string): string {
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    user_id: "admin-shell",
    exp: now + 3600,
    iat: now,
    type: "access",
    iss: "session-buddy",
    ...over,
  };
}

/** A token with `alg: none` and an empty signature, built by hand. */
function unsignedToken(): string {
  return `${b64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${
    b64url(JSON.stringify(claims()))
  }.`;
}

/** Changes one character of the payload part, keeping the signature. */
function tamperChar(token: string): string {
  const [h, p, s] = token.split(".") as [string, string, string];
  const i = Math.floor(p.length / 2);
  const swapped = p[i] === "A" ? "B" : "A";
  return `${h}.${p.slice(0, i)}${swapped}${p.slice(i + 1)}.${s}`;
}

/** Replaces the payload with other valid claims, keeping the signature. */
function tamperClaims(token: string): string {
  const [h, , s] = token.split(".") as [string, string, string];
  return `${h}.${b64url(JSON.stringify(claims({ user_id: "root" })))}.${s}`;
}

const SECRET_ENV = { SESSION_BUDDY_SECRET: SECRET };

storeTest(
  "with a secret set, a seed-style token is accepted and recorded as tracked_by user_id",
  async (kind) => {
    await withServer(async ({ server, store }) => {
      const token = await mintToken();
      const start = await server.call(
        "track_session_start",
        startArgs({ timestamp: "2026-02-06T12:34:56.789Z", token }),
      );
      assert.deepEqual(start, {
        session_id: "mahavishnu-20260206-123456",
        status: "tracked",
        error: null,
      });
      assert.equal(
        (await store.readRecord("mahavishnu-20260206-123456"))?.tracked_by,
        "admin-shell",
      );
      const end = await server.call(
        "track_session_end",
        endArgs("mahavishnu-20260206-123456", { token }),
      );
      assert.deepEqual(end, {
        session_id: "mahavishnu-20260206-123456",
        status: "ended",
        error: null,
      });
    }, { store: kind, env: SECRET_ENV });
  },
);

storeTest("a token with only sub is recorded as tracked_by sub", async (kind) => {
  await withServer(async ({ server, store }) => {
    const token = await mintToken({ user_id: undefined, sub: "alice" });
    const start = await server.call(
      "track_session_start",
      startArgs({ timestamp: "2026-02-06T12:34:56Z", token }),
    );
    assert.equal(start.status, "tracked", JSON.stringify(start));
    assert.equal((await store.readRecord(String(start.session_id)))?.tracked_by, "alice");
  }, { store: kind, env: SECRET_ENV });
});

storeTest(
  "every bad token gets the authentication error, stores nothing, and leaks nothing",
  async (kind, t) => {
    await withServer(async ({ server, store }) => {
      const now = Math.floor(Date.now() / 1000);
      const good = await mintToken();
      const used: string[] = [good];
      const errors: string[] = [];
      const baseline = await store.storedText();

      await t.step("missing token (absent, null, empty) reads 'Token required'", async () => {
        for (const variant of ["absent", null, ""]) {
          const args = startArgs();
          if (variant === "absent") delete args.token;
          else args.token = variant;
          const result = await server.call("track_session_start", args);
          assert.deepEqual(
            result,
            { session_id: null, status: "error", error: REQUIRED },
            String(variant),
          );
          const end = endArgs("mahavishnu-20260206-123456");
          if (variant === "absent") delete end.token;
          else end.token = variant;
          assert.deepEqual(await server.call("track_session_end", end), {
            session_id: null,
            status: "error",
            error: REQUIRED,
          }, `end, ${variant}`);
        }
      });

      const bad: [string, () => Promise<unknown> | unknown][] = [
        ["expired an hour ago", () => mintToken({ exp: now - 3600 })],
        [
          "signed with another secret",
          () => mintToken({}, "another-secret-0123456789-abcdefghijklmnop"),
        ],
        ["alg none with empty signature", () => unsignedToken()],
        ["HS512", () => mintToken({}, SECRET, "HS512")],
        ["HS384", () => mintToken({}, SECRET, "HS384")],
        ["wrong iss", () => mintToken({ iss: "someone-else" })],
        ["missing iss", () => mintToken({ iss: undefined })],
        ["missing exp", () => mintToken({ exp: undefined })],
        ["type refresh", () => mintToken({ type: "refresh" })],
        ["iat an hour in the future", () => mintToken({ iat: now + 3600 })],
        ["nbf an hour in the future", () => mintToken({ nbf: now + 3600 })],
        ["payload with one character changed", () => tamperChar(good)],
        ["payload swapped for other claims", () => tamperClaims(good)],
        ["truncated signature", () => good.slice(0, -6)],
        ["truncated to two parts", () => good.split(".").slice(0, 2).join(".")],
        ["garbage", () => "not-a-jwt"],
        ["number 42", () => 42],
        ["object", () => ({ token: good })],
      ];
      for (const [name, make] of bad) {
        await t.step(`${name} is refused`, async () => {
          const token = await make();
          if (typeof token === "string") used.push(token);
          const start = await server.call("track_session_start", startArgs({ token }));
          assert.equal(start.status, "error", `start: ${JSON.stringify(start)}`);
          assert.equal(start.session_id, null);
          assert.ok(String(start.error).startsWith(AUTH), String(start.error));
          assert.notEqual(start.error, AUTH, "a reason follows the prefix");
          const end = await server.call(
            "track_session_end",
            endArgs("mahavishnu-20260206-123456", { token }),
          );
          assert.equal(end.status, "error", `end: ${JSON.stringify(end)}`);
          assert.equal(end.session_id, null);
          assert.ok(String(end.error).startsWith(AUTH), String(end.error));
          errors.push(String(start.error), String(end.error));
        });
      }

      await t.step("nothing was stored by refused calls", async () => {
        assert.deepEqual(await store.storedText(), baseline);
      });

      await t.step("a token expired within the 30 s leeway is accepted", async () => {
        const token = await mintToken({ exp: now - 10 });
        used.push(token);
        const result = await server.call("track_session_start", startArgs({ token }));
        assert.equal(result.status, "tracked", JSON.stringify(result));
      });

      await t.step(
        "the secret and tokens appear in no log line, error or stored value",
        async () => {
          // Give the server a moment to flush any line it would write.
          await poll(() => false, 200);
          const stderr = server.stderr();
          assert.ok(!stderr.includes(SECRET), "secret in stderr");
          const stored = (await store.storedText()).join("\n");
          assert.ok(!stored.includes(SECRET), "secret in the store");
          for (const token of used) {
            const parts = token.split(".").filter((p) => p.length >= 16);
            for (const piece of [token, ...parts.slice(2)]) {
              assert.ok(!stderr.includes(piece), `token in stderr: ${piece}`);
              assert.ok(!stored.includes(piece), `token in the store: ${piece}`);
              for (const error of errors) {
                assert.ok(!error.includes(piece), `token in error ${error}`);
              }
            }
          }
        },
      );
    }, { store: kind, env: SECRET_ENV });
  },
);

storeTest(
  "an end with a bad token leaves the session active and returns session_id null",
  async (kind) => {
    await withServer(async ({ server, store }) => {
      const token = await mintToken();
      const start = await server.call("track_session_start", startArgs({ token }));
      const id = String(start.session_id);
      assert.equal(start.status, "tracked");
      for (const bad of [null, await mintToken({ exp: Math.floor(Date.now() / 1000) - 3600 })]) {
        const end = await server.call("track_session_end", endArgs(id, { token: bad }));
        assert.equal(end.session_id, null, JSON.stringify(end));
        assert.equal(end.status, "error");
        assert.ok(String(end.error).startsWith(AUTH));
      }
      assert.equal((await store.readRecord(id))?.status, "active");
    }, { store: kind, env: SECRET_ENV });
  },
);

storeTest("authentication is checked before validation", async (kind) => {
  await withServer(async ({ server, store }) => {
    const bad = await mintToken({}, "another-secret-0123456789-abcdefghijklmnop");
    const start = await server.call(
      "track_session_start",
      startArgs({ event_id: "abc", pid: "x", token: bad }),
    );
    assert.equal(start.session_id, null);
    assert.equal(start.status, "error");
    assert.ok(String(start.error).startsWith(AUTH), String(start.error));
    const missing = startArgs({ event_id: "abc" });
    delete missing.token;
    assert.deepEqual(await server.call("track_session_start", missing), {
      session_id: null,
      status: "error",
      error: REQUIRED,
    });
    const end = await server.call(
      "track_session_end",
      { session_id: "s".repeat(201), timestamp: "bad", token: bad },
    );
    assert.equal(end.session_id, null);
    assert.ok(String(end.error).startsWith(AUTH), String(end.error));
    assert.deepEqual(await store.sessionIds(), []);
  }, { store: kind, env: SECRET_ENV });
});

storeTest("without a secret any token value is accepted", async (kind, t) => {
  await withServer(async ({ server, store }) => {
    const marker = "garbage-token-7c1e9a2b5d";
    for (const token of [null, "garbage", marker, 42, "absent"]) {
      await t.step(`token ${JSON.stringify(token)}`, async () => {
        const args = startArgs({ token });
        if (token === "absent") delete args.token;
        const result = await server.call("track_session_start", args);
        assert.equal(result.status, "tracked", `${token}: ${JSON.stringify(result)}`);
        const end = endArgs(String(result.session_id), { token });
        if (token === "absent") delete end.token;
        const ended = await server.call("track_session_end", end);
        assert.equal(ended.status, "ended", `${token}: ${JSON.stringify(ended)}`);
      });
    }
    await t.step("the token is neither logged nor stored", async () => {
      assert.ok(!server.stderr().includes(marker));
      for (const line of await store.storedText()) assert.ok(!line.includes(marker), line);
    });
  }, { store: kind });
});
