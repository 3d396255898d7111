/**
 * The bearer check of the edge (SPEC 4, 8.1): an `Authorization` header is verified before
 * the body is read, so a refused request costs no more than its headers. A good token's
 * outcome is handed on, and then stands for every tool's `token` argument.
 */
import type { Verifier } from "../auth/verifier.ts";
import type { Log } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { AUTH_PREFIX } from "../mcp/results.ts";
import { rpcError, text } from "./_response.ts";
import type { Step } from "./compose.ts";

/** The challenge of a 401 (RFC 6750). */
export const CHALLENGE = 'Bearer realm="session-buddy"';
/** The challenge of a 401 for a token that was given and refused. */
export const INVALID_TOKEN = `${CHALLENGE}, error="invalid_token"`;
/** The JSON-RPC code this edge uses for a refused bearer token (the server-error range). */
export const UNAUTHORIZED = -32001;

/** What the bearer step is built from. */
export interface BearerOptions {
  verify: Verifier;
  log: Pick<Log, "warning">;
  metrics: Pick<Metrics, "authFailure">;
  /** The 401 for a refused token, in the route's own shape. */
  refuse: (reason: string) => Response;
  /** The 401 for a request without a header; absent, such a request passes unauthenticated. */
  missing?: () => Response;
}

/** The token of an `Authorization: Bearer <token>` header; null for another scheme. */
export function bearerToken(header: string): string | null {
  const m = /^Bearer +(\S+) *$/i.exec(header);
  return m ? m[1]! : null;
}

/** Builds the step that verifies a bearer header and hands the outcome on, or answers 401. */
export function bearer(options: BearerOptions): Step {
  return async (exchange, next) => {
    const header = exchange.request.headers.get("authorization");
    if (header === null) {
      if (!options.missing) return next(exchange);
      options.metrics.authFailure();
      return options.missing();
    }
    const token = bearerToken(header);
    const outcome = token === null
      ? { ok: false as const, reason: "Authorization must be 'Bearer <token>'" }
      : await options.verify(token);
    if (outcome.ok) return next({ ...exchange, auth: outcome });
    options.log.warning(`Authentication failed on an HTTP request: ${outcome.reason}`);
    options.metrics.authFailure();
    return options.refuse(outcome.reason);
  };
}

/** A 401 for `/mcp`: a JSON-RPC error response. */
export function refuseAsRpc(reason: string): Response {
  return rpcError(401, UNAUTHORIZED, AUTH_PREFIX + reason, { "www-authenticate": INVALID_TOKEN });
}

/** A 401 for a plain-text route. */
export function refuseAsText(reason: string): Response {
  return text(401, `${AUTH_PREFIX}${reason}\n`, { "www-authenticate": INVALID_TOKEN });
}
