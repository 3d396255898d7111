/**
 * Load shedding (SPEC 8.1): at most so many requests in progress, past that 503 with
 * `Retry-After: 1`; and draining, which answers every later request 503 while those in
 * progress finish.
 */
import { INVALID_REQUEST } from "../mcp/jsonrpc.ts";
import { jsonResponse, NO_STORE, rpcError } from "./_response.ts";
import type { Step } from "./compose.ts";

/** The shedding step, and the way to stop taking requests. */
export interface Shed {
  step: Step;
  /**
   * Answers every later request 503 and resolves once the requests in progress have been
   * answered, or after `limitMs`. (`Deno.serve`'s own shutdown cuts off a request body
   * that is still arriving, so the edge drains before the listener is shut down.)
   */
  drain(limitMs: number): Promise<void>;
}

/** Builds a shedding step that lets `maxInFlight` requests be in progress at once. */
export function createShed(maxInFlight: number): Shed {
  let inFlight = 0;
  let draining = false;
  let drained: (() => void) | null = null;

  const step: Step = async (exchange, next) => {
    if (draining || inFlight >= maxInFlight) return refuse(exchange.request, draining);
    inFlight++;
    try {
      return await next(exchange);
    } finally {
      inFlight--;
      if (inFlight === 0) drained?.();
    }
  };

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

  return { step, drain };
}

function refuse(request: Request, draining: boolean): Response {
  const why = draining ? "the server is stopping" : "too many requests in progress";
  const headers = { "retry-after": "1", ...(draining ? { connection: "close" } : {}) };
  // A load balancer's health check reads /healthz's own shape.
  return new URL(request.url, "http://x").pathname === "/healthz"
    ? jsonResponse(503, { status: "unavailable", error: why }, { ...headers, ...NO_STORE })
    : rpcError(503, INVALID_REQUEST, `Service Unavailable: ${why}`, headers);
}
