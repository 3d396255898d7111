/**
 * FLOOR baseline for `deno task bench`: a bare MCP SDK stdio server with one no-op tool.
 * It is what any MCP server on this runtime and SDK costs before doing any work.
 *
 *     deno run -q -P=server --v8-flags=--max-semi-space-size=2 --config deno.json \
 *       --import-map=tests/imports.json --lock=tests/deno.lock bench/floor.ts
 *
 * (`deno task bench` starts it with the runtime flags of `deno task start`.)
 */
import { Server } from "@modelcontextprotocol/sdk/server";
// @ts-types="npm:/@modelcontextprotocol/sdk@1.32.2/server/stdio"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
// @ts-types="npm:/@modelcontextprotocol/sdk@1.32.2/types"
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const server = new Server({ name: "bench-floor", version: "1.0.0" }, {
  capabilities: { tools: {} },
});
server.setRequestHandler(ListToolsRequestSchema, () => ({
  tools: [{
    name: "noop",
    description: "Does nothing and answers at once.",
    inputSchema: { type: "object", additionalProperties: true },
  }],
}));
server.setRequestHandler(CallToolRequestSchema, (request) => {
  const args = (request.params.arguments ?? {}) as Record<string, unknown>;
  const result = { session_id: String(args.event_id ?? args.session_id ?? ""), status: "ok" };
  return { content: [{ type: "text", text: JSON.stringify(result) }], structuredContent: result };
});
await server.connect(new StdioServerTransport());
