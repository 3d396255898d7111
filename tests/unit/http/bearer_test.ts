import assert from "node:assert/strict";
import type { AuthOutcome } from "../../../src/auth/verifier.ts";
import {
  bearer,
  type BearerOptions,
  bearerToken,
  refuseAsRpc,
  refuseAsText,
  UNAUTHORIZED,
} from "../../../src/http/bearer.ts";
import { collectLog, fakeNext, request } from "../../helpers/steps.ts";

const INVALID = 'Bearer realm="session-buddy", error="invalid_token"';

/** A bearer step over a fake verifier that accepts the token "good" only. */
function setup(options: Partial<BearerOptions> = {}) {
  const tokens: unknown[] = [];
  let failures = 0;
  const log = collectLog();
  const step = bearer({
    verify: (token): Promise<AuthOutcome> => {
      tokens.push(token);
      return Promise.resolve(
        token === "good"
          ? { ok: true, trackedBy: "alice" }
          : { ok: false, reason: "token expired" },
      );
    },
    log,
    metrics: { authFailure: () => failures++ },
    refuse: refuseAsRpc,
    ...options,
  });
  return { step, tokens, log, failures: () => failures };
}

function withAuth(authorization?: string) {
  return { request: request("/mcp", { headers: authorization ? { authorization } : {} }) };
}

Deno.test("bearer passes a good token's outcome on", async () => {
  const { step, tokens, failures } = setup();
  const next = fakeNext();
  assert.equal((await step(withAuth("bearer  good "), next)).status, 200);
  assert.deepEqual(tokens, ["good"]);
  assert.deepEqual(next.seen[0]?.auth, { ok: true, trackedBy: "alice" });
  assert.equal(failures(), 0);
});

Deno.test("bearer answers a bad token 401 with the challenge, logs and counts it", async () => {
  const { step, log, failures } = setup();
  const next = fakeNext();
  const response = await step(withAuth("Bearer bad"), next);
  assert.equal(response.status, 401);
  assert.equal(response.headers.get("www-authenticate"), INVALID);
  const body = await response.json();
  assert.equal(body.id, null);
  assert.equal(body.error.code, UNAUTHORIZED);
  assert.equal(body.error.message, "❌ Authentication failed: token expired");
  assert.deepEqual(log.lines, ["WARNING Authentication failed on an HTTP request: token expired"]);
  assert.equal(failures(), 1);
  assert.equal(next.seen.length, 0);
});

Deno.test("bearer refuses another scheme without asking the verifier, in the route's shape", async () => {
  const { step, tokens, failures } = setup({ refuse: refuseAsText });
  const response = await step(withAuth("Basic dXNlcjpwYXNz"), fakeNext());
  assert.equal(response.status, 401);
  assert.equal(response.headers.get("www-authenticate"), INVALID);
  assert.equal(
    await response.text(),
    "❌ Authentication failed: Authorization must be 'Bearer <token>'\n",
  );
  assert.deepEqual(tokens, []);
  assert.equal(failures(), 1);
});

Deno.test("bearer without a header: passes unauthenticated, or answers `missing` and counts it", async () => {
  const open = setup();
  const next = fakeNext();
  await open.step(withAuth(), next);
  assert.equal(next.seen.length, 1);
  assert.equal("auth" in next.seen[0]!, false);
  assert.equal(open.failures(), 0);

  const closed = setup({ missing: () => new Response("say who", { status: 401 }) });
  const response = await closed.step(withAuth(), next);
  assert.equal(await response.text(), "say who");
  assert.equal(closed.failures(), 1);
  assert.deepEqual(closed.log.lines, []);
  assert.equal(next.seen.length, 1);
});

Deno.test("bearerToken reads the Bearer scheme in any case and nothing else", () => {
  assert.equal(bearerToken("Bearer abc"), "abc");
  assert.equal(bearerToken("BEARER abc "), "abc");
  assert.equal(bearerToken("Bearer a b"), null);
  assert.equal(bearerToken("Token abc"), null);
  assert.equal(bearerToken("Bearer "), null);
});
