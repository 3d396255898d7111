/**
 * The PostgreSQL store's schema, `session_buddy`: created or upgraded by the first
 * writable open, in one transaction under an advisory lock (so that collectors starting
 * together do not race), with its version recorded in `session_buddy.meta`. A reading
 * command only checks it; a schema newer than this program knows is refused.
 */
import { adoptRecords } from "./adopt.ts";
import type { Pool } from "./driver.ts";

/** The schema version this program writes and reads. */
export const SCHEMA_VERSION = 2;

/** `pg_advisory_xact_lock` key of schema changes ("sbschema" as a number). */
const SCHEMA_LOCK = 0x7362736368656d;

/**
 * The statements of each version, in order: `MIGRATIONS[n - 1]` takes a database from
 * version n - 1 to n (version 0 being no schema at all).
 */
export const MIGRATIONS: string[][] = [[
  // Sessions: the record as the JSON text the contract returns (`text`, not `jsonb`, so
  // that its bytes and key order are what was stored), beside the columns the listings
  // filter and order by. session_id sorts bytewise, as Deno KV orders keys.
  `CREATE TABLE session_buddy.sessions (
    session_id text COLLATE "C" PRIMARY KEY,
    event_id text NOT NULL UNIQUE,
    started_ms bigint NOT NULL,
    component_name text NOT NULL,
    hostname text NOT NULL,
    username text NOT NULL,
    status text NOT NULL CHECK (status IN ('active', 'ended')),
    last_seen_ms bigint NOT NULL,
    version integer NOT NULL DEFAULT 1,
    record text NOT NULL
  )`,
  // One index per listing, each ending in (started_ms, session_id) for keyset paging.
  `CREATE INDEX sessions_by_start ON session_buddy.sessions (started_ms, session_id)`,
  `CREATE INDEX sessions_by_component
     ON session_buddy.sessions (component_name, started_ms, session_id)`,
  `CREATE INDEX sessions_by_host ON session_buddy.sessions (hostname, started_ms, session_id)`,
  `CREATE INDEX sessions_by_user ON session_buddy.sessions (username, started_ms, session_id)`,
  `CREATE INDEX sessions_by_status ON session_buddy.sessions (status, started_ms, session_id)`,
  // How many ids each {component}-{date}-{time} base has handed out.
  `CREATE TABLE session_buddy.id_counters (base text PRIMARY KEY, n integer NOT NULL)`,
  // Starts and ends as they were written, for `sessions tail` in every process: read and
  // forgotten by time, so keyed by it (one index per entry written, not two).
  `CREATE TABLE session_buddy.feed (
    at_ms bigint NOT NULL,
    seq bigserial,
    session_id text NOT NULL,
    kind text NOT NULL,
    PRIMARY KEY (at_ms, seq)
  )`,
  // A group of starts in one call, and so in one transaction; the answer has one element
  // per start, in order. Per start: an event id already stored is answered with its
  // session (the caller tells a retry from a conflict); otherwise the base's counter row is
  // taken (its lock orders racing writers) and the next id inserted. An insert that finds
  // its id or event taken (an id imported outside the counter, the same event committed
  // meanwhile) does nothing, and the loop looks again. ON CONFLICT rather than an
  // exception block: a subtransaction per start would overflow PostgreSQL's cache of them
  // (64 per transaction) in a full group, which slows every other session down.
  // (A set-based version, one statement per group, measured no faster: the cost is the
  // rows and their index entries, not the loop.)
  `CREATE FUNCTION session_buddy.start_sessions(batch jsonb) RETURNS jsonb
   LANGUAGE plpgsql AS $fn$
   DECLARE
     e jsonb;
     found_id text;
     found_record text;
     n integer;
     sid text;
     result jsonb := '[]'::jsonb;
   BEGIN
     FOR e IN SELECT value FROM jsonb_array_elements(batch) LOOP
       LOOP
         SELECT s.session_id, s.record INTO found_id, found_record
           FROM session_buddy.sessions s WHERE s.event_id = e->>'event_id';
         IF FOUND THEN
           result := result || jsonb_build_array(
             jsonb_build_object('existing', found_id, 'record', found_record));
           EXIT;
         END IF;
         INSERT INTO session_buddy.id_counters AS c (base, n) VALUES (e->>'base', 1)
           ON CONFLICT (base) DO UPDATE SET n = c.n + 1 RETURNING c.n INTO n;
         sid := CASE WHEN n = 1 THEN e->>'base' ELSE (e->>'base') || '-' || n END;
         INSERT INTO session_buddy.sessions (session_id, event_id, started_ms,
             component_name, hostname, username, status, last_seen_ms, record)
           VALUES (sid, e->>'event_id', (e->>'started_ms')::bigint, e->>'component_name',
             e->>'hostname', e->>'username', 'active', (e->>'last_seen_ms')::bigint,
             '{"session_id":' || to_json(sid)::text || ',' || (e->>'tail'))
           ON CONFLICT DO NOTHING;
         IF FOUND THEN
           INSERT INTO session_buddy.feed (at_ms, session_id, kind)
             VALUES ((e->>'at_ms')::bigint, sid, 'start');
           result := result || jsonb_build_array(jsonb_build_object('tracked', sid));
           EXIT;
         END IF;
       END LOOP;
     END LOOP;
     RETURN result;
   END
   $fn$`,
], [
  // Version 2: the tamper-evident history (SPEC 10). Each writer's chain, the entries as
  // the JSON text they were hashed from (text, as records are: what was written is kept);
  // each writer's head; seals per key and period; the heads a key's seals have vouched
  // for. A writer is one process's (src/store/lanes.ts): no two processes share a row.
  `CREATE TABLE session_buddy.entries (
    writer text COLLATE "C",
    seq bigint,
    entry text NOT NULL,
    PRIMARY KEY (writer, seq)
  )`,
  `CREATE TABLE session_buddy.heads (
    writer text COLLATE "C" PRIMARY KEY,
    s bigint NOT NULL,
    h text NOT NULL,
    at_ms bigint NOT NULL
  )`,
  `CREATE TABLE session_buddy.seals (
    key_id text,
    n bigint,
    seal text NOT NULL,
    PRIMARY KEY (key_id, n)
  )`,
  `CREATE TABLE session_buddy.sealed_heads (key_id text PRIMARY KEY, heads text NOT NULL)`,
  // Forwarding hosts' history, kept apart from the store's own (src/store/postgres/carried.ts):
  // copies never replaced, and what arrived different from them.
  `CREATE TABLE session_buddy.carried_entries (
    writer text COLLATE "C",
    seq bigint,
    entry text NOT NULL,
    PRIMARY KEY (writer, seq)
  )`,
  `CREATE TABLE session_buddy.carried_seals (
    key_id text,
    n bigint,
    seal text NOT NULL,
    PRIMARY KEY (key_id, n)
  )`,
  `CREATE TABLE session_buddy.carried_conflicts (
    kind text NOT NULL,
    a text NOT NULL,
    b bigint NOT NULL,
    at_ms bigint NOT NULL,
    value text NOT NULL
  )`,
]];

