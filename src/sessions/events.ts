/**
 * The two lifecycle events admin shells send, as schemas that both validate calls and
 * publish the JSON Schemas of `tools/list`.
 */
import { z } from "zod";
import {
  constant,
  instant,
  isJsonObject,
  jsonBytes,
  jsonDepth,
  jsonObject,
  MAX_JSON_DEPTH,
  parseArgs,
  type Parsed,
  quote,
  text,
  typeReason,
} from "./fields.ts";
import { ISO_EXAMPLE, parseInstant } from "./timestamp.ts";

/** Largest `metadata` object, as compact UTF-8 JSON. */
export const MAX_METADATA_BYTES = 16 * 1024;
/** Largest `environment` object, as compact UTF-8 JSON. */
export const MAX_ENVIRONMENT_BYTES = 8 * 1024;
/** Highest process id Linux hands out (`pid_max` on 64-bit). */
export const MAX_PID = 4_194_304;
/** Pattern of a component name, as the error text quotes it. */
export const COMPONENT_PATTERN = "^[a-zA-Z0-9_-]+$";

const COMPONENT_RE = new RegExp(COMPONENT_PATTERN);
const UUID_V4_RE =
  /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$/;

const token = z.string().nullable().optional().describe(
  "JWT (HS256) from `session-buddy token`; required when the server has SESSION_BUDDY_SECRET set, otherwise ignored.",
);

function timestamp(description: string) {
  return instant("timestamp", description);
}

const environment = z.object({
  python_version: text("environment.python_version", 1, 100, "Runtime version of the shell."),
  platform: text("environment.platform", 1, 200, "Operating system / platform string."),
  cwd: text("environment.cwd", 1, 500, "Working directory the shell started in."),
}, { error: (iss) => typeReason("environment", "an object", iss.input) })
  .catchall(z.string({
    error: (iss) => `Invalid environment.${String(iss.path?.at(-1) ?? "")}: expected a string`,
  }))
  .superRefine((value, ctx) => {
    const size = jsonBytes(value);
    if (size > MAX_ENVIRONMENT_BYTES) {
      ctx.addIssue({
        code: "custom",
        message:
          `Invalid environment: ${size} bytes as JSON, at most ${MAX_ENVIRONMENT_BYTES} allowed`,
      });
    }
  })
  .describe("Where the shell runs; further string keys are kept as sent.");

/** Arguments of `track_session_start`. */
export const SessionStartSchema = z.object({
  event_version: z.literal("1.0", {
    error: (iss) =>
      iss.input === undefined
        ? "Missing required field: event_version"
        : `Unsupported event version: ${quote(iss.input)} (expected '1.0')`,
  }).describe('Event schema version; must be "1.0".'),
  event_id: z.string({ error: (iss) => typeReason("event_id", "a string", iss.input) })
    .trim()
    .regex(UUID_V4_RE, { error: (iss) => `Invalid UUID v4 format: ${quote(iss.input)}` })
    // One event, one key: retries that differ only in hex case are the same event.
    .toLowerCase()
    .describe(
      "UUID v4 chosen by the client for this start event. Send the same one again on retry: the server returns the same session_id and stores nothing new.",
    ),
  event_type: constant("event_type", "session_start", 'Always "session_start" (the default).'),
  component_name: z.string({
    error: (iss) => typeReason("component_name", "a string", iss.input),
  })
    .trim()
    .min(1, { error: (iss) => componentReason(iss.input, "must be 1-64 characters") })
    .max(64, { error: (iss) => componentReason(iss.input, "must be 1-64 characters") })
    .regex(COMPONENT_RE, {
      error: (iss) => componentReason(iss.input, `must match pattern ${COMPONENT_PATTERN}`),
    })
    .describe('Component the shell belongs to, e.g. "mahavishnu"; it starts the session id.'),
  shell_type: text("shell_type", 1, 100, 'Shell implementation, e.g. "MahavishnuShell".'),
  timestamp: timestamp(
    `Start instant, ISO 8601 (e.g. ${ISO_EXAMPLE}); no offset means UTC.`,
  ),
  pid: z.number({ error: (iss) => typeReason("pid", "an integer", iss.input) })
    .int({ error: (iss) => pidReason(iss.input) })
    .min(1, { error: (iss) => pidReason(iss.input) })
    .max(MAX_PID, { error: (iss) => pidReason(iss.input) })
    .describe("Process id of the shell."),
  user: z.object({
    username: text("user.username", 1, 100, "Login name of the person in the shell."),
    home: text("user.home", 1, 500, "Home directory of that user."),
  }, { error: (iss) => typeReason("user", "an object", iss.input) })
    .describe("Who runs the shell."),
  hostname: text("hostname", 1, 253, "Host the shell runs on."),
  environment,
  metadata: jsonObject(
    "metadata",
    MAX_METADATA_BYTES,
    "Optional free-form JSON object (at most 16 KiB as JSON, 64 levels deep), stored with the session.",
  ),
  token,
});

function componentReason(input: unknown, rule: string): string {
  return `Invalid component_name '${quote(input)}': ${rule}`;
}

function pidReason(input: unknown): string {
  return `Invalid pid ${quote(input)}: must be an integer from 1 to ${MAX_PID}`;
}

