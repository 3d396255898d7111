/** The result objects of SPEC section 3, with the schemas `tools/list` publishes for them. */
import { z } from "zod";
import published from "./schemas.json" with { type: "json" };

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

const record = z.record(z.string(), z.unknown()).describe(
  "A session record: every start field as sent, started_at, ended_at, duration_seconds, end_metadata, end_source, last_seen_at, tracked_by and status (active, ended or stale).",
);

/** `get_session`'s result. */
export const GetResultSchema = z.object({
  status: z.enum(["found", "not_found", "error"]),
  session: record.nullable(),
  error: z.string().nullable(),
});
/** `list_sessions`'s result. */
export const ListResultSchema = z.object({
  status: z.enum(["ok", "error"]),
  sessions: z.array(record),
  next_cursor: z.string().nullable(),
  error: z.string().nullable(),
});
/** `session_stats`'s result. */
export const StatsResultSchema = z.object({
  status: z.enum(["ok", "error"]),
  groups: z.array(z.object({
    key: z.string(),
    active: z.number(),
    ended: z.number(),
    stale: z.number(),
    duration_seconds: z.object({ mean: z.number(), p50: z.number(), p95: z.number() })
      .nullable(),
  })),
  error: z.string().nullable(),
});
/** `track_session_heartbeat`'s result. */
export const HeartbeatResultSchema = z.object({
  session_id: z.string().nullable(),
  status: z.enum(["alive", "not_found", "error"]),
  error: z.string().nullable(),
});

/** `import_sessions`'s result. */
export const ImportResultSchema = z.object({
  status: z.enum(["imported", "error"]),
  outcomes: z.array(z.object({
    event_id: z.string(),
    session_id: z.string().describe("The id the record is stored under in this store now."),
    kind: z.enum(["written", "renumbered", "updated", "unchanged"]).describe(
      "written: stored under its own id; renumbered: its id belonged to another event, so it took the next free id of its base and keeps its former id as origin_session_id; updated: its event was stored and took what the record adds (an end, a later last_seen_at); unchanged: nothing new.",
    ),
  })).nullable().describe("One per record, in the order of the records; null on error."),
  error: z.string().nullable(),
});
export type ImportResult = z.output<typeof ImportResultSchema>;

/** What `import_history` answers: how many copies were new, held already, or differed. */
export const ImportHistoryResultSchema = z.object({
  status: z.enum(["imported", "error"]),
  written: z.number().int(),
  unchanged: z.number().int(),
  conflicts: z.number().int().describe(
    "Items that differ from the copy held, or heads behind it: sessions verify names them.",
  ),
  error: z.string().nullable(),
});

/** A published JSON Schema object, as MCP's `inputSchema`/`outputSchema` want it. */
export type JsonSchemaObject = { type: "object"; [key: string]: unknown };

/**
 * The JSON Schema `tools/list` publishes for a tool's arguments or result. They are made
 * from the zod schemas by `deno task schemas` (src/mcp/schemas.ts) and read from
 * schemas.json here, because converting them at start-up took a tenth of a cold start; a
 * unit test fails when the file no longer matches the zod schemas.
 */
export function publishedSchema(tool: string, io: "input" | "output"): JsonSchemaObject {
  const schemas = (published as Record<string, Record<string, JsonSchemaObject>>)[tool];
  const schema = schemas?.[io];
  if (!schema) throw new Error(`No published ${io} schema for ${tool}: run deno task schemas`);
  return schema;
}
