/** The shapes of the edge's own answers, shared by its steps. */
import { errorResponse } from "../mcp/jsonrpc.ts";

/** The media type of every JSON answer and of every body `/mcp` accepts. */
export const JSON_TYPE = "application/json";

/** Health answers are never to be cached: each says how things are now. */
export const NO_STORE = { "cache-control": "no-store" };

/** A JSON answer. */
export function jsonResponse(status: number, body: unknown, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": JSON_TYPE, ...headers },
  });
}

/**
 * An error answer of `/mcp`: a JSON-RPC error response whose `id` is null, for a request
 * whose id could not be read (SPEC 8.1; JSON-RPC 2.0 requires the member, and a client SDK
 * cannot parse an error without it).
 */
export function rpcError(
  status: number,
  code: number,
  message: string,
  headers: HeadersInit = {},
): Response {
  return jsonResponse(status, errorResponse(null, code, message), headers);
}

/** A plain-text answer. */
export function text(status: number, body: string, headers: HeadersInit = {}): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}