/**
 * The version recorded in the database, or null when it has no session-buddy schema.
 * A version row that is missing or not a number (changed by hand) is refused: nothing
 * here can tell what such a schema holds.
 */
async function recorded(query: Pool["query"]): Promise<number | null> {
  const table = await query<{ t: string | null }>(
    "SELECT to_regclass('session_buddy.meta')::text AS t",
  );
  if (!table.rows[0]?.t) return null;
  const version = await versionRow(query);
  if (version === null) {
    throw new Error(
      "session_buddy.meta records no schema_version: the schema was changed by hand; restore its version row",
    );
  }
  return version;
}

/** The version row of `session_buddy.meta`, or null when there is none. */
async function versionRow(query: Pool["query"]): Promise<number | null> {
  const row = await query<{ value: string }>(
    "SELECT value FROM session_buddy.meta WHERE key = 'schema_version'",
  );
  const value = row.rows[0]?.value;
  if (value === undefined) return null;
  if (!/^[1-9][0-9]{0,8}$/.test(value)) {
    throw new Error(
      `session_buddy.meta records an unreadable schema_version '${
        value.slice(0, 20)
      }': the schema was changed by hand; restore its version row`,
    );
  }
  return Number(value);
}

function newer(version: number): Error {
  return new Error(
    `the database's session-buddy schema is version ${version}, newer than this program's ${SCHEMA_VERSION}: use a newer session-buddy`,
  );
}

/**
 * Makes sure the database holds the schema of {@linkcode SCHEMA_VERSION}: when it does,
 * nothing is written; else a writable open creates or upgrades it in one transaction (under
 * a lock, looking again inside it: another writer may have done it meanwhile); a reading
 * one only checks.
 */
export async function ensureSchema(pool: Pool, readOnly: boolean): Promise<void> {
  const found = await recorded((text, values) => pool.query(text, values));
  // The usual case, on every start but the first: a role that may use the schema but not
  // change it (no CREATE on the database) opens it too.
  if (found === SCHEMA_VERSION) return;
  if (found !== null && found > SCHEMA_VERSION) throw newer(found);
  if (readOnly) {
    throw new Error(
      found === null
        ? "no session-buddy schema in that database (nothing has been tracked with this --db yet)"
        : `the database's session-buddy schema is version ${found}: start a server of this version once to upgrade it`,
    );
  }
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1)", [SCHEMA_LOCK]);
    // Looked at again under the lock: another writer may have just made or upgraded it.
    // (By name, not with to_regclass: right after the advisory lock, that missed a table
    // another writer had just committed, seen here with four servers starting at once.)
    await client.query("CREATE SCHEMA IF NOT EXISTS session_buddy");
    await client.query(
      "CREATE TABLE IF NOT EXISTS session_buddy.meta (key text PRIMARY KEY, value text NOT NULL)",
    );
    // No row: the table is this transaction's own (another writer commits both at once).
    const version = (await versionRow((text, values) => client.query(text, values))) ?? 0;
    if (version > SCHEMA_VERSION) throw newer(version);
    for (let next = version + 1; next <= SCHEMA_VERSION; next++) {
      for (const statement of MIGRATIONS[next - 1]!) await client.query(statement);
    }
    // Records written before the history began are taken into it, in this transaction.
    if (version >= 1 && version < 2) await adoptRecords(client);
    await client.query(
      `INSERT INTO session_buddy.meta (key, value) VALUES ('schema_version', $1)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
      [String(SCHEMA_VERSION)],
    );
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
