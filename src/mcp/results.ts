/** The result objects of SPEC section 3, with the schemas `tools/list` publishes for them. */
import { z } from "zod";

/** Prefix of every authentication failure, as the seed's clients match it. */
export const AUTH_PREFIX = "❌ Authentication failed: ";

/** `track_session_start`'s result. */
export const StartResultSchema = z.object({
  session_id: z.string().nullable().describe("The session's id; null on error."),
  status: z.enum(["tracked", "error"]),
  error: z.string().nullable(),
});
export type StartResult = z.output<typeof StartResultSchema>;

/** `track_session_end`'s result. */
export const EndResultSchema = z.object({
  session_id: z.string().nullable().describe("The id as given; null on an authentication error."),
  status: z.enum(["ended", "not_found", "error"]),
  error: z.string().nullable(),
});
export type EndResult = z.output<typeof EndResultSchema>;

/** A published JSON Schema object, as MCP's `inputSchema`/`outputSchema` want it. */
export type JsonSchemaObject = { type: "object"; [key: string]: unknown };

/** Converts a zod object schema to the JSON Schema `tools/list` publishes. */
export function publish(schema: z.ZodType, io: "input" | "output"): JsonSchemaObject {
  const { $schema: _drop, ...json } = z.toJSONSchema(schema, { io }) as Record<string, unknown>;
  return { ...json, type: "object" };
}
