import assert from "node:assert/strict";
import { guard, type GuardOptions } from "../../../src/http/guard.ts";
import { fakeNext } from "../../helpers/steps.ts";

const LOOPBACK: GuardOptions = {
  loopback: true,
  allowedOrigins: ["https://console.example.com"],
  allowedHosts: ["collector.example.com"],
};
const PUBLIC: GuardOptions = { loopback: false, allowedOrigins: ["https://console.example.com"] };

function at(url: string, origin?: string): Request {
  return new Request(url, { headers: origin ? { origin } : {} });
}

async function answer(options: GuardOptions, request: Request) {
  const next = fakeNext();
  const response = await guard(options)({ request }, next);
  return { status: response.status, text: await response.text(), passed: next.seen.length };
}

const FORBIDDEN = "Forbidden: this host or origin may not call this server\n";

Deno.test("guard on loopback: loopback and listed hosts pass, others get 403 without next", async () => {
  for (const url of ["http://127.0.0.1:1/mcp", "http://localhost/mcp", "http://[::1]:9/mcp"]) {
    assert.equal((await answer(LOOPBACK, at(url))).passed, 1, url);
  }
  assert.equal((await answer(LOOPBACK, at("http://Collector.Example.com/mcp"))).passed, 1);
  assert.deepEqual(await answer(LOOPBACK, at("http://evil.example/mcp")), {
    status: 403,
    text: FORBIDDEN,
    passed: 0,
  });
});

Deno.test("guard: an origin passes when absent, listed, or loopback on a loopback listener", async () => {
  const url = "http://127.0.0.1:8080/mcp";
  assert.equal((await answer(LOOPBACK, at(url, "http://localhost:5173"))).passed, 1);
  assert.equal((await answer(LOOPBACK, at(url, "https://console.example.com"))).passed, 1);
  assert.equal((await answer(LOOPBACK, at(url, "https://evil.example"))).status, 403);
  assert.equal((await answer(PUBLIC, at("http://any.example/mcp"))).passed, 1);
  assert.equal(
    (await answer(PUBLIC, at("http://any.example/mcp", "http://localhost"))).status,
    403,
  );
  assert.equal((await answer(PUBLIC, at("http://x/mcp", "https://console.example.com"))).passed, 1);
});

Deno.test("guard: a URL that cannot be read is 403 on loopback, 400 elsewhere", async () => {
  // Deno builds a request's URL from its Host header; a Request object cannot carry a bad one.
  const request = { url: "http://not a host/mcp", headers: new Headers() } as Request;
  assert.deepEqual(await answer(LOOPBACK, request), { status: 403, text: FORBIDDEN, passed: 0 });
  assert.deepEqual(await answer(PUBLIC, request), {
    status: 400,
    text: "Bad Request: the Host header is not a host\n",
    passed: 0,
  });
});
