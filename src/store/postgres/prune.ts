/**
 * `sessions prune` on a PostgreSQL store (SPEC 10): sessions that ended before a time are
 * deleted a group at a time, each group's transaction with a tombstone entry naming them;
 * then the bodies of their earlier entries are dropped, leaving stubs that keep each
 * entry's hash, so every chain still links and the tombstone explains what is gone. Their
 * change-feed rows stay (they name no more than an id, and age out).
 */
import { type Entry, stubOf } from "../../seal/entry.ts";
import type { SessionRecord } from "../../sessions/session.ts";
import { isoUtc } from "../../sessions/timestamp.ts";
import type { PruneOutcome } from "../port.ts";
import type { PgContext } from "./connection.ts";
import { transact } from "./entries.ts";

/** Sessions per transaction (and so per tombstone). */
const PER_GROUP = 100;
/** Entries read per page when stubs are made. */
const PAGE = 1000;

function endedBefore(record: SessionRecord, beforeMs: number): boolean {
  return record.status === "ended" && record.ended_at !== null &&
    Date.parse(record.ended_at) < beforeMs;
}

/** Removes the sessions that ended before `beforeMs`; tombstones name each one. */
export async function pruneBefore(ctx: PgContext, beforeMs: number): Promise<PruneOutcome> {
  const before = isoUtc(beforeMs);
  const removed = new Set<string>();
  // Every ended session is a candidate (an end sent with a time before its start is kept
  // as sent); the walk goes on past each page by id, so a group left (all revived) ends it.
  let after = "";
  while (true) {
    const page = await ctx.retrying(
      "a prune",
      () =>
        ctx.pool.query<{ session_id: string; record: string }>(
          `SELECT session_id, record FROM session_buddy.sessions
         WHERE status = 'ended' AND session_id > $1
         ORDER BY session_id LIMIT $2`,
          [after, PER_GROUP],
        ),
    );
    if (page.rows.length === 0) break;
    after = page.rows.at(-1)!.session_id;
    const ids = page.rows.filter((row) =>
      endedBefore(JSON.parse(row.record) as SessionRecord, beforeMs)
    ).map((row) => row.session_id);
    if (ids.length > 0) {
      for (const id of await removeGroup(ctx, ids, before, beforeMs)) removed.add(id);
    }
    if (page.rows.length < PER_GROUP) break;
  }
  if (removed.size > 0) await stubEntries(ctx, removed);
  return { removed: removed.size };
}

/** Deletes one group of sessions with its tombstone, in one transaction; the ids it removed. */
async function removeGroup(
  ctx: PgContext,
  ids: string[],
  before: string,
  beforeMs: number,
): Promise<string[]> {
  return await ctx.retrying("a prune", () =>
    transact(ctx, async (client) => {
      // Locked and looked at again: another writer may have revived one meanwhile.
      const rows = await client.query<{ session_id: string; record: string }>(
        `SELECT session_id, record FROM session_buddy.sessions
         WHERE session_id = ANY($1::text[]) ORDER BY session_id FOR UPDATE`,
        [ids],
      );
      const gone = rows.rows.filter((row) =>
        endedBefore(JSON.parse(row.record) as SessionRecord, beforeMs)
      ).map((row) => row.session_id);
      if (gone.length === 0) return { value: [], bodies: [] };
      const deleted = await client.query(
        "DELETE FROM session_buddy.sessions WHERE session_id = ANY($1::text[])",
        [gone],
      );
      if (deleted.rowCount !== gone.length) {
        throw new Error(`a prune deleted ${deleted.rowCount} of ${gone.length} locked sessions`);
      }
      return { value: gone, bodies: [{ k: "prune", id: "", pruned: { before, ids: gone } }] };
    }));
}

/** Replaces the entries of the removed sessions by stubs that keep only their hash. */
async function stubEntries(ctx: PgContext, removed: Set<string>): Promise<void> {
  let last: [string, string] | null = null;
  while (true) {
    const page: { rows: { writer: string; seq: string; entry: string }[] } = await ctx.retrying(
      "a prune",
      () =>
        last === null
          ? ctx.pool.query(
            "SELECT writer, seq, entry FROM session_buddy.entries ORDER BY writer, seq LIMIT $1",
            [PAGE],
          )
          : ctx.pool.query(
            `SELECT writer, seq, entry FROM session_buddy.entries WHERE (writer, seq) > ($2, $3)
             ORDER BY writer, seq LIMIT $1`,
            [PAGE, ...last],
          ),
    );
    const writers: string[] = [];
    const seqs: string[] = [];
    const stubs: string[] = [];
    for (const row of page.rows) {
      let e: Entry;
      try {
        e = JSON.parse(row.entry) as Entry;
      } catch {
        continue; // Not an entry this program wrote: left for the verifier to name.
      }
      if (e?.k === "prune" || e?.x === 1 || !removed.has(e?.id)) continue;
      writers.push(row.writer);
      seqs.push(row.seq);
      stubs.push(JSON.stringify(stubOf(e)));
    }
    if (stubs.length > 0) {
      await ctx.retrying("a prune", () =>
        ctx.write(
          `UPDATE session_buddy.entries AS t SET entry = x.stub
           FROM unnest($1::text[], $2::bigint[], $3::text[]) AS x(writer, seq, stub)
           WHERE t.writer = x.writer COLLATE "C" AND t.seq = x.seq`,
          [writers, seqs, stubs],
        ));
    }
    if (page.rows.length < PAGE) return;
    const end = page.rows.at(-1)!;
    last = [end.writer, end.seq];
  }
}