/** Arguments of `track_session_end`. */
export const SessionEndSchema = z.object({
  session_id: text(
    "session_id",
    1,
    200,
    "The session_id that track_session_start returned.",
  ),
  timestamp: timestamp(`End instant, ISO 8601 (e.g. ${ISO_EXAMPLE}); no offset means UTC.`),
  event_type: constant("event_type", "session_end", 'Always "session_end" (the default).'),
  metadata: jsonObject(
    "metadata",
    MAX_METADATA_BYTES,
    'Optional JSON object (at most 16 KiB as JSON, 64 levels deep), e.g. {"exit_reason": "user_exit"}.',
  ),
  token,
});

/** A validated start event; the token is never part of it. */
export type SessionStartEvent = Omit<z.output<typeof SessionStartSchema>, "token">;
/** A validated end event; the token is never part of it. */
export type SessionEndEvent = Omit<z.output<typeof SessionEndSchema>, "token">;

function parseWith<S extends z.ZodType>(
  schema: S,
  args: unknown,
): Parsed<Omit<z.output<S>, "token">> {
  return parseArgs(schema, args) as Parsed<Omit<z.output<S>, "token">>;
}

/** Validates `track_session_start` arguments into a start event. */
export function parseStartEvent(args: unknown): Parsed<SessionStartEvent> {
  const quick = quickStart(args);
  return quick ? { ok: true, value: quick } : parseWith(SessionStartSchema, args);
}

/** A string field trimmed and within `min`-`max` characters, or undefined. */
function trimmed(value: unknown, min: number, max: number): string | undefined {
  if (typeof value !== "string") return undefined;
  const text = value.trim();
  return text.length >= min && text.length <= max ? text : undefined;
}

/** Whether a value's compact JSON fits `maxBytes` of UTF-8 (3 bytes per unit at most). */
function fits(value: unknown, maxBytes: number): boolean {
  const json = JSON.stringify(value);
  return json.length * 3 <= maxBytes || jsonBytes(value) <= maxBytes;
}

/**
 * The start event of arguments that are plainly valid, built without zod, which is most of
 * a start's own work; undefined when anything is unusual or wrong, and then the schema
 * decides and words the error. tests/unit/sessions/quick_start_test.ts holds the two to
 * the same result on generated arguments.
 */
export function quickStart(args: unknown): SessionStartEvent | undefined {
  if (!isJsonObject(args)) return undefined;
  const { user, environment: env, metadata, pid } = args;
  if (args.event_version !== "1.0") return undefined;
  if (args.event_type !== undefined && args.event_type !== "session_start") return undefined;
  if (typeof args.event_id !== "string") return undefined;
  const eventId = args.event_id.trim();
  if (!UUID_V4_RE.test(eventId)) return undefined;
  const component = trimmed(args.component_name, 1, 64);
  if (component === undefined || !COMPONENT_RE.test(component)) return undefined;
  const shellType = trimmed(args.shell_type, 1, 100);
  const hostname = trimmed(args.hostname, 1, 253);
  if (shellType === undefined || hostname === undefined) return undefined;
  if (typeof args.timestamp !== "string") return undefined;
  const timestamp = args.timestamp.trim();
  if (parseInstant(timestamp) === null) return undefined;
  if (typeof pid !== "number" || !Number.isInteger(pid) || pid < 1 || pid > MAX_PID) {
    return undefined;
  }
  if (!isJsonObject(user)) return undefined;
  const username = trimmed(user.username, 1, 100);
  const home = trimmed(user.home, 1, 500);
  if (username === undefined || home === undefined) return undefined;
  if (!isJsonObject(env)) return undefined;
  const python_version = trimmed(env.python_version, 1, 100);
  const platform = trimmed(env.platform, 1, 200);
  const cwd = trimmed(env.cwd, 1, 500);
  if (python_version === undefined || platform === undefined || cwd === undefined) {
    return undefined;
  }
  const environment: SessionStartEvent["environment"] = { python_version, platform, cwd };
  for (const [key, value] of Object.entries(env)) {
    if (key === "python_version" || key === "platform" || key === "cwd") continue;
    // An own "__proto__" key is left to the schema, which knows how to copy it.
    if (typeof value !== "string" || key === "__proto__") return undefined;
    environment[key] = value;
  }
  if (!fits(environment, MAX_ENVIRONMENT_BYTES)) return undefined;
  const event: SessionStartEvent = {
    event_version: "1.0",
    event_id: eventId.toLowerCase(),
    event_type: "session_start",
    component_name: component,
    shell_type: shellType,
    timestamp,
    pid,
    user: { username, home },
    hostname,
    environment,
  };
  if (metadata === null) event.metadata = null;
  // Like the schema's: a metadata key given as undefined stays, an absent one stays absent.
  else if (metadata === undefined) {
    if ("metadata" in args) event.metadata = undefined;
  } else {
    if (!isJsonObject(metadata) || Object.hasOwn(metadata, "__proto__")) return undefined;
    if (jsonDepth(metadata) > MAX_JSON_DEPTH) return undefined;
    if (!fits(metadata, MAX_METADATA_BYTES)) return undefined;
    event.metadata = { ...metadata };
  }
  return event;
}

/** Validates `track_session_end` arguments into an end event. */
export function parseEndEvent(args: unknown): Parsed<SessionEndEvent> {
  return parseWith(SessionEndSchema, args);
}
