/**
 * The one error a store throws, whatever the engine behind it: its kind says what went
 * wrong in terms every caller can act on, and its message says it in words that never
 * hold a password, a token or a record. The MCP tools map it once to their
 * `store error: ...` text (src/mcp/tool.ts).
 *
 * @example
 * ```ts
 * throw new StoreError("timeout", "the store did not answer a start within 4.5 s");
 * ```
 */

/**
 * - `busy`: other writers held the store for longer than a call waits
 * - `timeout`: the store did not answer within the call's deadline
 * - `unavailable`: the store cannot be reached or refused the work (down, restarting)
 * - `conflict`: the data kept changing under a read-modify-write
 * - `closed`: the store was closed and takes no more work
 * - `failed`: anything else the engine reported
 */
export type StoreErrorKind = "busy" | "timeout" | "unavailable" | "conflict" | "closed" | "failed";

/** A store operation that failed; `code` is the engine's own code where it has one. */
export class StoreError extends Error {
  override name = "StoreError";
  constructor(
    readonly kind: StoreErrorKind,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** How long one call of a store may take from when it was made (SPEC 8.3: within 5 s). */
export const CALL_DEADLINE_MS = 4500;

/** The error of a call that did not finish within {@linkcode CALL_DEADLINE_MS}. */
export function lateError(what: string, ms: number = CALL_DEADLINE_MS): StoreError {
  return new StoreError("timeout", `the store did not answer ${what} within ${ms / 1000} s`);
}
