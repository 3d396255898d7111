/**
 * The edge's last word on its own failures: a step that throws is logged and answered 500
 * with a generic JSON-RPC error, so nothing of the failure leaks outward.
 */
import type { Log } from "../log.ts";
import { rpcError } from "./_response.ts";
import type { Step } from "./compose.ts";

/** JSON-RPC's code for an error inside the server. */
const INTERNAL_ERROR = -32603;

/** Builds the step that answers 500 for whatever the steps after it throw. */
export function recover(log: Pick<Log, "error">): Step {
  return async (exchange, next) => {
    try {
      return await next(exchange);
    } catch (error) {
      log.error(`HTTP request failed: ${error instanceof Error ? error.message : error}`);
      return rpcError(500, INTERNAL_ERROR, "Internal error");
    }
  };
}
