import assert from "node:assert/strict";
import { SignJWT } from "jose";
import {
  acceptAll,
  type AuthOutcome,
  createVerifier,
  TOKEN_REQUIRED,
} from "../../../src/auth/verify.ts";
import { SECRET } from "../../helpers/server.ts";

const NOW = new Date("2026-02-06T12:00:00Z");
const NOW_S = NOW.getTime() / 1000;
const verify = createVerifier(SECRET);

async function sign(
  claims: Record<string, unknown> = {},
  options: { secret?: string; alg?: string } = {},
): Promise<string> {
  const payload: Record<string, unknown> = {
    user_id: "admin-shell",
    exp: NOW_S + 3600,
    iat: NOW_S,
    type: "access",
    iss: "session-buddy",
    ...claims,
  };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  return await new SignJWT(payload)
    .setProtectedHeader({ alg: options.alg ?? "HS256", typ: "JWT" })
    .sign(new TextEncoder().encode(options.secret ?? SECRET));
}

function b64url(value: unknown): string {
  return btoa(JSON.stringify(value)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

async function refused(token: unknown): Promise<string> {
  const outcome: AuthOutcome = await verify(token, NOW);
  assert.equal(outcome.ok, false, `token should be refused: ${JSON.stringify(outcome)}`);
  const reason = (outcome as { reason: string }).reason;
  assert.equal(typeof reason, "string");
  assert.ok(reason.length > 0);
  if (typeof token === "string" && token.length > 0) {
    assert.ok(!reason.includes(token), "the reason never quotes the token");
  }
  assert.ok(!reason.includes(SECRET), "the reason never quotes the secret");
  return reason;
}

Deno.test("verify: a token minted as the seed does is accepted; tracked_by is user_id", async () => {
  assert.deepEqual(await verify(await sign(), NOW), { ok: true, trackedBy: "admin-shell" });
});

Deno.test("verify: sub is used when user_id is absent", async () => {
  assert.deepEqual(await verify(await sign({ user_id: undefined, sub: "ops" }), NOW), {
    ok: true,
    trackedBy: "ops",
  });
  assert.deepEqual(await verify(await sign({ user_id: undefined }), NOW), {
    ok: true,
    trackedBy: null,
  });
});

Deno.test("verify: a missing token reads 'Token required'", async () => {
  for (const token of [undefined, null, ""]) {
    assert.deepEqual(await verify(token, NOW), { ok: false, reason: TOKEN_REQUIRED });
  }
  assert.equal(TOKEN_REQUIRED, "Token required (SESSION_BUDDY_SECRET is set)");
});

Deno.test("verify: a non-string token is refused", async () => {
  for (const token of [42, {}, [], true]) await refused(token);
});

Deno.test("verify: exp is required and honoured with 30 s leeway", async () => {
  assert.match(await refused(await sign({ exp: undefined })), /exp/);
  assert.match(await refused(await sign({ exp: NOW_S - 31, iat: NOW_S - 3600 })), /expired/i);
  assert.equal((await verify(await sign({ exp: NOW_S - 10, iat: NOW_S - 3600 }), NOW)).ok, true);
});

Deno.test("verify: iat in the future beyond the leeway is refused", async () => {
  assert.match(await refused(await sign({ iat: NOW_S + 60 })), /iat|future/i);
  assert.equal((await verify(await sign({ iat: NOW_S + 10 }), NOW)).ok, true);
  await refused(await sign({ iat: "yesterday" }));
  assert.equal((await verify(await sign({ iat: undefined }), NOW)).ok, true);
});

Deno.test("verify: nbf is honoured with leeway", async () => {
  assert.match(await refused(await sign({ nbf: NOW_S + 60 })), /nbf|not yet/i);
  assert.equal((await verify(await sign({ nbf: NOW_S + 10 }), NOW)).ok, true);
  assert.equal((await verify(await sign({ nbf: NOW_S - 10 }), NOW)).ok, true);
});

Deno.test("verify: iss must be session-buddy and is required", async () => {
  assert.match(await refused(await sign({ iss: "someone-else" })), /iss/);
  assert.match(await refused(await sign({ iss: undefined })), /iss/);
});

Deno.test("verify: type must be access when present", async () => {
  assert.match(await refused(await sign({ type: "refresh" })), /type|access/i);
  assert.equal((await verify(await sign({ type: undefined }), NOW)).ok, true);
});

Deno.test("verify: a wrong secret is refused", async () => {
  assert.match(
    await refused(await sign({}, { secret: "another-secret-0123456789-abcdefghijklmnop" })),
    /signature/i,
  );
});

Deno.test("verify: only HS256; HS384, HS512 and none are refused", async () => {
  await refused(await sign({}, { alg: "HS384" }));
  await refused(await sign({}, { alg: "HS512" }));
  const payload = {
    user_id: "admin-shell",
    exp: NOW_S + 3600,
    iat: NOW_S,
    type: "access",
    iss: "session-buddy",
  };
  await refused(`${b64url({ alg: "none", typ: "JWT" })}.${b64url(payload)}.`);
  // A none token with a signature copied from a valid HS256 token is still refused.
  const valid = await sign();
  await refused(`${b64url({ alg: "none", typ: "JWT" })}.${b64url(payload)}.${valid.split(".")[2]}`);
});

Deno.test("verify: malformed tokens are refused", async () => {
  for (const token of ["abc", "a.b.c", "a.b", "....", (await sign()).slice(0, -5)]) {
    await refused(token);
  }
});

Deno.test("verify: the same token is judged by the given clock", async () => {
  const token = await sign();
  assert.equal((await verify(token, NOW)).ok, true);
  assert.equal((await verify(token, new Date(NOW.getTime() + 2 * 3600_000))).ok, false);
});

Deno.test("acceptAll: any token value, null included, is accepted", async () => {
  for (const token of [null, undefined, "", "garbage", 42]) {
    assert.deepEqual(await acceptAll(token), { ok: true, trackedBy: null });
  }
});
