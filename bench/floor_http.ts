/**
 * A baseline for `deno task bench:http`: `Deno.serve` with the MCP SDK's stateless
 * `WebStandardStreamableHTTPServerTransport` (JSON answers; a new transport and a new
 * low-level `Server` per request, as the SDK's stateless examples do it), the tools of
 * bench/floor_tools.ts (FLOOR-HTTP: `noop`, FLOOR-HTTP-KV: `kv`), and a `GET /healthz`
 * answering 200 JSON once the floor's store answers. SIGTERM or SIGINT stops it. (The
 * benchmark starts it with the runtime flags of `deno task start`.)
 *
 *     deno run -q -P=server --v8-flags=--max-semi-space-size=2 --config deno.json \
 *       --import-map=tests/imports.json --lock=tests/deno.lock bench/floor_http.ts \
 *       noop|kv STORE-PATH PORT
 */
// The package's "./*" export maps `X.js` to `X.js.d.ts`, which does not exist; the
// extension-less subpath maps to the right `.d.ts` (types only; the code stays `.js`).
// @ts-types="npm:/@modelcontextprotocol/sdk@1.32.2/server/webStandardStreamableHttp"
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { floorOf, mcpServer } from "./floor_tools.ts";

const USAGE = "floor_http.ts noop|kv STORE-PATH PORT";
const port = Number(Deno.args[2]);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`usage: ${USAGE}`);
  Deno.exit(2);
}
const floor = await floorOf(USAGE);
const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const http = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (request) => {
  const { pathname } = new URL(request.url);
  if (pathname === "/healthz" && request.method === "GET") {
    try {
      await floor.health?.();
      return json(200, { status: "ok", version: "1.0.0" });
    } catch (error) {
      return json(503, { status: "unavailable", error: String(error) });
    }
  }
  if (pathname !== "/mcp") return new Response("Not Found\n", { status: 404 });
  if (request.method !== "POST") {
    return new Response(null, { status: 405, headers: { allow: "POST" } });
  }
  // Stateless: a transport may serve one request only, and a Server one transport.
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
  });
  const server = mcpServer(floor);
  await server.connect(transport);
  try {
    return await transport.handleRequest(request);
  } finally {
    void server.close();
  }
});
const stop = async () => {
  // Idle keep-alive connections are closed by the shutdown; a stuck request is not waited for.
  await Promise.race([http.shutdown(), new Promise((r) => setTimeout(r, 5000))]);
  await floor.close?.();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
