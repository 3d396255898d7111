/**
 * Arguments of `import_sessions`: a batch of records as `sessions export` writes them. The
 * zod schema is what `tools/list` publishes; the records themselves are read by
 * `parseExportedRecord`, the same reading `sessions import` gives a file, and a batch is
 * taken whole or not at all.
 */
import { z } from "zod";
import { SessionStartSchema } from "./events.ts";
import { parseExportedRecord } from "./exported.ts";
import { isJsonObject, jsonType, type Parsed, typeReason } from "./fields.ts";
import type { SessionRecord } from "./session.ts";
import { ISO_EXAMPLE } from "./timestamp.ts";

/** Most records one call may carry. */
export const MAX_IMPORT_RECORDS = 1000;

const time = (what: string) => z.string().describe(`${what}, ISO 8601 (e.g. ${ISO_EXAMPLE}).`);

/** One exported session record, as published; extra fields are kept as they are. */
const ExportedRecordSchema = SessionStartSchema.omit({ token: true }).extend({
  event_id: SessionStartSchema.shape.event_id.describe(
    "The UUID v4 of the session's start event: a record of an event already stored updates that session.",
  ),
  session_id: z.string().min(1).max(200).describe("The session's id in the store it comes from."),
  origin_session_id: z.string().min(1).optional().describe(
    "The id the session had before an earlier move gave it this one.",
  ),
  status: z.enum(["active", "ended", "stale"]),
  started_at: time("The start instant"),
  ended_at: time("The end instant").nullable(),
  duration_seconds: z.number().min(0).nullable(),
  end_metadata: z.record(z.string(), z.unknown()).nullable(),
  end_source: z.enum(["client", "reaper"]).nullable(),
  last_seen_at: time("When the session was last heard of"),
  tracked_by: z.string().nullable(),
}).loose().describe(
  "One session record exactly as `session-buddy sessions export` writes it (one line of its output).",
);

/** `import_sessions` arguments, as `tools/list` publishes them. */
export const ImportSessionsSchema = z.object({
  records: z.array(ExportedRecordSchema).min(1).max(MAX_IMPORT_RECORDS).describe(
    `1-${MAX_IMPORT_RECORDS} session records. Every one is checked before any is written: one invalid record refuses the whole call.`,
  ),
  token: z.string().nullable().optional().describe(
    "JWT (HS256); required when the server has SESSION_BUDDY_SECRET set, otherwise ignored.",
  ),
});

/**
 * Reads the records of an `import_sessions` call, every one before any is written; the
 * reason of a refusal names the first bad record by its index.
 */
export function parseImportArgs(args: unknown): Parsed<SessionRecord[]> {
  if (!isJsonObject(args)) {
    return { ok: false, reason: `Invalid arguments: expected an object, got ${jsonType(args)}` };
  }
  const given = args.records;
  if (!Array.isArray(given)) {
    return { ok: false, reason: typeReason("records", "an array of session records", given) };
  }
  if (given.length < 1 || given.length > MAX_IMPORT_RECORDS) {
    return {
      ok: false,
      reason:
        `Invalid records: ${given.length} records, expected 1-${MAX_IMPORT_RECORDS} in one call`,
    };
  }
  const records: SessionRecord[] = [];
  for (let i = 0; i < given.length; i++) {
    const parsed = parseExportedRecord(given[i]);
    if (!parsed.ok) return { ok: false, reason: `records[${i}]: ${parsed.reason}` };
    records.push(parsed.value);
  }
  return { ok: true, value: records };
}

/** `import_history` arguments (SPEC 10), as `tools/list` publishes them. */
export const ImportHistorySchema = z.object({
  entries: z.array(z.object({}).loose()).max(1000).optional().describe(
    "History entries of the forwarding host's store, as `sessions export` writes them after the records.",
  ),
  seals: z.array(z.object({}).loose()).max(1000).optional().describe(
    "Seals of the forwarding host's store.",
  ),
  heads: z.record(z.string(), z.object({ s: z.number().int().min(0), h: z.string() }))
    .optional().describe("The head (last seq and hash) of each of the host's chains now."),
  token: z.string().nullable().optional().describe(
    "JWT (HS256); required when the server has SESSION_BUDDY_SECRET set, otherwise ignored.",
  ),
});
