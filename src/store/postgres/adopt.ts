/**
 * A database of schema version 1 was written before the history began: the process that
 * upgrades it takes each of its records into the history once, as an `adopt` entry on a
 * chain of its own, in the upgrade's transaction (the sessions table locked against
 * writers of the old version meanwhile), so that from then on every record is explained by
 * its entries (SPEC 10). What was done to a record before cannot be vouched for.
 */
import { Chain, type EntryBody, newWriterId } from "../../seal/entry.ts";
import type { SessionRecord } from "../../sessions/session.ts";
import type { PoolClient } from "./driver.ts";
import { addEntries } from "./entries.ts";

/** Records per page read, and per statement of entries written. */
const PAGE = 500;

/** Writes an `adopt` entry for every session row, in the transaction under way; how many. */
export async function adoptRecords(client: PoolClient): Promise<number> {
  await client.query("LOCK TABLE session_buddy.sessions IN SHARE MODE");
  const chain = new Chain(newWriterId(), null);
  let after: string | null = null;
  let count = 0;
  while (true) {
    const page: { rows: { session_id: string; record: string }[] } = after === null
      ? await client.query(
        "SELECT session_id, record FROM session_buddy.sessions ORDER BY session_id LIMIT $1",
        [PAGE],
      )
      : await client.query(
        `SELECT session_id, record FROM session_buddy.sessions WHERE session_id > $1
         ORDER BY session_id LIMIT $2`,
        [after, PAGE],
      );
    if (page.rows.length === 0) return count;
    const bodies: EntryBody[] = page.rows.map((row) => {
      const r = JSON.parse(row.record) as SessionRecord;
      return { k: "adopt", id: row.session_id, r };
    });
    const entries = chain.draft(bodies, Date.now());
    await addEntries(client, entries);
    chain.advance(entries);
    count += entries.length;
    after = page.rows.at(-1)!.session_id;
  }
}
