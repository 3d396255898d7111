/**
 * Records as `sessions export` writes them (one JSON object per line), read back for
 * `sessions import`: the start fields are held to the rules of `track_session_start`,
 * the lifecycle fields to their types, and the derived status `stale` becomes the
 * stored `active` again.
 */
import { parseStartEvent } from "./events.ts";
import { isJsonObject, type Parsed } from "./fields.ts";
import type { SessionRecord } from "./session.ts";
import { parseInstant } from "./timestamp.ts";

/** The reason a field is not an ISO 8601 time (or, when `nullable`, null), or null. */
function instantProblem(
  record: Record<string, unknown>,
  name: string,
  nullable: boolean,
): string | null {
  const value = record[name];
  if (value === null && nullable) return null;
  if (typeof value === "string" && parseInstant(value) !== null) return null;
  return `Invalid ${name}: expected an ISO 8601 time${nullable ? " or null" : ""}`;
}

/** Reads one exported record; the reason of a failure names the field. */
export function parseExportedRecord(value: unknown): Parsed<SessionRecord> {
  if (!isJsonObject(value)) {
    return { ok: false, reason: "expected a JSON object (a session record)" };
  }
  const id = value.session_id;
  if (typeof id !== "string" || id.length < 1 || id.length > 200) {
    return { ok: false, reason: "Invalid session_id: expected a string of 1-200 characters" };
  }
  // No session is ever given such an id, and a database could not hold it as a key.
  if (id.includes("\u0000") || !id.isWellFormed()) {
    return { ok: false, reason: "Invalid session_id: U+0000 and lone surrogates are not allowed" };
  }
  const origin = value.origin_session_id;
  if (origin !== undefined && !(typeof origin === "string" && origin.length >= 1)) {
    return { ok: false, reason: "Invalid origin_session_id: expected a non-empty string" };
  }
  const start = parseStartEvent({ ...value, event_type: value.event_type ?? "session_start" });
  if (!start.ok) return start;
  const timeProblem = instantProblem(value, "started_at", false) ??
    instantProblem(value, "ended_at", true) ?? instantProblem(value, "last_seen_at", false);
  if (timeProblem) return { ok: false, reason: timeProblem };
  const status = value.status;
  if (status !== "active" && status !== "ended" && status !== "stale") {
    return { ok: false, reason: "Invalid status: expected active, ended or stale" };
  }
  if ((status === "ended") !== (value.ended_at !== null)) {
    return { ok: false, reason: "Invalid ended_at: an ended session has one, any other none" };
  }
  const duration = value.duration_seconds;
  if (duration !== null && !(typeof duration === "number" && duration >= 0)) {
    return { ok: false, reason: "Invalid duration_seconds: expected a number of seconds or null" };
  }
  const endMeta = value.end_metadata;
  if (endMeta !== null && !isJsonObject(endMeta)) {
    return { ok: false, reason: "Invalid end_metadata: expected an object or null" };
  }
  const source = value.end_source;
  if (source !== null && source !== "client" && source !== "reaper") {
    return { ok: false, reason: "Invalid end_source: expected client, reaper or null" };
  }
  const by = value.tracked_by;
  if (by !== null && typeof by !== "string") {
    return { ok: false, reason: "Invalid tracked_by: expected a string or null" };
  }
  // Stale is derived when a record is read; stored, such a session is active. A record never
  // holds a token (SPEC 4): one that came along with it, from a careless client, is dropped.
  const { token: _token, ...fields } = value;
  const record = { ...fields, status: status === "ended" ? "ended" : "active" };
  return { ok: true, value: record as unknown as SessionRecord };
}
