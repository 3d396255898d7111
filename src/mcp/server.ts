/**
 * The MCP server: tool registration and dispatch, on the JSON-RPC endpoint of `rpc.ts`.
 * `tools/call` gives every malformed call the tool's own error result, as the contract
 * asks, and an unknown tool a JSON-RPC error.
 */
import { type CacheHint, INVALID_PARAMS, JsonRpcError, RpcServer } from "./rpc.ts";
import { type ServerDeps, type Tool, toolResult } from "./tool.ts";
import { getSession } from "./tools/get_session.ts";
import { importSessions } from "./tools/import_sessions.ts";
import { importHistory } from "./tools/import_history.ts";
import { listSessions } from "./tools/list_sessions.ts";
import { sessionStats } from "./tools/session_stats.ts";
import { trackSessionEnd } from "./tools/track_session_end.ts";
import { trackSessionHeartbeat } from "./tools/track_session_heartbeat.ts";
import { trackSessionStart } from "./tools/track_session_start.ts";
import { viewOf } from "../sessions/query.ts";

export type { ServerDeps } from "./tool.ts";

/**
 * Caching hints of the 2026-07-28 revision. The lists never change while a server runs; a
 * session record changes with every heartbeat and end, and is the caller's own to see.
 */
const LISTS: CacheHint = { ttlMs: 300_000, cacheScope: "public" };
const RECORD: CacheHint = { ttlMs: 0, cacheScope: "private" };

function safeDecode(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

/** Every tool, in the order `tools/list` gives them. */
export const TOOLS: readonly Tool[] = [
  trackSessionStart,
  trackSessionEnd,
  getSession,
  listSessions,
  sessionStats,
  trackSessionHeartbeat,
  importSessions,
  importHistory,
];

/** Builds the MCP server; attach a transport with `server.connect(transport)`. */
export function createServer(deps: ServerDeps): RpcServer {
  const tools = new Map(TOOLS.map((tool) => [tool.name, tool]));
  const definitions = TOOLS.map((tool) => tool.definition);
  const server = new RpcServer(
    { name: "session-buddy", version: deps.version },
    {
      // What is honoured: tools, a resource template, and an (empty) list of prompts.
      // Nothing is pushed, so no listChanged or subscribe.
      capabilities: { tools: {}, resources: {}, prompts: {} },
      instructions:
        "Tracks admin shell sessions. Call track_session_start when a shell starts, track_session_heartbeat now and then while it runs, " +
        "and track_session_end with the returned session_id when it exits. get_session, list_sessions and session_stats answer who was in which shell, where, when and for how long. " +
        "import_sessions and import_history are for session-buddy forward and moves between stores, never for a shell.",
      onerror: (error) =>
        deps.log.error(`Request failed: ${error instanceof Error ? error.message : error}`),
    },
  );
  server.handle("tools/list", () => ({ tools: definitions }), { cache: LISTS });
  server.handle("tools/call", async (params, context) => {
    const name = params.name;
    const tool = typeof name === "string" ? tools.get(name) : undefined;
    if (!tool) {
      throw new JsonRpcError(INVALID_PARAMS, `Unknown tool: ${String(name).slice(0, 100)}`);
    }
    return toolResult(await tool.call(deps, params.arguments, context));
  });
  server.handle("prompts/list", () => ({ prompts: [] }), { cache: LISTS });
  server.handle("prompts/get", (params) => {
    throw new JsonRpcError(
      INVALID_PARAMS,
      `Invalid params: unknown prompt ${String(params.name).slice(0, 100)} (this server has none)`,
    );
  });
  server.handle("resources/list", () => ({ resources: [] }), { cache: LISTS });
  server.handle("resources/templates/list", () => ({
    resourceTemplates: [{
      uriTemplate: "session://{session_id}",
      name: "session",
      title: "Admin shell session",
      description: "One session record as JSON, the same record get_session returns.",
      mimeType: "application/json",
    }],
  }), { cache: LISTS });
  server.handle("resources/read", async (params, context) => {
    if (typeof params.uri !== "string") {
      throw new JsonRpcError(INVALID_PARAMS, "Invalid params: uri must be a string");
    }
    const uri = params.uri;
    if (deps.authRequired && !context.auth) {
      // A resource read has no token argument: only an HTTP request's verified bearer
      // header can stand for one.
      throw new JsonRpcError(
        INVALID_PARAMS,
        "Authentication required: SESSION_BUDDY_SECRET is set and resources/read carries no token; " +
          "call get_session with a token (over HTTP, a request with an Authorization: Bearer header may read it)",
      );
    }
    const m = /^session:\/\/(.{1,600})$/.exec(uri);
    const id = m ? safeDecode(m[1]!) : null;
    const found = id ? await deps.store.get(id) : null;
    if (!found) {
      // -32602 with the URI, as MCP 2026-07-28 asks (the handshake revisions allowed it too).
      throw new JsonRpcError(INVALID_PARAMS, `Resource not found: ${uri.slice(0, 200)}`, {
        uri: uri.slice(0, 600),
      });
    }
    const view = viewOf(found, deps.now().getTime(), deps.staleAfterMs);
    return { contents: [{ uri, mimeType: "application/json", text: JSON.stringify(view) }] };
  }, { cache: RECORD });
  return server;
}
