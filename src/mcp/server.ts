/**
 * The MCP server: tool registration and dispatch, on the JSON-RPC endpoint of `rpc.ts`.
 * `tools/call` gives every malformed call the tool's own error result, as the contract
 * asks, and an unknown tool a JSON-RPC error.
 */
import { INVALID_PARAMS, JsonRpcError, RpcServer } from "./rpc.ts";
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

/** Builds the MCP server; attach a transport with `server.connect(transport)`. */
export function createServer(deps: ServerDeps): RpcServer {
  const tools = new Map(
    [...trackingTools(deps), ...readingTools(deps)].map((tool) => [tool.definition.name, tool]),
  );
  const definitions = [...tools.values()].map((tool) => tool.definition);
  const server = new RpcServer(
    { name: "session-buddy", version: deps.version },
    {
      capabilities: { tools: {}, resources: {} },
      instructions:
        "Tracks admin shell sessions. Call track_session_start when a shell starts, track_session_heartbeat now and then while it runs, " +
        "and track_session_end with the returned session_id when it exits. get_session, list_sessions and session_stats answer who was in which shell, where, when and for how long.",
      onerror: (error) =>
        deps.log.error(`Request failed: ${error instanceof Error ? error.message : error}`),
    },
  );
  server.handle("tools/list", () => ({ tools: definitions }));
  server.handle("tools/call", async (params, context) => {
    const name = params.name;
    const tool = typeof name === "string" ? tools.get(name) : undefined;
    if (!tool) {
      throw new JsonRpcError(INVALID_PARAMS, `Unknown tool: ${String(name).slice(0, 100)}`);
    }
    const began = performance.now();
    const result = await tool.run(params.arguments, context);
    deps.metrics?.toolCall(
      tool.definition.name,
      String(result.status),
      (performance.now() - began) / 1000,
    );
    return toolResult(result);
  });
  server.handle("resources/list", () => ({ resources: [] }));
  server.handle("resources/templates/list", () => ({
    resourceTemplates: [{
      uriTemplate: "session://{session_id}",
      name: "session",
      title: "Admin shell session",
      description: "One session record as JSON, the same record get_session returns.",
      mimeType: "application/json",
    }],
  }));
  server.handle("resources/read", async (params) => {
    if (typeof params.uri !== "string") {
      throw new JsonRpcError(INVALID_PARAMS, "Invalid params: uri must be a string");
    }
    const uri = params.uri;
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
