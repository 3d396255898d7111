/**
 * One way to define a tool. A tool file says what the tool is (name, schemas, its error
 * result) and does its work; {@linkcode defineTool} does what every tool does around that
 * work, in this order: the token check (SPEC 4), parsing the arguments, running the work,
 * turning a store failure into the tool's `store error: ...` result, the log line of every
 * failure, and the call's metrics.
 *
 * @example
 * ```ts
 * export const getSession = defineTool({
 *   name: "get_session",
 *   title: "Get one session",
 *   description: "Look up one admin shell session by its session_id.",
 *   annotations: READ_ONLY,
 *   input: GetSessionSchema,
 *   output: GetResultSchema,
 *   errorPrefix: "Session lookup failed",
 *   errorResult: (error) => ({ status: "error", session: null, error }),
 *   async run({ session_id }, { deps }) {
 *     const found = await deps.store.get(session_id);
 *     if (!found) return { status: "not_found", session: null, error: null };
 *     const session = viewOf(found, deps.now().getTime(), deps.staleAfterMs);
 *     return { status: "found", session, error: null };
 *   },
 * });
 * ```
 */
import type { z } from "zod";
import { parseArgs, type Parsed } from "../sessions/fields.ts";
import { publishedSchema } from "./results.ts";
import type { RequestContext } from "./rpc.ts";
import {
  authenticate,
  type ServerDeps,
  storeReason,
  type Tool,
  type ToolAnnotations,
  type ToolDefinition,
} from "./tool.ts";

/**
 * What every tool result holds besides its own fields. Naming the `"error"` status keeps
 * TypeScript from widening the literal statuses that tool files write to `string`.
 */
// deno-lint-ignore ban-types
export type ResultShape = { status: "error" | (string & {}); error: string | null };

/** The annotations of a tool that only reads. */
export const READ_ONLY: ToolAnnotations = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
};

/** The annotations of a tool that writes, where sending the same call again does no harm. */
export const IDEMPOTENT_WRITE: ToolAnnotations = {
  readOnlyHint: false,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
};

/** What a tool's work is handed besides its parsed arguments. */
export interface ToolContext<R> {
  deps: ServerDeps;
  /** Whom the token names (its `user_id`, or `sub`); null when no secret is set. */
  trackedBy: string | null;
  /** Aborted when the client cancels the call. */
  signal?: AbortSignal;
  /** Logs `<errorPrefix>: <reason>` as a WARNING and gives the tool's error result with it. */
  fail(reason: string): R;
}

/** A tool as its file defines it; see {@linkcode defineTool}. */
export interface ToolSpec<I extends z.ZodType, R extends ResultShape, A> {
  name: string;
  title: string;
  /** Written for the model that reads `tools/list`. */
  description: string;
  annotations: ToolAnnotations;
  /** The arguments' schema, published (from schemas.json) as the `inputSchema`. */
  input: I;
  /** The result's schema, published as the `outputSchema`. */
  output: z.ZodType<R>;
  /** Parses the arguments when `parseArgs(input, args)` is not the way (a faster path). */
  parse?: (args: unknown) => Parsed<A>;
  /** Starts every failure's text: `<errorPrefix>: <reason>`. */
  errorPrefix: string;
  /**
   * The tool's result for a failure whose text is `error`. `args` are the call's arguments,
   * or undefined when the token was refused: an unauthenticated call's arguments are never
   * echoed (SPEC 4: `session_id` null).
   */
  errorResult(error: string, args: unknown): NoInfer<R>;
  /**
   * Whether the work hands `signal` to the store: a store call that fails after the client
   * cancelled is then nobody's failure, logged at DEBUG as `cancelled by the client`.
   */
  cancellable?: boolean;
  /** The tool's work; what it throws is a store failure. */
  run(args: A, context: ToolContext<NoInfer<R>>): Promise<NoInfer<R>>;
}

type Level = "debug" | "warning" | "error";

/** Builds a {@linkcode Tool} from its definition; `createServer` registers it. */
export function defineTool<
  I extends z.ZodType,
  R extends ResultShape,
  A = z.output<I>,
>(spec: ToolSpec<I, R, A>): Tool {
  const parse = spec.parse ?? ((args: unknown) => parseArgs(spec.input, args) as Parsed<A>);

  async function answer(deps: ServerDeps, args: unknown, context: RequestContext): Promise<R> {
    const auth = await authenticate(deps, spec.name, args, context);
    if (!auth.ok) return spec.errorResult(auth.error, undefined);
    const failure = (reason: string, level: Level): R => {
      const error = `${spec.errorPrefix}: ${reason}`;
      deps.log[level](error);
      return spec.errorResult(error, args);
    };
    const parsed = parse(args);
    if (!parsed.ok) return failure(parsed.reason, "warning");
    try {
      return await spec.run(parsed.value, {
        deps,
        trackedBy: auth.trackedBy,
        signal: context.signal,
        fail: (reason) => failure(reason, "warning"),
      });
    } catch (error) {
      // A cancelled call's answer is never sent.
      if (spec.cancellable && context.signal?.aborted) {
        return failure("cancelled by the client", "debug");
      }
      deps.metrics?.storeError();
      return failure(storeReason(error), "error");
    }
  }

  let definition: ToolDefinition | undefined;
  return {
    name: spec.name,
    input: spec.input,
    output: spec.output,
    // Read when first listed, so that `deno task schemas` can load the tools to make the
    // schemas.json this reads.
    get definition() {
      return definition ??= {
        name: spec.name,
        title: spec.title,
        description: spec.description,
        inputSchema: publishedSchema(spec.name, "input"),
        outputSchema: publishedSchema(spec.name, "output"),
        annotations: { title: spec.title, ...spec.annotations },
      };
    },
    async call(deps, args, context) {
      const began = performance.now();
      const result = await answer(deps, args, context);
      deps.metrics?.toolCall(spec.name, result.status, (performance.now() - began) / 1000);
      return result;
    },
  };
}
