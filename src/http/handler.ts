/**
 * The HTTP edge (SPEC 8.1 and 8.2): `POST /mcp` as MCP's Streamable HTTP transport,
 * stateless and answered as JSON, plus `/healthz` and `/metrics`. Each concern is a small
 * check taken in order (load, host and origin, route, method, bearer token, content
 * negotiation, protocol revision, body size and deadline, envelope); a request that passes
 * them all reaches the same `RpcServer` as stdio, so tools, results, error texts and log
 * lines are those of stdio.
 *
 * Our own framing rather than the SDK's `WebStandardStreamableHTTPServerTransport`: the
 * SDK's import costs about 100-150 ms and 15 MiB (its `types.js` builds every MCP schema),
 * adds ~90 packages to what a first run downloads, and validates every message with zod
 * on the path of each call; and the edge must do most of the work itself anyway (it
 * accepts batches, applies no body limit to a body read beforehand, and reads `Host`,
 * which HTTP/2 does not send). docs/performance.md has the figures of
 * bench/framing.ts.
 */
import type { Verifier } from "../auth/verifier.ts";
import type { Log } from "../log.ts";
import type { Metrics, OpenSessions } from "../metrics.ts";
import { AUTH_PREFIX } from "../mcp/results.ts";
import { envelopeError, errorResponse, INVALID_REQUEST, PARSE_ERROR } from "../mcp/jsonrpc.ts";
import type { JsonRpcMessage, RequestContext, RpcServer } from "../mcp/rpc.ts";
import { BATCH_VERSION } from "../mcp/revisions.ts";
import { reportedStatus } from "../sessions/query.ts";
import type { SessionRecord } from "../sessions/session.ts";
import { readBody } from "./body.ts";
import { type GuardOptions, hostAllowed, originAllowed } from "./guard.ts";

/** Bounds of the edge; SPEC 8.1 sets the defaults. */
export interface Limits {
  /** Requests in progress at once; past that 503. */
  maxInFlight: number;
  /** Largest request body, in bytes; past that 413. */
  maxBodyBytes: number;
  /** How long a request body may take to arrive, in milliseconds; past that 408. */
  bodyDeadlineMs: number;
  /** How long `/healthz` waits for its store read, in milliseconds. */
  healthTimeoutMs: number;
}

/** SPEC 8.1's bounds. */
export const LIMITS: Limits = {
  maxInFlight: 512,
  maxBodyBytes: 1024 * 1024,
  bodyDeadlineMs: 30_000,
  healthTimeoutMs: 1000,
};

/** What the health and metrics routes read from the store. */
export interface StoreProbe {
  /** A small read that succeeds when the store answers. */
  check(): Promise<void>;
  /** Every session not ended, from every process writing the store. */
  active(): AsyncIterable<SessionRecord>;
}

/** What the edge is built from. */
export interface HttpDeps {
  rpc: Pick<RpcServer, "reply" | "replyBatch">;
  verify: Verifier;
  /** Whether a secret is set: `/metrics` then needs a bearer token. */
  authRequired: boolean;
  log: Log;
  metrics: Metrics;
  store: StoreProbe;
  now: () => Date;
  staleAfterMs: number;
  version: string;
  guard: GuardOptions;
  /** Seconds since the epoch at which the process started. */
  startSeconds: number;
  rssBytes: () => number;
  limits?: Partial<Limits>;
}

const JSON_TYPE = "application/json";
const CHALLENGE = 'Bearer realm="session-buddy"';
const INVALID_TOKEN = `${CHALLENGE}, error="invalid_token"`;
/** The JSON-RPC code this edge uses for a refused bearer token (the server-error range). */
export const UNAUTHORIZED = -32001;

