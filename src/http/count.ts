/** Counting every answer of the edge by status code (SPEC 8.2's http_requests_total). */
import type { Metrics } from "../metrics.ts";
import type { Step } from "./compose.ts";

/** Builds the step that counts the status of every answer given after it, refusals included. */
export function countStatus(metrics: Pick<Metrics, "httpRequest">): Step {
  return async (exchange, next) => {
    const response = await next(exchange);
    metrics.httpRequest(response.status);
    return response;
  };
}
