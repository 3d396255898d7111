/** The PostgreSQL store's changes to one session: end, heartbeat, and reading it (import: imports.ts). */
import type { SessionEndEvent } from "../../sessions/events.ts";
import {
  endRecord,
  type EndSource,
  type SessionRecord,
  touchRecord,
} from "../../sessions/session.ts";
import { StoreError } from "../errors.ts";
import type { EndOutcome, HeartbeatOutcome } from "../port.ts";
import { deadline, type PgContext } from "./connection.ts";
import { sendable } from "./text.ts";

/**
 * Reads a session's record and version, applies `change`, and writes it back checked on
 * the version; tries again when another writer changed it in between.
 */
export async function update<T>(
  ctx: PgContext,
  sessionId: string,
  what: string,
  change: (
    before: SessionRecord,
  ) => { record: SessionRecord; write: boolean; result: T; feed?: number },
  missing: T,
): Promise<T> {
  if (!sendable(sessionId)) return missing;
  let tries = 0;
  return await ctx.retrying(what, async () => {
    while (true) {
      const found = await ctx.pool.query<{ record: string; version: number }>(
        "SELECT record, version FROM session_buddy.sessions WHERE session_id = $1",
        [sessionId],
      );
      const row = found.rows[0];
      if (!row) return missing;
      const outcome = change(JSON.parse(row.record) as SessionRecord);
      if (!outcome.write) return outcome.result;
      const r = outcome.record;
      const values = [
        sessionId,
        JSON.stringify(r),
        r.status,
        Date.parse(r.last_seen_at),
        row.version,
      ];
      const update = `UPDATE session_buddy.sessions
        SET record = $2, status = $3, last_seen_ms = $4, version = version + 1
        WHERE session_id = $1 AND version = $5`;
      // An end writes its change-feed entry in the same statement, so in one transaction.
      const written = outcome.feed === undefined
        ? await ctx.write(update, values)
        : await ctx.write(
          `WITH u AS (${update} RETURNING session_id)
           INSERT INTO session_buddy.feed (at_ms, session_id, kind)
             SELECT $6, session_id, 'end' FROM u`,
          [...values, outcome.feed],
        );
      if (written.rowCount === 1) return outcome.result;
      // Another writer changed the row in between: read it again.
      ctx.observer?.retry();
      if (++tries >= 50) {
        throw new StoreError("conflict", `${what}: the session kept changing under it`);
      }
    }
  });
}

export async function endSession(
  ctx: PgContext,
  event: SessionEndEvent,
  source: EndSource,
  now: Date,
): Promise<EndOutcome> {
  return await update<EndOutcome>(ctx, event.session_id, "an end", (before) => {
    const outcome = endRecord(before, event, source);
    return {
      record: outcome.record,
      write: outcome.changed,
      result: { kind: "ended", ...outcome },
      feed: now.getTime(),
    };
  }, { kind: "not_found" });
}

export async function heartbeat(
  ctx: PgContext,
  sessionId: string,
  now: Date,
): Promise<HeartbeatOutcome> {
  return await update<HeartbeatOutcome>(ctx, sessionId, "a heartbeat", (before) => {
    const outcome = touchRecord(before, now);
    return {
      record: outcome.record,
      write: outcome.changed,
      result: outcome.changed ? "alive" : "ended",
    };
  }, "not_found");
}

export async function getSession(ctx: PgContext, sessionId: string): Promise<SessionRecord | null> {
  if (!sendable(sessionId)) return null;
  const found = await deadline(
    () =>
      ctx.pool.query<{ record: string }>(
        "SELECT record FROM session_buddy.sessions WHERE session_id = $1",
        [sessionId],
      ),
    "a read",
  );
  return found.rows[0] ? JSON.parse(found.rows[0].record) as SessionRecord : null;
}
