/** Arguments of the reading tools and the heartbeat, as schemas that validate and publish. */
import { z } from "zod";
import { COMPONENT_PATTERN } from "./events.ts";
import { instant, quote, text, typeReason } from "./fields.ts";
import { ISO_EXAMPLE } from "./timestamp.ts";

const token = z.string().nullable().optional().describe(
  "JWT (HS256); required when the server has SESSION_BUDDY_SECRET set, otherwise ignored.",
);

function oneOf<const T extends readonly [string, ...string[]]>(
  field: string,
  values: T,
  fallback: T[number],
  description: string,
) {
  return z.enum(values, {
    error: (iss) =>
      iss.input === undefined
        ? `Missing required field: ${field}`
        : `Invalid ${field} '${quote(iss.input)}': expected one of ${values.join(", ")}`,
  }).default(fallback as never).describe(description);
}

const sessionId = text("session_id", 1, 200, "A session id as track_session_start returned it.");

/** `get_session` arguments. */
export const GetSessionSchema = z.object({ session_id: sessionId, token });

/** `track_session_heartbeat` arguments. */
export const HeartbeatSchema = z.object({
  session_id: sessionId,
  timestamp: instant("timestamp", `The shell's clock now, ISO 8601 (e.g. ${ISO_EXAMPLE}).`),
  token,
});

/** `list_sessions` arguments. */
export const ListSessionsSchema = z.object({
  status: oneOf(
    "status",
    ["active", "ended", "stale", "all"] as const,
    "all",
    "Which sessions: active (running and recently seen), ended, stale (active but not seen for the stale-after period) or all (default).",
  ),
  component_name: z.string({
    error: (iss) => typeReason("component_name", "a string", iss.input),
  }).trim().regex(new RegExp(COMPONENT_PATTERN), {
    error: (iss) =>
      `Invalid component_name '${quote(iss.input)}': must match pattern ${COMPONENT_PATTERN}`,
  }).optional().describe("Only sessions of this component."),
  hostname: text("hostname", 1, 253, "Only sessions on this host.").optional(),
  username: text("username", 1, 100, "Only sessions of this user.").optional(),
  since: instant("since", "Only sessions started at or after this instant.").optional(),
  until: instant("until", "Only sessions started before this instant.").optional(),
  limit: z.number({ error: (iss) => typeReason("limit", "an integer", iss.input) })
    .int({ error: (iss) => limitReason(iss.input) })
    .min(1, { error: (iss) => limitReason(iss.input) })
    .max(500, { error: (iss) => limitReason(iss.input) })
    .default(50)
    .describe("Page size, 1-500 (default 50)."),
  cursor: z.string({ error: (iss) => typeReason("cursor", "a string", iss.input) })
    .nullable().optional()
    .describe("next_cursor of the previous page, to continue the same listing."),
  token,
});

function limitReason(input: unknown): string {
  return `Invalid limit ${quote(input)}: must be an integer from 1 to 500`;
}

/** `session_stats` arguments. */
export const SessionStatsSchema = z.object({
  since: instant("since", "Sessions started at or after this instant (default: 24 hours ago).")
    .optional(),
  until: instant("until", "Sessions started before this instant (default: now).").optional(),
  group_by: oneOf(
    "group_by",
    ["component", "hostname", "username"] as const,
    "component",
    "Group by component (default), hostname or username.",
  ),
  token,
});

export { parseArgs } from "./fields.ts";
