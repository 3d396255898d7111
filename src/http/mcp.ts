/**
 * `POST /mcp` (SPEC 8.1), once its method and bearer token have passed: content
 * negotiation, the body within its bounds, JSON, a batch or one envelope, handed to the
 * same `RpcServer` as stdio and answered as JSON.
 */
import { envelopeError, INVALID_REQUEST, PARSE_ERROR } from "../mcp/jsonrpc.ts";
import type { JsonRpcMessage, RequestContext, RpcServer } from "../mcp/rpc.ts";
import { BATCH_VERSION } from "../mcp/revisions.ts";
import type { Log } from "../log.ts";
import { JSON_TYPE, jsonResponse, rpcError } from "./_response.ts";
import { readBody } from "./body.ts";
import type { Next } from "./compose.ts";

/** What the `/mcp` route is built from. */
export interface McpRouteOptions {
  rpc: Pick<RpcServer, "reply" | "replyBatch">;
  log: Pick<Log, "debug">;
  /** Largest request body, in bytes; past that 413. */
  maxBodyBytes: number;
  /** How long a request body may take to arrive, in milliseconds; past that 408. */
  bodyDeadlineMs: number;
}

/**
 * Whether an `Accept` header names `application/json` or `*\/*` (SPEC 8.1), other than
 * with `q=0` (which HTTP reads as "not acceptable"); a request without one accepts
 * anything, as HTTP has it.
 */
export function acceptsJson(accept: string | null): boolean {
  if (accept === null) return true;
  return accept.split(",").some((part) => {
    const [type, ...params] = part.split(";").map((p) => p.trim().toLowerCase());
    const q = params.find((p) => /^q=/.test(p));
    if (q && Number(q.slice(2)) === 0) return false;
    return type === JSON_TYPE || type === "*/*";
  });
}

/** Whether a `Content-Type` header names JSON (parameters such as a charset allowed). */
export function isJsonContentType(type: string | null): boolean {
  return type !== null && type.split(";")[0]!.trim().toLowerCase() === JSON_TYPE;
}

/** The 405 of `/mcp`. */
export function postOnly(): Response {
  return rpcError(405, INVALID_REQUEST, "Method not allowed: use POST", { allow: "POST" });
}

/** Builds the `/mcp` route. */
export function mcpRoute(options: McpRouteOptions): Next {
  const { maxBodyBytes, bodyDeadlineMs } = options;
  const decoder = new TextDecoder("utf-8", { fatal: true });
  return async ({ request, auth }) => {
    if (!acceptsJson(request.headers.get("accept"))) {
      return rpcError(406, INVALID_REQUEST, "Not Acceptable: accept application/json");
    }
    if (!isJsonContentType(request.headers.get("content-type"))) {
      return rpcError(415, INVALID_REQUEST, "Unsupported Media Type: send application/json");
    }
    const body = await readBody(request, maxBodyBytes, bodyDeadlineMs);
    if (body.kind === "too_large") {
      return rpcError(
        413,
        INVALID_REQUEST,
        `Payload Too Large: a message may have at most ${maxBodyBytes} bytes`,
      );
    }
    if (body.kind === "aborted") {
      // Nobody is left to read an answer; this is the client's doing, not a failure of ours.
      options.log.debug("HTTP request dropped: the client went away before its body arrived");
      return rpcError(400, INVALID_REQUEST, "Bad Request: the body was cut off", {
        connection: "close",
      });
    }
    if (body.kind === "timeout") {
      return rpcError(
        408,
        INVALID_REQUEST,
        `Request Timeout: the body did not arrive within ${bodyDeadlineMs / 1000} s`,
        { connection: "close" },
      );
    }
    let message: unknown;
    try {
      message = JSON.parse(decoder.decode(body.bytes));
    } catch {
      return rpcError(400, PARSE_ERROR, "Parse error: the body is not valid JSON");
    }
    const headers = {
      protocolVersion: request.headers.get("mcp-protocol-version"),
      method: request.headers.get("mcp-method"),
      name: request.headers.get("mcp-name"),
    };
    const context: RequestContext = {
      ...(auth ? { auth } : {}),
      headers,
      // A client that goes away cancels its request (the stateless revision's way).
      signal: request.signal,
    };
    if (Array.isArray(message)) {
      // Batches belong to MCP 2025-03-26 alone, which a client names in the header.
      if (headers.protocolVersion?.trim() !== BATCH_VERSION || message.length === 0) {
        return rpcError(
          400,
          INVALID_REQUEST,
          `Invalid Request: JSON-RPC batches are accepted only with MCP-Protocol-Version ${BATCH_VERSION}`,
        );
      }
      const responses = await options.rpc.replyBatch(message, context);
      return responses.length === 0
        ? new Response(null, { status: 202 })
        : jsonResponse(200, responses);
    }
    const problem = envelopeError(message);
    if (problem) return jsonResponse(400, problem);
    const reply = await options.rpc.reply(message as JsonRpcMessage, context);
    // A notification or a response: accepted, and nothing to say.
    if (reply === null) return new Response(null, { status: 202 });
    return jsonResponse(reply.status, reply.message);
  };
}
