/**
 * `GET /healthz` (SPEC 8.2): 200 when a store read succeeds within its deadline, else 503
 * with the reason. It needs no token and ignores an `Authorization` header.
 */
import { withDeadline } from "../deadline.ts";
import type { Log } from "../log.ts";
import { jsonResponse, NO_STORE } from "./_response.ts";
import type { Next } from "./compose.ts";

/** What the health route is built from. */
export interface HealthOptions {
  store: {
    /** A small read that succeeds when the store answers. */
    check(): Promise<void>;
  };
  version: string;
  log: Pick<Log, "warning">;
  /** How long the store read may take, in milliseconds. */
  timeoutMs: number;
}

/** Builds the `/healthz` route. */
export function healthRoute(options: HealthOptions): Next {
  const { timeoutMs } = options;
  return async () => {
    try {
      await withDeadline(
        options.store.check(),
        timeoutMs,
        () => new Error(`the store did not answer within ${timeoutMs} ms`),
      );
      return jsonResponse(200, { status: "ok", version: options.version }, NO_STORE);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      options.log.warning(`Health check failed: ${reason}`);
      return jsonResponse(503, { status: "unavailable", error: reason }, NO_STORE);
    }
  };
}
