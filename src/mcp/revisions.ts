/**
 * MCP's protocol revisions as this server speaks them (SPEC 8.6): the stateless 2026-07-28
 * revision, whose every request names its revision and the client's capabilities in
 * `params._meta`, beside the handshake revisions negotiated by `initialize`. A request is
 * classified by its body (the `_meta` claim); on HTTP the `MCP-Protocol-Version`, `Mcp-Method`
 * and `Mcp-Name` headers are checked against it. Pure functions: the transports hand in
 * what they read.
 *
 * @example
 * ```ts
 * const era = classify({ jsonrpc: "2.0", id: 1, method: "tools/list" }, null);
 * // era.kind === "legacy": no claim, so a handshake-era request
 * ```
 */

/** The stateless revisions, newest first. */
export const MODERN_VERSIONS = ["2026-07-28"] as const;

/**
 * The revisions negotiated by `initialize`, newest first; the first is offered to a client
 * that asks for another. 2024-11-05 and older are not offered: their batches and
 * handshake rules differ from what this server does.
 */
export const HANDSHAKE_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26"] as const;

/** Every revision spoken, newest first, as `server/discover` lists them. */
export const SUPPORTED_VERSIONS: readonly string[] = [...MODERN_VERSIONS, ...HANDSHAKE_VERSIONS];

/** The one handshake revision whose JSON-RPC batches a server must accept. */
export const BATCH_VERSION = "2025-03-26";

/** `_meta` keys of the 2026-07-28 request envelope and result. */
export const PROTOCOL_VERSION_KEY = "io.modelcontextprotocol/protocolVersion";
export const CLIENT_CAPABILITIES_KEY = "io.modelcontextprotocol/clientCapabilities";
export const SERVER_INFO_KEY = "io.modelcontextprotocol/serverInfo";

/** JSON-RPC codes of the 2026-07-28 revision. */
export const HEADER_MISMATCH = -32020;
/** A request needs a client capability its `_meta` did not declare (HTTP 400). */
export const MISSING_CLIENT_CAPABILITY = -32021;
export const UNSUPPORTED_PROTOCOL_VERSION = -32022;
const INVALID_PARAMS = -32602;

/** What a transport read besides the body: the HTTP headers (null over stdio). */
export interface RevisionHeaders {
  protocolVersion: string | null;
  method: string | null;
  name: string | null;
}

/** An error the classification answers with, and the HTTP status it goes with. */
export interface Refusal {
  code: number;
  message: string;
  data?: Record<string, unknown>;
  status: number;
}

/** How a request is to be served. */
export type Era =
  | { kind: "legacy" }
  | { kind: "modern"; version: string }
  | { kind: "refused"; refusal: Refusal };

const isModern = (v: string) => (MODERN_VERSIONS as readonly string[]).includes(v);
const isHandshake = (v: string) => (HANDSHAKE_VERSIONS as readonly string[]).includes(v);

function refused(status: number, code: number, message: string, data?: Refusal["data"]): Era {
  return { kind: "refused", refusal: { status, code, message, ...(data ? { data } : {}) } };
}

function unsupported(requested: string): Era {
  return refused(
    400,
    UNSUPPORTED_PROTOCOL_VERSION,
    `Unsupported protocol version: ${requested.slice(0, 40)} (supported: ${
      SUPPORTED_VERSIONS.join(", ")
    })`,
    { supported: [...SUPPORTED_VERSIONS], requested: requested.slice(0, 200) },
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The revision a request is served in. A `_meta` protocol-version claim decides (a
 * handshake revision named there is served as such); without one a request belongs to the
 * handshake era, unless the HTTP header names the stateless revision, which then needs the
 * envelope. Header/body disagreements and unknown revisions are refused.
 */
export function classify(
  message: { method: string; params?: unknown },
  headers: RevisionHeaders | null,
): Era {
  const meta = isObject(message.params) ? message.params._meta : undefined;
  const header = headers?.protocolVersion ?? null;
  const hasClaim = isObject(meta) && PROTOCOL_VERSION_KEY in meta;
  if (!hasClaim) {
    if (header !== null && isModern(header)) {
      return refused(
        400,
        INVALID_PARAMS,
        `Invalid params: _meta must carry ${PROTOCOL_VERSION_KEY} and ${CLIENT_CAPABILITIES_KEY} (MCP ${header})`,
      );
    }
    if (header !== null && !isHandshake(header)) return unsupported(header);
    // server/discover exists only in the stateless revision, which needs the envelope.
    if (message.method === "server/discover") {
      return refused(
        400,
        INVALID_PARAMS,
        `Invalid params: server/discover needs _meta with ${PROTOCOL_VERSION_KEY} and ${CLIENT_CAPABILITIES_KEY}`,
      );
    }
    return { kind: "legacy" };
  }
  const claim = (meta as Record<string, unknown>)[PROTOCOL_VERSION_KEY];
  if (typeof claim !== "string") {
    return refused(
      400,
      INVALID_PARAMS,
      `Invalid params: _meta ${PROTOCOL_VERSION_KEY} must be a string`,
    );
  }
  if (header !== null && header.trim() !== claim) {
    return refused(
      400,
      HEADER_MISMATCH,
      `Header mismatch: MCP-Protocol-Version ${header.slice(0, 40)} differs from _meta ${
        claim.slice(0, 40)
      }`,
    );
  }
  if (isHandshake(claim)) return { kind: "legacy" };
  if (!isModern(claim)) return unsupported(claim);
  if (!isObject((meta as Record<string, unknown>)[CLIENT_CAPABILITIES_KEY])) {
    return refused(
      400,
      INVALID_PARAMS,
      `Invalid params: _meta must carry ${CLIENT_CAPABILITIES_KEY} as an object`,
    );
  }
  if (headers) {
    const problem = headerProblem(message, headers);
    if (problem) return refused(400, HEADER_MISMATCH, `Header mismatch: ${problem}`);
  }
  return { kind: "modern", version: claim };
}

/** The body value an `Mcp-Name` header mirrors, for the methods that have one. */
function nameOf(message: { method: string; params?: unknown }): string | undefined {
  const params = isObject(message.params) ? message.params : {};
  const value = message.method === "tools/call" || message.method === "prompts/get"
    ? params.name
    : message.method === "resources/read"
    ? params.uri
    : undefined;
  return typeof value === "string" ? value : undefined;
}

/** Why the standard headers of a stateless HTTP request do not match its body, or null. */
function headerProblem(
  message: { method: string; params?: unknown },
  headers: RevisionHeaders,
): string | null {
  if (headers.protocolVersion === null) return "the MCP-Protocol-Version header is missing";
  // Header values are compared without the whitespace HTTP allows around them.
  const method = headers.method?.trim() ?? null;
  if (method === null) return "the Mcp-Method header is missing";
  if (method !== message.method) {
    return `Mcp-Method ${method.slice(0, 60)} differs from the body's method`;
  }
  const name = nameOf(message);
  if (name === undefined) return null;
  const headerName = headers.name?.trim() ?? null;
  if (headerName === null) return "the Mcp-Name header is missing";
  if (headerName !== name) return "Mcp-Name differs from the body's name";
  return null;
}

/** Whether a message claims the stateless revision (a batch may not hold one). */
export function claimsModern(message: unknown): boolean {
  if (!isObject(message) || !isObject(message.params)) return false;
  const meta = message.params._meta;
  if (!isObject(meta)) return false;
  const claim = meta[PROTOCOL_VERSION_KEY];
  return typeof claim !== "string" || !isHandshake(claim);
}
