/**
 * The HTTP edge (SPEC 8.1 and 8.2): `POST /mcp` as MCP's Streamable HTTP transport,
 * stateless and answered as JSON, plus `/healthz` and `/metrics`. Each concern is a step
 * in its own file, composed here in order: count, shed, recover, guard, CORS, then per
 * route its method, bearer token and handler. A request that passes them all reaches the
 * same `RpcServer` as stdio, so tools, results, error texts and log lines are those of
 * stdio.
 *
 * Our own framing rather than the SDK's `WebStandardStreamableHTTPServerTransport`: the
 * SDK's import costs about 100-150 ms and 15 MiB (its `types.js` builds every MCP schema),
 * adds ~90 packages to what a first run downloads, and validates every message with zod
 * on the path of each call; and the edge must do most of the work itself anyway (it
 * accepts batches, applies no body limit to a body read beforehand, and reads `Host`,
 * which HTTP/2 does not send). docs/performance.md has the figures of
 * bench/decisions.ts.
 */
import type { Verifier } from "../auth/verifier.ts";
import type { Log } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { RpcServer } from "../mcp/rpc.ts";
import type { SessionRecord } from "../sessions/session.ts";
import { text } from "./_response.ts";
import { allow, getOnly, READ_METHODS } from "./allow.ts";
import { bearer, refuseAsRpc, refuseAsText } from "./bearer.ts";
import { compose, type Next, route } from "./compose.ts";
import { countStatus } from "./count.ts";
import { corsHeaders, preflight } from "./cors.ts";
import { guard, type GuardOptions } from "./guard.ts";
import { healthRoute } from "./health.ts";
import { mcpRoute, postOnly } from "./mcp.ts";
import { metricsRoute, tokenRequired } from "./metrics_route.ts";
import { recover } from "./recover.ts";
import { createShed, type Shed } from "./shed.ts";

export { UNAUTHORIZED } from "./bearer.ts";

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

/** The request handler `Deno.serve` calls, and the way to stop it taking requests. */
export interface Handler {
  handle(request: Request): Promise<Response>;
  /** Answers every later request 503; resolves when those in progress are answered. */
  drain: Shed["drain"];
}

/** Builds the request handler. */
export function createHandler(deps: HttpDeps): Handler {
  const limits = { ...LIMITS, ...deps.limits };
  const shed = createShed(limits.maxInFlight);
  const routes = new Map<string, Next>([
    [
      "/mcp",
      compose(
        [preflight, allow(["POST"], postOnly), bearer({ ...deps, refuse: refuseAsRpc })],
        mcpRoute({ ...deps, ...limits }),
      ),
    ],
    [
      "/healthz",
      compose(
        [allow(READ_METHODS, getOnly)],
        healthRoute({ ...deps, timeoutMs: limits.healthTimeoutMs }),
      ),
    ],
    [
      "/metrics",
      compose(
        [
          allow(READ_METHODS, getOnly),
          bearer({
            ...deps,
            refuse: refuseAsText,
            ...(deps.authRequired ? { missing: tokenRequired } : {}),
          }),
        ],
        metricsRoute(deps),
      ),
    ],
  ]);
  // No OAuth here: /.well-known/ paths are as unknown as any other.
  const notFound: Next = () => Promise.resolve(text(404, "Not Found\n"));
  const edge = compose(
    [countStatus(deps.metrics), shed.step, recover(deps.log), guard(deps.guard), corsHeaders],
    route(routes, notFound),
  );
  return { handle: (request) => edge({ request }), drain: shed.drain };
}
