/** The Deno KV store's changes to one session: end, heartbeat, and reading it (import: imports.ts). */
import type { SessionEndEvent } from "../../sessions/events.ts";
import {
  endRecord,
  type EndSource,
  type SessionRecord,
  touchRecord,
} from "../../sessions/session.ts";
import type { EndOutcome, HeartbeatOutcome } from "../port.ts";
import type { KvContext } from "./context.ts";
import { FEED_TTL_MS, feedKey, sessionKey, statusKey } from "./keys.ts";
import { markChanged, outboxKey, type OutboxMark } from "./outbox.ts";
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
    const [entry, mark] = await ctx.kv.getMany<[Uint8Array, OutboxMark]>([
      key,
      outboxKey(event.session_id),
    ]);
    if (!entry.value) return { kind: "not_found" };
    const before = decodeRecord(entry.value);
    const outcome = endRecord(before, event, source);
    if (!outcome.changed) return { kind: "ended", ...outcome };
    const op = ctx.kv.atomic().check(entry).set(key, encodeRecord(outcome.record));
    if (before.status !== outcome.record.status) {
      op.delete(statusKey(before, before.status)).set(statusKey(outcome.record, "ended"), null);
    }
    op.set(feedKey(now.getTime(), event.session_id, "end"), null, { expireIn: FEED_TTL_MS });
    markChanged(op, event.session_id, now.getTime(), mark.value);
    const kind = source === "reaper" ? "reap" : "end";
    const res = await ctx.record(op, [{ k: kind, id: event.session_id, r: outcome.record }]);
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
    const [entry, mark] = await ctx.kv.getMany<[Uint8Array, OutboxMark]>([
      key,
      outboxKey(sessionId),
    ]);
    if (!entry.value) return "not_found";
    const before = decodeRecord(entry.value);
    const outcome = touchRecord(before, now);
    if (!outcome.changed) return "ended";
    const op = ctx.kv.atomic().check(entry).set(key, encodeRecord(outcome.record));
    if (before.status !== outcome.record.status) {
      op.delete(statusKey(before, before.status)).set(statusKey(before, "active"), null);
    }
    markChanged(op, sessionId, now.getTime(), mark.value);
    // A plain heartbeat moves only last_seen_at, which the history leaves out (SPEC 10); a
    // session the reaper had closed coming back is a change it keeps.
    const revived = before.status !== outcome.record.status;
    const bodies = revived ? [{ k: "revive" as const, id: sessionId, r: outcome.record }] : [];
    return (await ctx.record(op, bodies)).ok ? "alive" : undefined;
  }, ctx.retry);
}
