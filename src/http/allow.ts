/** The methods a route answers; any other gets the route's own 405. */
import { text } from "./_response.ts";
import type { Step } from "./compose.ts";

/** Builds the step that answers `refuse()` to a method not in `methods`. */
export function allow(methods: readonly string[], refuse: () => Response): Step {
  return (exchange, next) =>
    methods.includes(exchange.request.method) ? next(exchange) : Promise.resolve(refuse());
}

/** The methods of a route that is only read. */
export const READ_METHODS = ["GET", "HEAD"];

/** The 405 of a route that is only read. */
export function getOnly(): Response {
  return text(405, "Method Not Allowed: use GET\n", { allow: "GET, HEAD" });
}
