/**
 * The MCP server: tool registration and dispatch. `tools/list` and `tools/call` are
 * handled here rather than by the SDK's `McpServer`, whose own argument validation would
 * answer malformed calls in a shape the contract forbids.
 */
import { z } from "zod";
import { Server } from "./sdk.ts";
import { type ServerDeps, toolResult } from "./tool.ts";
import { trackingTools } from "./tracking.ts";
import { readingTools } from "./reading.ts";
import { viewOf } from "../sessions/query.ts";

export type { ServerDeps } from "./tool.ts";

/** The JSON-RPC code MCP names for a resource that does not exist. */
const RESOURCE_NOT_FOUND = -32002;

function safeDecode(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

const ListResourcesRequest = z.object({ method: z.literal("resources/list") }).passthrough();
const ListResourceTemplatesRequest = z.object({
  method: z.literal("resources/templates/list"),
}).passthrough();
const ReadResourceRequest = z.object({
  method: z.literal("resources/read"),
  params: z.object({ uri: z.string() }).passthrough(),
}).passthrough();

const METHOD_NOT_FOUND = -32601;

/** The JSON-RPC code MCP 2025-06-18 names for an unknown tool. */
const INVALID_PARAMS = -32602;

class JsonRpcError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

// The SDK dispatches on these schemas' method literals. Params stay loose so that a
// malformed call reaches the tool and gets the tool's own error result.
const ListToolsRequest = z.object({ method: z.literal("tools/list") }).passthrough();

/** Builds the MCP server; attach a transport with `server.connect(transport)`. */
export function createServer(deps: ServerDeps): Server {
  const tools = new Map(
    [...trackingTools(deps), ...readingTools(deps)].map((tool) => [tool.definition.name, tool]),
  );
  const definitions = [...tools.values()].map((tool) => tool.definition);
  const server = new Server(
    { name: "session-buddy", version: deps.version },
    {
      capabilities: { tools: {}, resources: {} },
      instructions:
        "Tracks admin shell sessions. Call track_session_start when a shell starts, track_session_heartbeat now and then while it runs, " +
        "and track_session_end with the returned session_id when it exits. get_session, list_sessions and session_stats answer who was in which shell, where, when and for how long.",
    },
  );
  server.setRequestHandler(ListToolsRequest, () => ({ tools: definitions }));
  // tools/call is answered from the fallback handler: the SDK's own tools/call handler
  // would refuse arguments that are not an object with a JSON-RPC error before the tool
  // could give its own error result, which the contract asks for.
  server.fallbackRequestHandler = async (request) => {
    if (request.method !== "tools/call") {
      throw new JsonRpcError(METHOD_NOT_FOUND, `Method not found: ${request.method.slice(0, 100)}`);
    }
    const params = (request.params ?? {}) as Record<string, unknown>;
    const name = params.name;
    const tool = typeof name === "string" ? tools.get(name) : undefined;
    if (!tool) {
      throw new JsonRpcError(INVALID_PARAMS, `Unknown tool: ${String(name).slice(0, 100)}`);
    }
    return toolResult(await tool.run(params.arguments));
  };
  server.setRequestHandler(ListResourcesRequest, () => ({ resources: [] }));
  server.setRequestHandler(ListResourceTemplatesRequest, () => ({
    resourceTemplates: [{
      uriTemplate: "session://{session_id}",
      name: "session",
      title: "Admin shell session",
      description: "One session record as JSON, the same record get_session returns.",
      mimeType: "application/json",
    }],
  }));
  server.setRequestHandler(ReadResourceRequest, async (request) => {
    const uri = String(request.params.uri);
    if (deps.authRequired) {
      // A resource read carries no token; with authentication on, records go through get_session.
      throw new JsonRpcError(
        INVALID_PARAMS,
        "Authentication required: SESSION_BUDDY_SECRET is set, use get_session with a token",
      );
    }
    const m = /^session:\/\/(.{1,600})$/.exec(uri);
    const id = m ? safeDecode(m[1]!) : null;
    const found = id ? await deps.store.get(id) : null;
    if (!found) {
      throw new JsonRpcError(RESOURCE_NOT_FOUND, `Resource not found: ${uri.slice(0, 200)}`);
    }
    const view = viewOf(found, deps.now().getTime(), deps.staleAfterMs);
    return { contents: [{ uri, mimeType: "application/json", text: JSON.stringify(view) }] };
  });
  return server;
}
