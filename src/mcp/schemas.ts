/**
 * Makes the JSON Schemas `tools/list` publishes from the zod schemas that validate the
 * calls, and writes them to schemas.json (`deno task schemas`). The server reads that file
 * instead of converting at start-up; tests/unit/mcp/schemas_test.ts holds the two equal.
 */
import { z } from "zod";
import { SessionEndSchema, SessionStartSchema } from "../sessions/events.ts";
import {
  GetSessionSchema,
  HeartbeatSchema,
  ListSessionsSchema,
  SessionStatsSchema,
} from "../sessions/query_args.ts";
import {
  EndResultSchema,
  GetResultSchema,
  HeartbeatResultSchema,
  type JsonSchemaObject,
  ListResultSchema,
  StartResultSchema,
  StatsResultSchema,
} from "./results.ts";

/** Each tool's argument and result schemas. */
const TOOL_SCHEMAS: Record<string, { input: z.ZodType; output: z.ZodType }> = {
  track_session_start: { input: SessionStartSchema, output: StartResultSchema },
  track_session_end: { input: SessionEndSchema, output: EndResultSchema },
  get_session: { input: GetSessionSchema, output: GetResultSchema },
  list_sessions: { input: ListSessionsSchema, output: ListResultSchema },
  session_stats: { input: SessionStatsSchema, output: StatsResultSchema },
  track_session_heartbeat: { input: HeartbeatSchema, output: HeartbeatResultSchema },
};

/** Converts a zod object schema to the JSON Schema `tools/list` publishes. */
export function publish(schema: z.ZodType, io: "input" | "output"): JsonSchemaObject {
  const { $schema: _drop, ...json } = z.toJSONSchema(schema, { io }) as Record<string, unknown>;
  return { ...json, type: "object" };
}

/** Every tool's published schemas, converted now from the zod schemas. */
export function liveSchemas(): Record<
  string,
  { input: JsonSchemaObject; output: JsonSchemaObject }
> {
  return Object.fromEntries(
    Object.entries(TOOL_SCHEMAS).map(([tool, s]) => [
      tool,
      { input: publish(s.input, "input"), output: publish(s.output, "output") },
    ]),
  );
}

if (import.meta.main) {
  const path = new URL("./schemas.json", import.meta.url);
  await Deno.writeTextFile(path, JSON.stringify(liveSchemas(), null, 2) + "\n");
  console.error(`wrote ${path.pathname}`);
}
