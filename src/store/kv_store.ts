/** The session store on Deno KV: one atomic commit per lifecycle event. */
import type { SessionEndEvent, SessionStartEvent } from "../sessions/events.ts";
import {
  baseSessionId,
  candidateId,
  canonicalJson,
  endRecord,
  type EndSource,
  type SessionRecord,
  startRecord,
} from "../sessions/session.ts";
import { eventKey, idSeqKey, indexKeys, sessionKey, statusKey } from "./keys.ts";
import { type RetryOptions, withRetry } from "./retry.ts";

/** What `start` did with an event. */
export type StartResult =
  | { kind: "tracked"; record: SessionRecord }
  | { kind: "replayed"; sessionId: string }
  | { kind: "conflict"; sessionId: string };

/** What `end` did with an event. */
export type EndResult =
  | { kind: "not_found" }
  | { kind: "ended"; record: SessionRecord; changed: boolean; clamped: boolean };

interface EventEntry {
  session_id: string;
  digest: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Records are stored as UTF-8 JSON so their size is exactly what validation bounded. */
export function encodeRecord(record: SessionRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

/** Reads a stored record back. */
export function decodeRecord(bytes: Uint8Array): SessionRecord {
  return JSON.parse(decoder.decode(bytes)) as SessionRecord;
}

async function digestOf(event: SessionStartEvent): Promise<string> {
  const normalised = { ...event, metadata: event.metadata ?? null };
  const hash = await crypto.subtle.digest("SHA-256", encoder.encode(canonicalJson(normalised)));
  return Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The session store over an open Deno KV handle. */
export class KvSessionStore {
  readonly #kv: Deno.Kv;
  readonly #retry: Partial<RetryOptions>;

  constructor(kv: Deno.Kv, retry: Partial<RetryOptions> = {}) {
    this.#kv = kv;
    this.#retry = retry;
  }

  /**
   * Records a started session under the first free id of its base, exactly once per
   * event id. Returns only after the commit.
   */
  async start(event: SessionStartEvent, trackedBy: string | null, now: Date): Promise<StartResult> {
    const digest = await digestOf(event);
    const base = baseSessionId(event);
    const evKey = eventKey(event.event_id);
    const seqKey = idSeqKey(base);
    // Ids outside the counter (none are written by this program, but a store is shared)
    // can occupy a candidate; a failed commit with nothing else changed means exactly that.
    let skip = 0;
    let lastSeq: string | null | undefined;
    return await withRetry<StartResult>(async () => {
      const [ev, seq] = await this.#kv.getMany<[EventEntry, number]>([evKey, seqKey]);
      if (ev.value) {
        const kind = ev.value.digest === digest ? "replayed" : "conflict";
        return { kind, sessionId: ev.value.session_id };
      }
      if (lastSeq !== undefined && lastSeq === seq.versionstamp) skip++;
      else skip = 0;
      lastSeq = seq.versionstamp;
      const n = (seq.value ?? 0) + 1 + skip;
      const record = startRecord(event, candidateId(base, n), trackedBy, now);
      const op = this.#kv.atomic()
        .check({ key: evKey, versionstamp: null })
        .check(seq)
        .check({ key: sessionKey(record.session_id), versionstamp: null })
        .set(seqKey, n)
        .set(evKey, { session_id: record.session_id, digest } satisfies EventEntry)
        .set(sessionKey(record.session_id), encodeRecord(record));
      for (const key of indexKeys(record)) op.set(key, null);
      const res = await op.commit();
      return res.ok ? { kind: "tracked", record } : undefined;
    }, this.#retry);
  }

  /** Ends a session; an end already made by its client stays as it was. */
  async end(event: SessionEndEvent, source: EndSource = "client"): Promise<EndResult> {
    const key = sessionKey(event.session_id);
    return await withRetry<EndResult>(async () => {
      const entry = await this.#kv.get<Uint8Array>(key);
      if (!entry.value) return { kind: "not_found" };
      const before = decodeRecord(entry.value);
      const outcome = endRecord(before, event, source);
      if (!outcome.changed) return { kind: "ended", ...outcome };
      const op = this.#kv.atomic().check(entry).set(key, encodeRecord(outcome.record));
      if (before.status !== outcome.record.status) {
        op.delete(statusKey(before, before.status)).set(statusKey(outcome.record, "ended"), null);
      }
      const res = await op.commit();
      return res.ok ? { kind: "ended", ...outcome } : undefined;
    }, this.#retry);
  }

  /** The record of a session, or `null` when there is none. */
  async get(sessionId: string): Promise<SessionRecord | null> {
    const entry = await withRetry(async () =>
      await this.#kv.get<Uint8Array>(sessionKey(sessionId))
    );
    return entry.value ? decodeRecord(entry.value) : null;
  }
}
