/**
 * fast-check generators for the fuzz test: calls of every tool, each with what the
 * contract says must come of it. Validity is decided here from the contract's rules
 * (trimmed lengths, patterns, calendar instants), not by asking the server's own code.
 */
import fc from "fast-check";
import { RawJson } from "./raw.ts";

/** The contract's size limits, restated from SPEC 3.1 (not imported from the source). */
export const LIMITS = {
  component: 64,
  shellType: 100,
  username: 100,
  home: 500,
  hostname: 253,
  pythonVersion: 100,
  platform: 200,
  cwd: 500,
  sessionId: 200,
  pid: 4_194_304,
  metadataBytes: 16 * 1024,
  metadataDepth: 64,
} as const;

/** Every status a tool may answer with (SPEC 3). */
export const STATUSES: Record<string, string[]> = {
  track_session_start: ["tracked", "error"],
  track_session_end: ["ended", "not_found", "error"],
  track_session_heartbeat: ["alive", "not_found", "error"],
  get_session: ["found", "not_found", "error"],
  list_sessions: ["ok", "error"],
  session_stats: ["ok", "error"],
};

/** How each tool's own error texts begin. */
export const PREFIX: Record<string, string> = {
  track_session_start: "Session start tracking failed: ",
  track_session_end: "Session end tracking failed: ",
  track_session_heartbeat: "Session heartbeat failed: ",
  get_session: "Session lookup failed: ",
  list_sessions: "Session listing failed: ",
  session_stats: "Session stats failed: ",
};
export const AUTH = "❌ Authentication failed: ";
export const TOOLS = Object.keys(STATUSES);

const SPECIAL = [
  "\u0000",
  "\u0001",
  "\u0007",
  "\u001b",
  "\u007f",
  "\t",
  "\n",
  "\r",
  " ",
  "\u00a0",
  "\u2028",
  "\u2029",
  "\ufeff",
  "\u200b",
  "\u202e",
  "é",
  "ß",
  "Ω",
  "中",
  "😀",
  "👩‍👩‍👧",
  "\ud800",
  "\udfff",
  '"',
  "\\",
  "'",
  "<",
  "%s",
  "${x}",
  "null",
];

/** One unit of text: mostly printable ASCII, often control, unicode and odd code units. */
const unit = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }) },
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
);

/** Any text, up to `max` units. */
export const anyText = (max: number) => fc.string({ unit, maxLength: max });

/** Whether a text field holds: a string whose trimmed length is within bounds. */
export function textOk(value: unknown, min: number, max: number): boolean {
  if (typeof value !== "string") return false;
  const t = value.trim();
  return t.length >= min && t.length <= max;
}

/** A text field's value: valid most of the time, often at or just past a boundary. */
export function textValue(max: number) {
  const x = fc.constantFrom("x", "é", "中");
  return fc.oneof(
    { weight: 6, arbitrary: anyText(Math.min(max, 40)) },
    { weight: 1, arbitrary: x.map((c) => c.repeat(max)) },
    { weight: 1, arbitrary: x.map((c) => `  ${c.repeat(max)}\t`) },
    { weight: 1, arbitrary: x.map((c) => c.repeat(max + 1)) },
    { weight: 1, arbitrary: fc.constantFrom("", "   ", "\n\t", "\u00a0\ufeff") },
  );
}

const pad2 = (n: number) => String(n).padStart(2, "0");

/** A valid contract timestamp in one of its many spellings, with its instant in ms. */
export const validTimestamp = fc.record({
  ms: fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2100, 0, 1) }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        -62167219200000, // 0000-01-01T00:00:00.000Z
        253402300799999, // 9999-12-31T23:59:59.999Z
        Date.UTC(2024, 1, 29, 23, 59, 59, 999),
        0,
      ),
    },
  ),
  style: fc.constantFrom("iso", "nozone", "nofraction", "longfraction", "offset", "leap"),
  extraDigits: fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: 1, maxLength: 9 }),
  offset: fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 }),
}).map(({ ms, style, extraDigits, offset }) => {
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const year = new Date(ms).getUTCFullYear();
  const inner = year > 1 && year < 9998;
  switch (style) {
    case "nozone":
      return { text: iso.slice(0, -1), ms };
    case "nofraction":
      return { text: `${iso.slice(0, 19)}Z`, ms: ms - (ms % 1000 + 1000) % 1000 };
    case "longfraction":
      return { text: `${iso.slice(0, 23)}${extraDigits}Z`, ms };
    case "offset": {
      if (!inner) return { text: iso, ms };
      const local = new Date(ms + offset * 60_000).toISOString();
      const sign = offset < 0 ? "-" : "+";
      const abs = Math.abs(offset);
      return {
        text: `${local.slice(0, 23)}${sign}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`,
        ms,
      };
    }
    case "leap": {
      // Second 60 counts as second 59 (SPEC 3.1): write 60 for an instant at second 59.
      const at59 = ms - (new Date(ms).getUTCSeconds() - 59) * 1000;
      if (!inner) return { text: iso, ms };
      const text = new Date(at59).toISOString().replace(/:59\.(\d{3})Z$/, ":60.$1Z");
      return { text, ms: at59 };
    }
    default:
      return { text: iso, ms };
  }
});

