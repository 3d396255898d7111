/** Session records and the rules that create and end them. */
import type { SessionEndEvent, SessionStartEvent } from "./events.ts";
import { compactUtc, isoUtc, parseInstant } from "./timestamp.ts";

/** Stored state of a session; `stale` is derived when read, never stored. */
export type StoredStatus = "active" | "ended";
/** Who closed a session: the shell itself, or the reaper for an abandoned one. */
export type EndSource = "client" | "reaper";

/** A session as stored: every start field as sent (never the token) plus lifecycle data. */
export interface SessionRecord extends SessionStartEvent {
  session_id: string;
  /** The id the session had before an import or a forward gave it this one (absent if none). */
  origin_session_id?: string;
  status: StoredStatus;
  started_at: string;
  ended_at: string | null;
  duration_seconds: number | null;
  end_metadata: Record<string, unknown> | null;
  end_source: EndSource | null;
  last_seen_at: string;
  tracked_by: string | null;
}

/** The id's first candidate: `{component_name}-{YYYYMMDD}-{HHMMSS}` of the start in UTC. */
export function baseSessionId(event: SessionStartEvent): string {
  return `${event.component_name}-${compactUtc(instantOf(event.timestamp))}`;
}

/** The n-th candidate id for a base (1 is the base itself, then `-2`, `-3`, ...). */
export function candidateId(base: string, n: number): string {
  return n <= 1 ? base : `${base}-${n}`;
}

/**
 * Which candidate of its base a record's id is: 1 for the base itself, n for `-n`; null for
 * an id that is not one of its base's candidates (the id counters need not move for it).
 */
export function candidateNumber(record: SessionRecord): { base: string; n: number } | null {
  const base = baseSessionId(record);
  if (record.session_id === base) return { base, n: 1 };
  const m = /^-([1-9]\d{0,8})$/.exec(record.session_id.slice(base.length));
  if (!record.session_id.startsWith(base) || !m || Number(m[1]) < 2) return null;
  return { base, n: Number(m[1]) };
}

/** Epoch milliseconds of a timestamp that validation already accepted. */
export function instantOf(timestamp: string): number {
  const ms = parseInstant(timestamp);
  if (ms === null) throw new RangeError(`Cannot take the instant of unvalidated '${timestamp}'`);
  return ms;
}

/** Builds the record of a newly started session. */
export function startRecord(
  event: SessionStartEvent,
  sessionId: string,
  trackedBy: string | null,
  now: Date,
): SessionRecord {
  return {
    session_id: sessionId,
    ...event,
    metadata: event.metadata ?? null,
    status: "active",
    started_at: isoUtc(instantOf(event.timestamp)),
    ended_at: null,
    duration_seconds: null,
    end_metadata: null,
    end_source: null,
    last_seen_at: now.toISOString(),
    tracked_by: trackedBy,
  };
}

/** Result of applying an end event to a record. */
export interface EndOutcome {
  record: SessionRecord;
  /** False when the record was already ended by its client and stays as it was. */
  changed: boolean;
  /** True when the end lies before the start and the duration was clamped to zero. */
  clamped: boolean;
}

/**
 * Ends a session. A client's end is kept once made; a reaper's end gives way to the
 * client's real end when it arrives later.
 */
export function endRecord(
  record: SessionRecord,
  event: SessionEndEvent,
  source: EndSource = "client",
): EndOutcome {
  if (record.status === "ended" && (record.end_source === "client" || source === "reaper")) {
    return { record, changed: false, clamped: false };
  }
  const endMs = instantOf(event.timestamp);
  const startMs = Date.parse(record.started_at);
  const clamped = endMs < startMs;
  return {
    record: {
      ...record,
      status: "ended",
      ended_at: isoUtc(endMs),
      duration_seconds: clamped ? 0 : (endMs - startMs) / 1000,
      end_metadata: event.metadata ?? null,
      end_source: source,
    },
    changed: true,
    clamped,
  };
}

/** The fields of a start event, which a record keeps as they were sent. */
const START_FIELDS = [
  "event_version",
  "event_id",
  "event_type",
  "component_name",
  "shell_type",
  "timestamp",
  "pid",
  "user",
  "hostname",
  "environment",
  "metadata",
] as const satisfies readonly (keyof SessionStartEvent)[];
// Fails to compile when an event field is missing from the list above.
const _everyStartField: [Exclude<keyof SessionStartEvent, typeof START_FIELDS[number]>] extends
  [never] ? true : never = true;

/**
 * Whether two start events (or a start event and the record it made) carry the same data:
 * a retry of a start is told from a different start that reuses its event id this way.
 */
export function sameStart(a: SessionStartEvent, b: SessionStartEvent): boolean {
  const pick = (e: SessionStartEvent) =>
    canonicalJson(START_FIELDS.map((k) => k === "metadata" ? e.metadata ?? null : e[k]));
  return pick(a) === pick(b);
}

/** Object keys as JSON strings, kept: records have the same few dozen keys. */
const QUOTED = new Map<string, string>();

function quoted(key: string): string {
  let q = QUOTED.get(key);
  if (q === undefined) {
    q = JSON.stringify(key);
    if (QUOTED.size < 10_000) QUOTED.set(key, q);
  }
  return q;
}

/**
 * Compact JSON with object keys sorted, so equal data always serialises the same: what
 * `JSON.stringify` gives for a copy with sorted keys (`toJSON` honoured, undefined members
 * left out, undefined in arrays as null), written directly without the copies, since the
 * verifier of the history runs it once per entry and once per record.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  const json = (value as { toJSON?: () => unknown }).toJSON;
  if (typeof json === "function") return canonicalJson(json.call(value));
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) {
      out += (i > 0 ? "," : "") + (canonicalJson(value[i]) ?? "null");
    }
    return out + "]";
  }
  const keys = Object.keys(value).sort();
  let out = "{";
  for (const k of keys) {
    const raw = (value as Record<string, unknown>)[k];
    // The common leaves inline; the rest (and what JSON leaves out) by the rules above.
    const v = typeof raw === "string"
      ? JSON.stringify(raw)
      : raw === null
      ? "null"
      : typeof raw === "number"
      ? (Number.isFinite(raw) ? String(raw) : "null")
      : canonicalJson(raw);
    if (v === undefined) continue;
    out += (out.length > 1 ? "," : "") + quoted(k) + ":" + v;
  }
  return out + "}";
}

/**
 * Marks a session as seen at `now`. A session the reaper closed is alive after all and
 * becomes active again; one its client ended stays ended (`changed` false).
 */
export function touchRecord(record: SessionRecord, now: Date): EndOutcome {
  if (record.status === "ended" && record.end_source === "client") {
    return { record, changed: false, clamped: false };
  }
  return {
    record: {
      ...record,
      status: "active",
      ended_at: null,
      duration_seconds: null,
      end_metadata: null,
      end_source: null,
      last_seen_at: now.toISOString(),
    },
    changed: true,
    clamped: false,
  };
}
