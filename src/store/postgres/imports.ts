/**
 * `sessions import` on a PostgreSQL store: one exported record at a time, each in one
 * transaction on one connection with its history entry (SPEC 10), tried again on a deadlock or a lost connection. The rules
 * are src/sessions/imported.ts; the ids come from the same counter rows starts take them
 * from (`start_sessions`), so renumbered imports and live starts never collide.
 */
import type { EntryBody } from "../../seal/entry.ts";
import { MAX_CANDIDATES, mergeImported, renumbered } from "../../sessions/imported.ts";
import {
  baseSessionId,
  candidateId,
  candidateNumber,
  type SessionRecord,
} from "../../sessions/session.ts";
import { StoreError } from "../errors.ts";
import type { ImportOutcome } from "../port.ts";
import type { PgContext } from "./connection.ts";
import type { PoolClient } from "./driver.ts";
import { transact } from "./entries.ts";
import { columnText } from "./text.ts";

/** Brings an exported record into the store, in one transaction with its history entry. */
export async function importRecord(ctx: PgContext, record: SessionRecord): Promise<ImportOutcome> {
  return await ctx.retrying("an import", async () =>
    await transact(ctx, async (client) => {
      const { outcome, stored } = await importIn(client, record);
      const bodies: EntryBody[] = stored === null
        ? []
        : [{ k: "import", id: stored.session_id, r: stored }];
      return { value: outcome, bodies };
    }));
}

/** What importing did, and the record it stored (null when it stored nothing). */
interface Imported {
  outcome: ImportOutcome;
  stored: SessionRecord | null;
}

async function importIn(client: PoolClient, record: SessionRecord): Promise<Imported> {
  const stored = await storedOf(client, record.event_id);
  if (stored) return await update(client, stored, record);
  if (await insert(client, record)) {
    const numbered = candidateNumber(record);
    if (numbered) {
      await client.query(
        `INSERT INTO session_buddy.id_counters AS c (base, n) VALUES ($1, $2)
           ON CONFLICT (base) DO UPDATE SET n = GREATEST(c.n, EXCLUDED.n)`,
        [numbered.base, numbered.n],
      );
    }
    return { outcome: { kind: "written", sessionId: record.session_id }, stored: record };
  }
  // Its id belongs to another event (or its event was committed meanwhile): the next id of
  // its base, as a start takes it; a candidate taken outside the counter is passed over.
  const base = baseSessionId(record);
  for (let i = 0; i < MAX_CANDIDATES; i++) {
    const now = await storedOf(client, record.event_id);
    if (now) return await update(client, now, record);
    const counted = await client.query<{ n: number }>(
      `INSERT INTO session_buddy.id_counters AS c (base, n) VALUES ($1, 1)
         ON CONFLICT (base) DO UPDATE SET n = c.n + 1 RETURNING c.n`,
      [base],
    );
    const moved = renumbered(record, candidateId(base, counted.rows[0]!.n));
    if (await insert(client, moved)) {
      return { outcome: { kind: "renumbered", sessionId: moved.session_id }, stored: moved };
    }
  }
  throw new StoreError("failed", `no free id for ${record.session_id} among ${base}'s next ones`);
}

/** The stored record of an event, locked until the transaction ends; null when none. */
async function storedOf(client: PoolClient, eventId: string): Promise<SessionRecord | null> {
  const found = await client.query<{ record: string }>(
    "SELECT record FROM session_buddy.sessions WHERE event_id = $1 FOR UPDATE",
    [eventId],
  );
  return found.rows[0] ? JSON.parse(found.rows[0].record) as SessionRecord : null;
}

/** The event's stored session takes what `record` adds (its row is locked). */
async function update(
  client: PoolClient,
  stored: SessionRecord,
  record: SessionRecord,
): Promise<Imported> {
  const merged = mergeImported(stored, record);
  if (!merged) {
    return { outcome: { kind: "unchanged", sessionId: stored.session_id }, stored: null };
  }
  await client.query(
    `UPDATE session_buddy.sessions
       SET record = $2, status = $3, last_seen_ms = $4, version = version + 1
       WHERE session_id = $1`,
    [stored.session_id, JSON.stringify(merged), merged.status, Date.parse(merged.last_seen_at)],
  );
  // An end that arrives by import is news to `sessions tail`, as the shell's own end is.
  if (merged.status === "ended" && stored.status !== "ended") {
    await feed(client, stored.session_id, ["end"]);
  }
  return { outcome: { kind: "updated", sessionId: stored.session_id }, stored: merged };
}

/** Inserts a session unless its id or its event is stored; whether it did. */
async function insert(client: PoolClient, record: SessionRecord): Promise<boolean> {
  const r = await client.query(
    `INSERT INTO session_buddy.sessions (session_id, event_id, started_ms,
         component_name, hostname, username, status, last_seen_ms, record)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT DO NOTHING`,
    [
      record.session_id,
      record.event_id,
      Date.parse(record.started_at),
      columnText(record.component_name),
      columnText(record.hostname),
      columnText(record.user.username),
      record.status,
      Date.parse(record.last_seen_at),
      JSON.stringify(record),
    ],
  );
  if (r.rowCount !== 1) return false;
  // A session that arrives by import is news to `sessions tail`: its start, and its end.
  await feed(client, record.session_id, record.status === "ended" ? ["start", "end"] : ["start"]);
  return true;
}

/** Change-feed entries for `sessionId`, stamped now, in the transaction under way. */
async function feed(client: PoolClient, sessionId: string, kinds: string[]): Promise<void> {
  const at = Date.now();
  for (const kind of kinds) {
    await client.query(
      "INSERT INTO session_buddy.feed (at_ms, session_id, kind) VALUES ($1, $2, $3)",
      [at, sessionId, kind],
    );
  }
}