/** Texts that look like timestamps but are not contract instants. */
export const invalidTimestamp = fc.oneof(
  fc.constantFrom(
    "2026-02-30T00:00:00Z",
    "2025-02-29T12:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-00-10T00:00:00Z",
    "2026-02-06 12:00",
    "2026-02-06T24:00:00Z",
    "2026-02-06T12:60:00Z",
    "2026-02-06T12:00:61Z",
    "2026-02-06T12:00:00+24:00",
    "2026-02-06T12:00:00+05:60",
    "2026-02-06T12:00:00.Z",
    "2026-02-06T12:00Z",
    "2026-02-06T12:00:00z",
    "2026-02-06",
    "20260206T120000Z",
    "+02026-02-06T12:00:00Z",
    "２０２６-02-06T12:00:00Z",
    "9999-12-31T23:59:59-01:00",
    "0000-01-01T00:00:00+01:00",
    "2026-02-06T12:00:00+0100",
    "2026-2-6T12:00:00Z",
    "",
    " ",
    "now",
    "1770381296",
    "2026-02-06T12:00:00.123456789012345678901234567890ZZ",
    "2026-02-06T12:00:00Z\u0000",
  ),
  fc.constantFrom<unknown>(null, 1770381296789, true, [], {}, ["2026-02-06T12:00:00Z"]),
  anyText(30).filter((s) => !/^\s*\d{4}-\d\d-\d\dT/.test(s)),
);

const uuidV4 = fc.uuid({ version: 4 });

/** A metadata object that the contract accepts (small, shallow, any JSON inside). */
const okMetadata = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.dictionary(anyText(10), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }),
  },
  { weight: 1, arbitrary: fc.constant({ note: "é😀", a: nest(LIMITS.metadataDepth - 1) }) },
  { weight: 1, arbitrary: fc.constant({ s: "x".repeat(LIMITS.metadataBytes - 8) }) }, // 16 KiB exactly
  { weight: 1, arbitrary: fc.constant(null) },
);

