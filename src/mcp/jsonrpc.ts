/**
 * JSON-RPC 2.0 envelopes as both transports check them (stdio lines, HTTP bodies): a
 * message that cannot be one is answered here with an error response, so the handlers
 * behind only ever see well-formed requests, notifications and responses.
 */

/** The body is not JSON. */
export const PARSE_ERROR = -32700;
/** JSON, but not a JSON-RPC message. */
export const INVALID_REQUEST = -32600;

/** A request id as JSON-RPC allows it; null where the id could not be read. */
export type Id = string | number | null;

/** An error response (`id` null when the request's own could not be read). */
export function errorResponse(id: Id, code: number, message: string): Record<string, unknown> {
  return { jsonrpc: "2.0", id, error: { code, message } };
}

/** Whether a value can be a request id. */
export function isId(value: unknown): value is string | number {
  return typeof value === "string" || (typeof value === "number" && Number.isFinite(value));
}

/** Whether a value has the shape of a notification (a method and no id): never answered. */
export function isNotification(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !("id" in value) && "method" in value;
}

/** Checks the JSON-RPC 2.0 envelope; returns the error response to send when it fails. */
export function envelopeError(value: unknown): Record<string, unknown> | null {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return errorResponse(null, INVALID_REQUEST, "Invalid Request: expected a JSON-RPC object");
  }
  const msg = value as Record<string, unknown>;
  const id: Id = isId(msg.id) ? msg.id : null;
  if (msg.jsonrpc !== "2.0") {
    return errorResponse(id, INVALID_REQUEST, 'Invalid Request: jsonrpc must be "2.0"');
  }
  if ("method" in msg) {
    if (typeof msg.method !== "string") {
      return errorResponse(id, INVALID_REQUEST, "Invalid Request: method must be a string");
    }
    if ("id" in msg && !isId(msg.id)) {
      return errorResponse(null, INVALID_REQUEST, "Invalid Request: id must be a string or number");
    }
    const params = msg.params;
    if (params !== undefined && (params === null || typeof params !== "object")) {
      return errorResponse(id, INVALID_REQUEST, "Invalid Request: params must be an object");
    }
    return null;
  }
  if (isId(msg.id) && ("result" in msg || "error" in msg)) return null;
  return errorResponse(id, INVALID_REQUEST, "Invalid Request: not a request or response");
}
