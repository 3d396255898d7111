/**
 * FLOOR-HTTP baseline for `deno task bench:http`: `Deno.serve` with the MCP SDK's
 * `WebStandardStreamableHTTPServerTransport` in stateless JSON mode (a new transport and
 * a new low-level `Server` per request, as the SDK's stateless examples do it) and one
 * no-op tool, plus `GET /healthz` answering 200 JSON. It is what an MCP server over HTTP
 * on this runtime and SDK costs before doing any work.
 *
 *     deno run -q -P=server --v8-flags=--max-semi-space-size=2 --config deno.json \
 *       --import-map=tests/imports.json --lock=tests/deno.lock bench/floor_http.ts <port>
 *
 * Listens on 127.0.0.1:<port>; SIGTERM or SIGINT stops it. (`deno task bench:http` starts
 * it with the runtime flags of `deno task start`.) bench/floor_http_kv.ts reuses
 * `serveFloor` with a tool that commits to Deno KV.
 */
import { Server } from "@modelcontextprotocol/sdk/server";
// The package's "./*" export maps `X.js` to `X.js.d.ts`, which does not exist, and a
// `@ts-types` naming the `.d.ts` file goes through the same map: both type-check as `any`.
// The extension-less subpath maps to the right `.d.ts` (types only; the code stays `.js`).
// @ts-types="npm:/@modelcontextprotocol/sdk@1.32.2/server/webStandardStreamableHttp"
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
// @ts-types="npm:/@modelcontextprotocol/sdk@1.32.2/types"
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";

/** What a floor server is made of. */
export interface Floor {
  name: string;
  /** Tool names published by `tools/list`; every call goes to `call`. */
  tools: string[];
  call(name: string, args: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** What `GET /healthz` checks before answering 200 (nothing, for the no-op floor). */
  health?: () => Promise<void>;
  /** Runs once the listener has stopped, before the process exits. */
  close?: () => void;
}

/** Parses the port argument, or exits with a usage line. */
export function portArgument(usage: string): number {
  const port = Number(Deno.args[0]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error(`usage: ${usage}`);
    Deno.exit(2);
  }
  return port;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** A low-level SDK `Server` with the floor's tools, for one request. */
function mcpServer(floor: Floor): Server {
  const server = new Server({ name: floor.name, version: "1.0.0" }, {
    capabilities: { tools: {} },
  });
  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: floor.tools.map((name) => ({
      name,
      description: "A baseline tool.",
      inputSchema: { type: "object", additionalProperties: true },
    })),
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const args = (request.params.arguments ?? {}) as Record<string, unknown>;
    let result: Record<string, unknown>;
    try {
      result = await floor.call(request.params.name, args);
    } catch (error) {
      result = { session_id: null, status: "error", error: String(error) };
    }
    return { content: [{ type: "text", text: JSON.stringify(result) }], structuredContent: result };
  });
  return server;
}

/** Serves `floor` on 127.0.0.1:`port` until SIGTERM or SIGINT. */
export function serveFloor(floor: Floor, port: number): void {
  const httpServer = Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: () => {},
  }, async (request) => {
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
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // Idle keep-alive connections are closed by the shutdown; a request stuck longer is not
    // waited for.
    await Promise.race([httpServer.shutdown(), new Promise((r) => setTimeout(r, 5000))]);
    floor.close?.();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}

if (import.meta.main) {
  serveFloor({
    name: "bench-floor-http",
    tools: ["noop"],
    call(_name, args) {
      const id = String(args.event_id ?? args.session_id ?? "");
      return Promise.resolve({ session_id: id, status: "ok" });
    },
  }, portArgument("floor_http.ts <port>"));
}
