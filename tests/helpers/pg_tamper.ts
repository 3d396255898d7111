/**
 * An intruder with the database password, for tests/e2e/tamper_test.ts: what the history
 * of a PostgreSQL store looks like in SQL, the attacks on it as plain SQL, and a snapshot
 * of the tables an attack touches, so that the store can be put back after each one.
 */
import type { Entry } from "../../src/seal/entry.ts";
import type { PgDatabase } from "./pg_database.ts";

/** The tables an attack may change: the records and the history. */
const TABLES = ["sessions", "entries", "heads", "seals", "sealed_heads"];

/** Copies the tables aside; `restore` puts them back as they were and drops the copy. */
export async function snapshotTables(db: PgDatabase): Promise<{ restore(): Promise<void> }> {
  await db.query("DROP SCHEMA IF EXISTS tamper_snapshot CASCADE");
  await db.query("CREATE SCHEMA tamper_snapshot");
  for (const t of TABLES) {
    await db.query(`CREATE TABLE tamper_snapshot.${t} AS TABLE session_buddy.${t}`);
  }
  return {
    async restore() {
      await db.query(`TRUNCATE ${TABLES.map((t) => `session_buddy.${t}`).join(", ")}`);
      for (const t of TABLES) {
        await db.query(`INSERT INTO session_buddy.${t} SELECT * FROM tamper_snapshot.${t}`);
      }
      await db.query("DROP SCHEMA tamper_snapshot CASCADE");
    },
  };
}

/** A stored entry: where it is kept and what it holds. */
export interface PgEntry {
  writer: string;
  seq: number;
  value: Entry;
}

/** Every entry, in (writer, seq) order. */
export async function pgEntries(db: PgDatabase): Promise<PgEntry[]> {
  const rows = await db.query(
    "SELECT writer, seq::text AS seq, entry FROM session_buddy.entries ORDER BY writer, seq",
  );
  return rows.map((r) => ({
    writer: String(r.writer),
    seq: Number(r.seq),
    value: JSON.parse(String(r.entry)),
  }));
}

/** The longest chain's entries, in order. */
export async function pgLongestChain(db: PgDatabase): Promise<PgEntry[]> {
  const by = new Map<string, PgEntry[]>();
  for (const e of await pgEntries(db)) {
    const list = by.get(e.writer) ?? [];
    list.push(e);
    by.set(e.writer, list);
  }
  return [...by.values()].sort((a, b) => b.length - a.length)[0]!;
}

/** Replaces what entry `seq` of `writer` holds with `text`. */
export async function setEntryText(
  db: PgDatabase,
  writer: string,
  seq: number,
  text: string,
): Promise<void> {
  await db.query(
    "UPDATE session_buddy.entries SET entry = $3 WHERE writer = $1 AND seq = $2",
    [writer, seq, text],
  );
}

/** The stored record of a session, parsed. */
export async function pgRecord(db: PgDatabase, id: string): Promise<Record<string, unknown>> {
  const rows = await db.query(
    "SELECT record FROM session_buddy.sessions WHERE session_id = $1",
    [id],
  );
  return JSON.parse(String(rows[0]!.record));
}

/** Inserts a session row for `record`, as the store would lay it out. */
// deno-lint-ignore no-explicit-any
export async function insertSession(db: PgDatabase, record: any): Promise<void> {
  await db.query(
    `INSERT INTO session_buddy.sessions (session_id, event_id, started_ms, component_name,
       hostname, username, status, last_seen_ms, record)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      record.session_id,
      record.event_id,
      Date.parse(record.started_at),
      record.component_name,
      record.hostname,
      record.user.username,
      record.status,
      Date.parse(record.last_seen_at),
      JSON.stringify(record),
    ],
  );
}

/** Writes a one-entry chain of a writer nobody has, and its head. */
export async function insertChain(db: PgDatabase, entry: Entry): Promise<void> {
  await db.query(
    "INSERT INTO session_buddy.entries (writer, seq, entry) VALUES ($1, $2, $3)",
    [entry.w, entry.s, JSON.stringify(entry)],
  );
  await db.query(
    "INSERT INTO session_buddy.heads (writer, s, h, at_ms) VALUES ($1, $2, $3, $4)",
    [entry.w, entry.s, entry.h, entry.at],
  );
}
