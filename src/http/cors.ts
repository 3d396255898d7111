/**
 * CORS for the browser clients the guard lets through: a preflight of `/mcp` is answered,
 * and every answer to a request with an `Origin` names that origin back.
 */
import type { Step } from "./compose.ts";

/** What a preflight allows: POST, with the headers MCP's Streamable HTTP transport sends. */
const PREFLIGHT_HEADERS = {
  "access-control-allow-methods": "POST",
  "access-control-allow-headers":
    "authorization, content-type, accept, mcp-protocol-version, mcp-method, mcp-name, mcp-session-id, last-event-id",
  "access-control-max-age": "600",
};

/**
 * The step that lets a request with an `Origin` read its answer (and the bearer challenge in
 * it). It comes after the guard, so the origin is one the guard allowed.
 */
export const corsHeaders: Step = async (exchange, next) => {
  const response = await next(exchange);
  const origin = exchange.request.headers.get("origin");
  if (origin !== null) {
    response.headers.set("access-control-allow-origin", origin);
    response.headers.set("access-control-expose-headers", "www-authenticate");
    response.headers.append("vary", "Origin");
  }
  return response;
};

/** The step that answers a browser's CORS preflight (an `OPTIONS` with an `Origin`) 204. */
export const preflight: Step = (exchange, next) => {
  const { request } = exchange;
  if (request.method !== "OPTIONS" || request.headers.get("origin") === null) {
    return next(exchange);
  }
  return Promise.resolve(new Response(null, { status: 204, headers: PREFLIGHT_HEADERS }));
};
