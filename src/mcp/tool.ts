/** What every tool is made of, and the helpers tools share. */
import type { Verifier } from "../auth/verifier.ts";
import type { Log } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { SessionStore } from "../store/port.ts";
import { isJsonObject } from "../sessions/fields.ts";
import type { z } from "zod";
import { StoreError } from "../store/errors.ts";
import { AUTH_PREFIX, type JsonSchemaObject } from "./results.ts";
import type { RequestContext } from "./rpc.ts";

/** What the server is built from; `main` and the tests hand over the real parts. */
export interface ServerDeps {
  store: SessionStore;
  verify: Verifier;
  log: Log;
  now: () => Date;
  /** An active session not seen for this long is reported stale. */
  staleAfterMs: number;
  /** Whether calls must carry a valid token (a secret is configured). */
  authRequired: boolean;
  version: string;
  /** Where tool calls and refused tokens are counted (HTTP mode, for /metrics). */
  metrics?: Metrics;
}

/** MCP's hints about what a tool does. */
export interface ToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

/** A tool as `tools/list` publishes it. */
export interface ToolDefinition {
  name: string;
  title: string;
  description: string;
  inputSchema: JsonSchemaObject;
  outputSchema: JsonSchemaObject;
  annotations: { title: string } & ToolAnnotations;
}

/** A tool the server can list and call; made by `defineTool` (define_tool.ts). */
export interface Tool {
  readonly name: string;
  /** The zod schemas its arguments are parsed with and its results follow. */
  readonly input: z.ZodType;
  readonly output: z.ZodType;
  readonly definition: ToolDefinition;
  /** Answers one call with the tool's result, an error result included; never throws. */
  call(
    deps: ServerDeps,
    args: unknown,
    context: RequestContext,
  ): Promise<{ status: string; error: string | null }>;
}

/** One argument of a call whose arguments may not even be an object. */
export function argOf(args: unknown, name: string): unknown {
  return isJsonObject(args) ? args[name] : undefined;
}

/** The `session_id` argument as given, when it is a string: what error results echo. */
export function givenSessionId(args: unknown): string | null {
  const given = argOf(args, "session_id");
  return typeof given === "string" ? given : null;
}

/**
 * The reason a tool's result gives for a failed store call, the one place a
 * {@linkcode StoreError} becomes text: every store error reads `store error: <message>`,
 * but for a store busy with other writers.
 */
export function storeReason(error: unknown): string {
  if (error instanceof StoreError && error.kind === "busy") {
    return `store is busy: ${error.message}`;
  }
  return `store error: ${error instanceof Error ? error.message : String(error)}`;
}

/** Wraps a result object as MCP wants it: structured, and as JSON text for older clients. */
export function toolResult(result: Record<string, unknown>) {
  return {
    content: [{ type: "text" as const, text: JSON.stringify(result) }],
    structuredContent: result,
  };
}

/**
 * Checks a call's token before anything else: the request's own credentials when its
 * transport verified them (an HTTP bearer token stands for the `token` argument), else the
 * argument. A failure is logged and comes back as the contract's error text; a token or
 * claim value never appears in either.
 */
export async function authenticate(
  deps: Pick<ServerDeps, "verify" | "log" | "metrics">,
  tool: string,
  args: unknown,
  context: RequestContext,
): Promise<{ ok: true; trackedBy: string | null } | { ok: false; error: string }> {
  if (context.auth) return context.auth;
  const auth = await deps.verify(argOf(args, "token"));
  if (auth.ok) return auth;
  deps.log.warning(`Authentication failed on ${tool}: ${auth.reason}`);
  deps.metrics?.authFailure();
  return { ok: false, error: AUTH_PREFIX + auth.reason };
}
