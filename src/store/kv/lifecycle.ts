/** The Deno KV store's changes to one session: end, heartbeat, import, and reading it. */
import type { SessionEndEvent } from "../../sessions/events.ts";
import {
  candidateNumber,
  endRecord,
  type EndSource,
  type SessionRecord,
  touchRecord,
} from "../../sessions/session.ts";
import type { EndOutcome, HeartbeatOutcome, ImportOutcome } from "../port.ts";
import type { EventEntry, KvContext } from "./context.ts";
import {
  eventKey,
  FEED_TTL_MS,
  feedKey,
  idSeqKey,
  indexKeys,
  sessionKey,
  statusKey,
} from "./keys.ts";
import { decodeRecord, encodeRecord } from "./records.ts";
import { withRetry } from "./retry.ts";

/** Ends a session; an end already made by its client stays as it was. */
export async function endSession(
  ctx: KvContext,
  event: SessionEndEvent,
  source: EndSource,
  now: Date,
): Promise<EndOutcome> {
  const key = sessionKey(event.session_id);
  return await withRetry<EndOutcome>(async () => {
    const entry = await ctx.kv.get<Uint8Array>(key);
    if (!entry.value) return { kind: "not_found" };
    const before = decodeRecord(entry.value);
    const outcome = endRecord(before, event, source);
    if (!outcome.changed) return { kind: "ended", ...outcome };
    const op = ctx.kv.atomic().check(entry).set(key, encodeRecord(outcome.record));
    if (before.status !== outcome.record.status) {
      op.delete(statusKey(before, before.status)).set(statusKey(outcome.record, "ended"), null);
    }
    op.set(feedKey(now.getTime(), event.session_id, "end"), null, { expireIn: FEED_TTL_MS });
    const res = await ctx.commit(op);
    return res.ok ? { kind: "ended", ...outcome } : undefined;
  }, ctx.retry);
}

/** The record of a session, or `null` when there is none. */
export async function getSession(
  ctx: KvContext,
  sessionId: string,
): Promise<SessionRecord | null> {
  const entry = await withRetry(async () => await ctx.kv.get<Uint8Array>(sessionKey(sessionId)));
  return entry.value ? decodeRecord(entry.value) : null;
}

/**
 * Refreshes a session's last-seen time. Returns `ended` for a session its client ended;
 * a session the reaper closed becomes active again.
 */
export async function heartbeat(
  ctx: KvContext,
  sessionId: string,
  now: Date,
): Promise<HeartbeatOutcome> {
  const key = sessionKey(sessionId);
  return await withRetry<HeartbeatOutcome>(async () => {
    const entry = await ctx.kv.get<Uint8Array>(key);
    if (!entry.value) return "not_found";
    const before = decodeRecord(entry.value);
    const outcome = touchRecord(before, now);
    if (!outcome.changed) return "ended";
    const op = ctx.kv.atomic().check(entry).set(key, encodeRecord(outcome.record));
    if (before.status !== outcome.record.status) {
      op.delete(statusKey(before, before.status)).set(statusKey(before, "active"), null);
    }
    return (await ctx.commit(op)).ok ? "alive" : undefined;
  }, ctx.retry);
}

/**
 * Writes an exported record with its index keys, unless its session id or event id is
 * stored; the id counter of its base moves up to it.
 */
export async function importRecord(
  ctx: KvContext,
  record: SessionRecord,
  forget: (base: string) => void,
): Promise<ImportOutcome> {
  const id = record.session_id;
  const numbered = candidateNumber(record);
  const seqKey = numbered ? idSeqKey(numbered.base) : null;
  return await withRetry<ImportOutcome>(async () => {
    const keys = [sessionKey(id), eventKey(record.event_id), ...(seqKey ? [seqKey] : [])];
    const [session, event, seq] = await ctx.kv.getMany<unknown[]>(keys);
    if (session!.value || event!.value) return "skipped";
    const op = ctx.kv.atomic().check(session!).check(event!)
      .set(sessionKey(id), encodeRecord(record))
      .set(eventKey(record.event_id), { session_id: id } satisfies EventEntry);
    for (const key of indexKeys(record)) op.set(key, null);
    if (numbered && seq && ((seq.value as number | null) ?? 0) < numbered.n) {
      op.check(seq).set(seq.key, numbered.n);
    }
    if (!(await ctx.commit(op)).ok) return undefined;
    // The counter this process remembers is behind now; the next start reads it.
    if (numbered) forget(numbered.base);
    return "written";
  }, ctx.retry);
}