function jsonResponse(status: number, body: unknown, headers: HeadersInit = {}): Response {
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
function rpcError(
  status: number,
  code: number,
  message: string,
  headers: HeadersInit = {},
): Response {
  return jsonResponse(status, errorResponse(null, code, message), headers);
}

function text(status: number, body: string, headers: HeadersInit = {}): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/** The token of an `Authorization: Bearer <token>` header; null for another scheme. */
export function bearerToken(header: string): string | null {
  const m = /^Bearer +(\S+) *$/i.exec(header);
  return m ? m[1]! : null;
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

/** The request handler `Deno.serve` calls, and the way to stop it taking requests. */
export interface Handler {
  handle(request: Request): Promise<Response>;
  /**
   * Answers every later request 503 and resolves once the requests in progress have been
   * answered, or after `limitMs`. (`Deno.serve`'s own shutdown cuts off a request body
   * that is still arriving, so the edge drains before the listener is shut down.)
   */
  drain(limitMs: number): Promise<void>;
}

/** Builds the request handler. */
export function createHandler(deps: HttpDeps): Handler {
  const limits = { ...LIMITS, ...deps.limits };
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let inFlight = 0;
  let draining = false;
  let drained: (() => void) | null = null;

  /** A bearer header's verdict: null when there is none, else the outcome. */
  async function checkBearer(
    request: Request,
  ): Promise<{ ok: true; context: RequestContext } | { ok: false; reason: string } | null> {
    const header = request.headers.get("authorization");
    if (header === null) return null;
    const token = bearerToken(header);
    const outcome = token === null
      ? { ok: false as const, reason: "Authorization must be 'Bearer <token>'" }
      : await deps.verify(token);
    if (outcome.ok) return { ok: true, context: { auth: outcome } };
    deps.log.warning(`Authentication failed on an HTTP request: ${outcome.reason}`);
    deps.metrics.authFailure();
    return outcome;
  }

  function unauthorized(reason: string, json: boolean): Response {
    const headers = { "www-authenticate": INVALID_TOKEN };
    return json
      ? rpcError(401, UNAUTHORIZED, AUTH_PREFIX + reason, headers)
      : text(401, `${AUTH_PREFIX}${reason}\n`, headers);
  }

  async function mcp(request: Request): Promise<Response> {
    if (request.method !== "POST") {
      return rpcError(405, INVALID_REQUEST, "Method not allowed: use POST", { allow: "POST" });
    }
    // Verified before the body is read: a refused request costs no more than its headers.
    const bearer = await checkBearer(request);
    if (bearer && !bearer.ok) return unauthorized(bearer.reason, true);
    if (!acceptsJson(request.headers.get("accept"))) {
      return rpcError(406, INVALID_REQUEST, "Not Acceptable: accept application/json");
    }
    if (!isJsonContentType(request.headers.get("content-type"))) {
      return rpcError(415, INVALID_REQUEST, "Unsupported Media Type: send application/json");
    }
    const body = await readBody(request, limits.maxBodyBytes, limits.bodyDeadlineMs);
    if (body.kind === "too_large") {
      return rpcError(
        413,
        INVALID_REQUEST,
        `Payload Too Large: a message may have at most ${limits.maxBodyBytes} bytes`,
      );
    }
    if (body.kind === "aborted") {
      // Nobody is left to read an answer; this is the client's doing, not a failure of ours.
      deps.log.debug("HTTP request dropped: the client went away before its body arrived");
      return rpcError(400, INVALID_REQUEST, "Bad Request: the body was cut off", {
        connection: "close",
      });
    }
    if (body.kind === "timeout") {
      return rpcError(
        408,
        INVALID_REQUEST,
        `Request Timeout: the body did not arrive within ${limits.bodyDeadlineMs / 1000} s`,
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
      ...(bearer?.ok ? bearer.context : {}),
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
      const responses = await deps.rpc.replyBatch(message, context);
      return responses.length === 0
        ? new Response(null, { status: 202 })
        : jsonResponse(200, responses);
    }
    const problem = envelopeError(message);
    if (problem) return jsonResponse(400, problem);
    const reply = await deps.rpc.reply(message as JsonRpcMessage, context);
    // A notification or a response: accepted, and nothing to say.
    if (reply === null) return new Response(null, { status: 202 });
    return jsonResponse(reply.status, reply.message);
  }

  async function healthz(request: Request): Promise<Response> {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text(405, "Method Not Allowed: use GET\n", { allow: "GET, HEAD" });
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the store did not answer within ${limits.healthTimeoutMs} ms`)),
        limits.healthTimeoutMs,
      );
    });
    try {
      await Promise.race([deps.store.check(), late]);
      return jsonResponse(200, { status: "ok", version: deps.version }, noStore);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      deps.log.warning(`Health check failed: ${reason}`);
      return jsonResponse(503, { status: "unavailable", error: reason }, noStore);
    } finally {
      clearTimeout(timer);
    }
  }

  async function metrics(request: Request): Promise<Response> {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text(405, "Method Not Allowed: use GET\n", { allow: "GET, HEAD" });
    }
    const bearer = await checkBearer(request);
    if (bearer && !bearer.ok) return unauthorized(bearer.reason, false);
    if (deps.authRequired && !bearer) {
      deps.metrics.authFailure();
      return text(401, `${AUTH_PREFIX}a bearer token is required (SESSION_BUDDY_SECRET is set)\n`, {
        "www-authenticate": CHALLENGE,
      });
    }
    let openSessions: OpenSessions[];
    try {
      openSessions = await countOpen(deps.store, deps.now().getTime(), deps.staleAfterMs);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      deps.log.error(`Metrics scrape failed: store error: ${reason}`);
      return text(503, `store unavailable: ${reason}\n`);
    }
    const body = deps.metrics.render({
      version: deps.version,
      openSessions,
      rssBytes: deps.rssBytes(),
      startSeconds: deps.startSeconds,
    });
    return text(200, body, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  }

  async function route(request: Request): Promise<Response> {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      // Deno builds the URL from the Host header; one that is not a host at all is no
      // loopback name either.
      return deps.guard.loopback
        ? text(403, "Forbidden: this host or origin may not call this server\n")
        : text(400, "Bad Request: the Host header is not a host\n");
    }
    const origin = request.headers.get("origin");
    if (!hostAllowed(url.hostname, deps.guard) || !originAllowed(origin, deps.guard)) {
      return text(403, "Forbidden: this host or origin may not call this server\n");
    }
    let response: Response;
    if (url.pathname === "/mcp") {
      response = request.method === "OPTIONS" && origin !== null ? preflight() : await mcp(request);
    } else if (url.pathname === "/healthz") response = await healthz(request);
    else if (url.pathname === "/metrics") response = await metrics(request);
    // No OAuth here: /.well-known/ paths are as unknown as any other.
    else response = text(404, "Not Found\n");
    if (origin !== null) {
      response.headers.set("access-control-allow-origin", origin);
      response.headers.set("access-control-expose-headers", "www-authenticate");
      response.headers.append("vary", "Origin");
    }
    return response;
  }

  async function handle(request: Request): Promise<Response> {
    let response: Response;
    if (draining || inFlight >= limits.maxInFlight) {
      const why = draining ? "the server is stopping" : "too many requests in progress";
      const headers = { "retry-after": "1", ...(draining ? { connection: "close" } : {}) };
      // A load balancer's health check reads /healthz's own shape.
      response = new URL(request.url, "http://x").pathname === "/healthz"
        ? jsonResponse(503, { status: "unavailable", error: why }, { ...headers, ...noStore })
        : rpcError(503, INVALID_REQUEST, `Service Unavailable: ${why}`, headers);
    } else {
      inFlight++;
      try {
        response = await route(request);
      } catch (error) {
        deps.log.error(`HTTP request failed: ${error instanceof Error ? error.message : error}`);
        response = rpcError(500, -32603, "Internal error");
      } finally {
        inFlight--;
        if (inFlight === 0) drained?.();
      }
    }
    deps.metrics.httpRequest(response.status);
    return response;
  }

  function drain(limitMs: number): Promise<void> {
    draining = true;
    if (inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, limitMs);
      drained = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  return { handle, drain };
}

const noStore = { "cache-control": "no-store" };

/** A browser's CORS preflight for an origin the guard let through. */
function preflight(): Response {
  return new Response(null, {
    status: 204,
    headers: {
      "access-control-allow-methods": "POST",
      "access-control-allow-headers":
        "authorization, content-type, accept, mcp-protocol-version, mcp-method, mcp-name, mcp-session-id, last-event-id",
      "access-control-max-age": "600",
    },
  });
}

/** Sessions not ended, per component, by reported status: O(open sessions). */
export async function countOpen(
  store: Pick<StoreProbe, "active">,
  nowMs: number,
  staleAfterMs: number,
): Promise<OpenSessions[]> {
  const counts = new Map<string, OpenSessions>();
  for await (const record of store.active()) {
    let row = counts.get(record.component_name);
    if (!row) {
      counts.set(
        record.component_name,
        row = { component: record.component_name, active: 0, stale: 0 },
      );
    }
    const status = reportedStatus(record, nowMs, staleAfterMs);
    if (status === "active" || status === "stale") {
      row[status]++;
      const age = (nowMs - Date.parse(record.started_at)) / 1000;
      if (Number.isFinite(age)) row.oldestSeconds = Math.max(row.oldestSeconds ?? 0, age);
    }
  }
  return [...counts.values()];
}
