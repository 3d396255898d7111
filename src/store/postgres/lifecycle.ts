/** The PostgreSQL store's changes to one session: end, heartbeat, and reading it (import: imports.ts). */
import type { EntryBody } from "../../seal/entry.ts";
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
import { entryCtes } from "./entries.ts";
import { sendable } from "./text.ts";

/** What `update`'s change makes of a session's record. */
interface Change<T> {
  record: SessionRecord;
  write: boolean;
  result: T;
  /** An end: its change-feed entry, stamped with this time (ms). */
  feed?: number;
  /** The history entry the change makes (SPEC 10): none for a plain heartbeat. */
  entry?: EntryBody;
}

/**
 * Reads a session's record and version, applies `change`, and writes it back checked on
 * the version; tries again when another writer changed it in between.
 */
export async function update<T>(
  ctx: PgContext,
  sessionId: string,
  what: string,
  change: (before: SessionRecord) => Change<T>,
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
      if (await writeBack(ctx, sessionId, row.version, outcome)) return outcome.result;
      // Another writer changed the row in between: read it again.
      ctx.observer?.retry();
      if (++tries >= 50) {
        throw new StoreError("conflict", `${what}: the session kept changing under it`);
      }
    }
  });
}

/**
 * Writes a changed record if its row is still at `version`; whether it was. The change's
 * feed and history entries go in the same statement, so in one transaction, and only when
 * the update hit its row: the chain moves past the entry only then.
 */
async function writeBack<T>(
  ctx: PgContext,
  sessionId: string,
  version: number,
  outcome: Change<T>,
): Promise<boolean> {
  const r = outcome.record;
  const values: unknown[] = [
    sessionId,
    JSON.stringify(r),
    r.status,
    Date.parse(r.last_seen_at),
    version,
  ];
  const update = `UPDATE session_buddy.sessions
    SET record = $2, status = $3, last_seen_ms = $4, version = version + 1
    WHERE session_id = $1 AND version = $5`;
  if (outcome.feed === undefined && outcome.entry === undefined) {
    return (await ctx.write(update, values)).rowCount === 1;
  }
  const ctes = [`u AS (${update} RETURNING session_id)`];
  if (outcome.feed !== undefined) {
    values.push(outcome.feed);
    ctes.push(`f AS (INSERT INTO session_buddy.feed (at_ms, session_id, kind)
      SELECT $${values.length}, session_id, 'end' FROM u)`);
  }
  const statement = (more: string[]) =>
    `WITH ${[...ctes, ...more].join(", ")} SELECT count(*)::int AS n FROM u`;
  if (outcome.entry === undefined) {
    return (await ctx.write<{ n: number }>(statement([]), values)).rows[0]!.n === 1;
  }
  // A connection first, then a chain (see transact in entries.ts).
  const client = await ctx.pool.connect();
  const began = performance.now();
  let broken = false;
  try {
    return await ctx.lanes.commit([outcome.entry], async (entries) => {
      const all = [...values];
      const more = entryCtes(entries, all, "u");
      const res = await client.query<{ n: number }>(statement(more), all);
      const ok = res.rows[0]!.n === 1;
      return { ok, value: ok };
    });
  } catch (error) {
    broken = true;
    throw error;
  } finally {
    ctx.observer?.commit((performance.now() - began) / 1000);
    client.release(broken);
  }
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
      entry: { k: source === "reaper" ? "reap" : "end", id: event.session_id, r: outcome.record },
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
    // A plain heartbeat moves only last_seen_at, which the history leaves out (SPEC 10); a
    // session the reaper had closed coming back is a change it keeps.
    const revived = before.status !== outcome.record.status;
    return {
      record: outcome.record,
      write: outcome.changed,
      result: outcome.changed ? "alive" : "ended",
      ...(revived ? { entry: { k: "revive" as const, id: sessionId, r: outcome.record } } : {}),
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