/** `{"a":[[...]]}`-style nesting of `levels` array levels below the object. */
function nest(levels: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

/** Metadata the contract refuses, and a word the reason must hold. */
const badMetadata = fc.constantFrom<unknown>(
  [],
  "text",
  7,
  true,
  { s: "x".repeat(LIMITS.metadataBytes - 7) }, // one byte over 16 KiB
  { a: nest(LIMITS.metadataDepth) }, // one level too deep
  // Thousands of levels, still under 16 KiB, beside non-Latin-1 text (V8 then serialises
  // recursively): sent as raw text, since serialising it here would overflow too.
  new RawJson(`{"note":"é","a":${"[".repeat(8000)}1${"]".repeat(8000)}}`),
  { big: "中".repeat(6000) }, // 18,000 bytes of UTF-8 in 6,000 characters
);

/** Arguments of a valid start event (token added by the caller). */
export const validStart = fc.record({
  event_version: fc.constant("1.0"),
  event_id: uuidV4,
  event_type: fc.constantFrom("session_start", undefined),
  component_name: fc.oneof(
    fc.stringMatching(/^[a-zA-Z0-9_-]{1,20}$/),
    fc.constantFrom("a", "x".repeat(64), "mahavishnu", "crackerjack", "-_-", "0"),
  ),
  shell_type: textValue(LIMITS.shellType).filter((s) => textOk(s, 1, LIMITS.shellType)),
  timestamp: validTimestamp,
  pid: fc.oneof(fc.integer({ min: 1, max: LIMITS.pid }), fc.constantFrom(1, LIMITS.pid)),
  user: fc.record({
    username: textValue(LIMITS.username).filter((s) => textOk(s, 1, LIMITS.username)),
    home: textValue(LIMITS.home).filter((s) => textOk(s, 1, LIMITS.home)),
  }),
  hostname: textValue(LIMITS.hostname).filter((s) => textOk(s, 1, LIMITS.hostname)),
  environment: fc.record({
    python_version: fc.constantFrom("3.13.0", "3.9", "é"),
    platform: fc.constantFrom("Linux-6.5.0-x86_64", "Darwin", "win32"),
    cwd: textValue(LIMITS.cwd).filter((s) => textOk(s, 1, LIMITS.cwd)),
  }).chain((env) =>
    fc.dictionary(fc.stringMatching(/^[A-Z_]{1,10}$/), anyText(20), { maxKeys: 3 })
      .map((extra) => ({ ...extra, ...env }))
  ),
  metadata: fc.option(okMetadata, { nil: undefined }),
  unknown_extra: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
}).map(({ timestamp, ...rest }) => ({
  args: { ...rest, timestamp: timestamp.text } as Record<string, unknown>,
  ms: timestamp.ms,
}));

/** A change that makes a valid start invalid, with a word the reason must hold. */
export const startBreak: fc.Arbitrary<{ field: string; value: unknown; mention: string }> = fc
  .oneof(
    fc.constantFrom<unknown>("2.0", 1, null, "", "1.0 ", undefined).map((value) => ({
      field: "event_version",
      value,
      mention: "event_version|event version",
    })),
    fc.oneof(
      fc.constantFrom<unknown>(
        "abc",
        "",
        7,
        null,
        undefined,
        "6ba7b810-9dad-11d1-80b4-00c04fd430c8", // v1
        "6ba7b810-9dad-41d1-c0b4-00c04fd430c8", // bad variant
      ),
      anyText(40),
    ).map((value) => ({ field: "event_id", value, mention: "UUID|event_id" })),
    fc.constantFrom<unknown>("session_end", "", 3).map((value) => ({
      field: "event_type",
      value,
      mention: "event_type",
    })),
    fc.oneof(
      fc.constantFrom<unknown>("a b", "", "   ", "x".repeat(65), "é", "a/b", "a.b", 5, null),
      anyText(20).filter((s) => !/^[a-zA-Z0-9_-]{1,64}$/.test(s.trim())),
    ).map((value) => ({ field: "component_name", value, mention: "component_name" })),
    textValue(LIMITS.shellType).filter((s) => !textOk(s, 1, LIMITS.shellType)).map((value) => ({
      field: "shell_type",
      value,
      mention: "shell_type",
    })),
    invalidTimestamp.map((value) => ({ field: "timestamp", value, mention: "timestamp" })),
    fc.constantFrom<unknown>(0, -1, 1.5, LIMITS.pid + 1, "123", null, 2 ** 53, -0.5).map((
      value,
    ) => ({ field: "pid", value, mention: "pid" })),
    fc.oneof(
      fc.constantFrom<unknown>(null, "john", [], {}, { username: "john" }),
      textValue(LIMITS.username).filter((s) => !textOk(s, 1, LIMITS.username)).map((u) => ({
        username: u,
        home: "/home/x",
      })),
      textValue(LIMITS.home).filter((s) => !textOk(s, 1, LIMITS.home)).map((h) => ({
        username: "x",
        home: h,
      })),
    ).map((value) => ({ field: "user", value, mention: "user" })),
    textValue(LIMITS.hostname).filter((s) => !textOk(s, 1, LIMITS.hostname)).map((value) => ({
      field: "hostname",
      value,
      mention: "hostname",
    })),
    fc.constantFrom<unknown>(
      null,
      [],
      { python_version: "3", platform: "p" },
      { python_version: "3", platform: "p", cwd: "/", EXTRA: 5 },
      { python_version: "3", platform: "p", cwd: "/", BIG: "x".repeat(9000) },
    ).map((value) => ({ field: "environment", value, mention: "environment" })),
    badMetadata.map((value) => ({ field: "metadata", value, mention: "metadata" })),
  );

/** A session id the store certainly does not hold (random text, then a marker). */
export const unknownId = anyText(30).map((s) => `${s}~unknown`).filter((s) =>
  textOk(s, 1, LIMITS.sessionId)
);

/** Session id arguments the contract refuses. */
export const badSessionId = fc.oneof(
  fc.constantFrom<unknown>("", "   ", "x".repeat(LIMITS.sessionId + 1), 5, null, undefined, [], {}),
  textValue(LIMITS.sessionId).filter((s) => !textOk(s, 1, LIMITS.sessionId)),
);

/** Anything at all as arguments, for the "any malformed call" rule. */
export const garbage = fc.oneof(
  fc.anything({ maxDepth: 3, withNullPrototype: false }),
  fc.dictionary(
    fc.constantFrom(
      "session_id",
      "timestamp",
      "event_id",
      "metadata",
      "status",
      "limit",
      "cursor",
      "since",
      "until",
      "group_by",
      "component_name",
      "pid",
      "user",
      "hostname",
      "environment",
    ),
    fc.anything({ maxDepth: 2 }),
  ),
);
