/**
 * The edge's one composition primitive: a request passes through steps taken in order,
 * each of which answers it itself or hands it on, as hono's middleware do.
 *
 * @example
 * ```ts
 * const edge = compose([shed.step, guard(options)], route);
 * const response = await edge({ request });
 * ```
 */
import type { RequestContext } from "../mcp/rpc.ts";

/** A request, and what the steps before have learned of it. */
export interface Exchange {
  readonly request: Request;
  /** The outcome of a bearer token the bearer step verified; absent without a header. */
  readonly auth?: RequestContext["auth"];
}

/** The rest of the chain: answers an exchange. */
export type Next = (exchange: Exchange) => Promise<Response>;

/** One concern of the edge: answers the exchange itself, or hands it (perhaps added to) on. */
export type Step = (exchange: Exchange, next: Next) => Promise<Response>;

/** Chains `steps` in order in front of `end`; the first step sees the exchange first. */
export function compose(steps: readonly Step[], end: Next): Next {
  return steps.reduceRight<Next>((next, step) => (exchange) => step(exchange, next), end);
}

/**
 * Hands each exchange to the chain `routes` names for its path, or to `fallback`. The URL
 * is read again here: the guard before has already refused one that cannot be read.
 */
export function route(routes: ReadonlyMap<string, Next>, fallback: Next): Next {
  return (exchange) => {
    const path = new URL(exchange.request.url).pathname;
    return (routes.get(path) ?? fallback)(exchange);
  };
}
