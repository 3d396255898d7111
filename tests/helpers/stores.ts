/**
 * The store a test server runs on, seen the same way whatever kind it is, so that one set of
 * contract test cases runs against every store (tests/helpers/contract.ts, `storeTest`).
 *
 * Kinds:
 * - `kv`: a Deno KV file `<dir>/s.kv`, read with `Deno.openKv` (what the server committed).
 * - `postgres`: a fresh database (and role) of the cluster tests/helpers/postgres.ts finds or
 *   starts, over TCP: `SESSION_BUDDY_DB=postgres://ROLE:PASSWORD@127.0.0.1:PORT/DB?sslmode=disable`.
 * - `postgres-socket`: the same over the cluster's Unix socket (`?host=/socket/dir`); not in
 *   the default list, ask for it with SESSION_BUDDY_TEST_STORES.
 * - `kv-connect`: a database of the KV Connect shim this test module shares
 *   (tests/helpers/kv_connect.ts), `SESSION_BUDDY_DB=http://127.0.0.1:PORT/db/NAME` with
 *   `DENO_KV_ACCESS_TOKEN`; what the server committed is read from the shim's SQLite file
 *   with `Deno.openKv` (the same layout as a local store).
 *
 * `SESSION_BUDDY_TEST_STORES` (comma-separated names) chooses kinds; by default every store:
 * `kv,postgres,kv-connect`. A chosen kind this machine cannot run (no PostgreSQL; not Linux on
 * x86-64 for KV Connect) is not in
 * {@linkcode STORES} but in {@linkcode UNAVAILABLE}: contract.ts then registers one test per
 * file that says it skipped, and fails when CI=true.
 *
 * What the tests read of a PostgreSQL store is this small contract with the adapter
 * (src/store/postgres/schema.ts keeps it): sessions live in the table
 * `session_buddy.sessions`, one row per session, with the columns `session_id text` and
 * `record text` (the record as the same JSON text the KV store keeps under
 * `["session", id]`); every table of the schema `session_buddy` is the store's content.
 */
import { kvConnectMissing, sharedShim } from "./kv_connect.ts";
import { pg, pgMissing } from "./postgres.ts";
import type { PgDatabase } from "./pg_database.ts";
import { readRecord as kvReadRecord, tempDir, withStore } from "./server.ts";

/** The names of the store kinds. */
export type StoreName = "kv" | "postgres" | "postgres-socket" | "kv-connect";

/** A store opened for one test. */
export interface TestStore {
  /** The kind's name, as in the test names (`[postgres] ...`). */
  readonly name: StoreName;
  /** The variables a server or command needs to use this store (SESSION_BUDDY_DB, ...). */
  readonly env: Record<string, string>;
  /** The store's location, as SESSION_BUDDY_DB and `--db` take it. */
  readonly db: string;
  /** The Deno KV file, for the checks of KV internals; null for other kinds. */
  readonly kvPath: string | null;
  /**
   * The SQLite file behind a Deno KV store, the local file or the one a KV Connect server
   * keeps, as an intruder on its host would open it; null for PostgreSQL.
   */
  readonly kvBacking: string | null;
  /** The PostgreSQL database, for checks of its own; null for other kinds. */
  readonly database: PgDatabase | null;
  /** The stored record of a session (parsed JSON), or null when there is none. */
  readRecord(sessionId: string): Promise<Record<string, unknown> | null>;
  /** The ids of every stored session, in byte order. */
  sessionIds(): Promise<string[]>;
  /**
   * Every stored entry as one line of text, sorted, values as they are stored (byte values
   * as UTF-8): for "nothing was stored" baselines and for scanning the store for secrets.
   */
  storedText(): Promise<string[]>;
  /**
   * Whether anything has created the store yet (the KV file; the `session_buddy` schema; in a
   * KV Connect database, any entry).
   */
  exists(): Promise<boolean>;
  /** Lets go of the store and removes it (the folder it made; the database). */
  close(): Promise<void>;
}

/** A kind of store that tests can open fresh. */
export interface StoreKind {
  readonly name: StoreName;
  /** A fresh, empty store; a KV file goes into `dir` when given (else a folder of its own). */
  open(dir?: string): Promise<TestStore>;
}

/** Every key under `prefix` in the KV file at `db`, as arrays. */
export async function kvListKeys(db: string, prefix: Deno.KvKey): Promise<Deno.KvKey[]> {
  return await withStore(db, async (kv) => {
    const keys: Deno.KvKey[] = [];
    for await (const entry of kv.list({ prefix })) keys.push(entry.key);
    return keys;
  });
}

/** The ids of every session record in the KV file at `db`. */
export async function kvSessionIds(db: string): Promise<string[]> {
  return (await kvListKeys(db, ["session"])).map((k) => String(k[1]));
}

/** Every entry of the KV file at `db`, keys and values rendered as text (bytes as UTF-8). */
export async function kvDump(db: string): Promise<string[]> {
  return await withStore(db, async (kv) => {
    const out: string[] = [];
    const decoder = new TextDecoder();
    for await (const entry of kv.list({ prefix: [] })) {
      const v = entry.value;
      const value = v instanceof Uint8Array ? decoder.decode(v) : JSON.stringify(
        v,
        (_k, x) => typeof x === "bigint" ? x.toString() : x,
      );
      out.push(
        `${JSON.stringify(entry.key, (_k, x) => typeof x === "bigint" ? String(x) : x)} ${value}`,
      );
    }
    return out;
  });
}

const KV: StoreKind = {
  name: "kv",
  async open(dir?: string): Promise<TestStore> {
    const own = dir === undefined ? await tempDir() : null;
    const path = `${dir ?? own!.dir}/s.kv`;
    return {
      name: "kv",
      env: { SESSION_BUDDY_DB: path },
      db: path,
      kvPath: path,
      kvBacking: path,
      database: null,
      // Opening a missing KV file would create it: a store nothing has written reads empty.
      readRecord: async (id) => (await exists(path)) ? await kvReadRecord(path, id) : null,
      sessionIds: async () => (await exists(path)) ? await kvSessionIds(path) : [],
      storedText: async () => (await exists(path)) ? await kvDump(path) : [],
      exists: () => exists(path),
      close: async () => await own?.cleanup(),
    };
  },
};

const KV_CONNECT: StoreKind = {
  name: "kv-connect",
  async open(): Promise<TestStore> {
    const shim = await sharedShim();
    const { url, path } = shim.database();
    // The shim makes the file when the database is first asked for; before that it is empty.
    const read = async <T>(fn: () => Promise<T>, empty: T) =>
      (await exists(path)) ? await fn() : empty;
    return {
      name: "kv-connect",
      env: { SESSION_BUDDY_DB: url, DENO_KV_ACCESS_TOKEN: shim.token },
      db: url,
      kvPath: null,
      kvBacking: path,
      database: null,
      readRecord: (id) => read(() => kvReadRecord(path, id), null),
      sessionIds: () => read(() => kvSessionIds(path), []),
      storedText: () => read(() => kvDump(path), []),
      exists: async () => (await read(() => kvDump(path), [])).length > 0,
      close: async () => {
        for (const suffix of ["", "-wal", "-shm"]) {
          await Deno.remove(`${path}${suffix}`).catch(() => {});
        }
      },
    };
  },
};

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** PostgreSQL error codes of a missing schema or table: the store is not created yet. */
const NOT_CREATED = new Set(["3F000", "42P01"]);

function notCreated(error: unknown): boolean {
  return NOT_CREATED.has(String((error as { code?: unknown }).code));
}

/** A value as text: strings as they are, bytes as UTF-8, others as JSON. */
function asText(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value, (_k, x) => typeof x === "bigint" ? x.toString() : x);
}

/**
 * Every session record of the store in `database` (parsed JSON), by session id; empty when
 * nothing has created the store there yet.
 */
export async function pgRecords(
  database: PgDatabase,
): Promise<Map<string, Record<string, unknown>>> {
  try {
    const rows = await database.query(
      "SELECT session_id::text AS id, record::text AS record FROM session_buddy.sessions",
    );
    return new Map(rows.map((r) => [String(r.id), JSON.parse(String(r.record))]));
  } catch (error) {
    if (notCreated(error)) return new Map();
    throw error;
  }
}

function postgresKind(name: "postgres" | "postgres-socket"): StoreKind {
  return {
    name,
    async open(): Promise<TestStore> {
      const cluster = await pg();
      if (!cluster) throw new Error(`no PostgreSQL: ${pgMissing()}`);
      const database = await cluster.createDatabase();
      const db = name === "postgres" ? database.url : database.socketUrl;
      if (db === null) {
        await database.drop();
        throw new Error(
          `the PostgreSQL cluster at ${cluster.host}:${cluster.port} has no socket here`,
        );
      }
      return {
        name,
        env: { SESSION_BUDDY_DB: db },
        db,
        kvPath: null,
        kvBacking: null,
        database,
        async readRecord(id) {
          try {
            const rows = await database.query(
              "SELECT record::text AS record FROM session_buddy.sessions WHERE session_id = $1",
              [id],
            );
            return rows[0] ? JSON.parse(String(rows[0].record)) : null;
          } catch (error) {
            if (notCreated(error)) return null;
            throw error;
          }
        },
        async sessionIds() {
          try {
            const rows = await database.query(
              `SELECT session_id::text AS id FROM session_buddy.sessions ORDER BY session_id::text COLLATE "C"`,
            );
            return rows.map((r) => String(r.id));
          } catch (error) {
            if (notCreated(error)) return [];
            throw error;
          }
        },
        async storedText() {
          const tables = await database.query(
            `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'session_buddy' AND c.relkind IN ('r', 'p') ORDER BY 1`,
          );
          const lines: string[] = [];
          for (const { name: table } of tables) {
            const quoted = `session_buddy."${String(table).replaceAll('"', '""')}"`;
            for (const row of await database.query(`SELECT * FROM ${quoted}`)) {
              const cells = Object.entries(row).map(([k, v]) => `${k}=${asText(v)}`);
              lines.push(`${table} ${cells.join(" ")}`);
            }
          }
          return lines.sort();
        },
        async exists() {
          const rows = await database.query(
            "SELECT 1 FROM pg_namespace WHERE nspname = 'session_buddy'",
          );
          return rows.length > 0;
        },
        close: () => database.drop(),
      };
    },
  };
}

const KINDS: Record<StoreName, StoreKind> = {
  kv: KV,
  postgres: postgresKind("postgres"),
  "postgres-socket": postgresKind("postgres-socket"),
  "kv-connect": KV_CONNECT,
};

/** The store kinds asked for (SESSION_BUDDY_TEST_STORES, else every store). */
export const WANTED: readonly StoreName[] = (() => {
  const given = Deno.env.get("SESSION_BUDDY_TEST_STORES")?.trim();
  if (!given) return ["kv", "postgres", "kv-connect"];
  const names = given.split(",").map((n) => n.trim()).filter((n) => n !== "");
  for (const n of names) {
    if (!(n in KINDS)) {
      throw new Error(
        `SESSION_BUDDY_TEST_STORES: unknown store '${n}' (use ${Object.keys(KINDS).join(", ")})`,
      );
    }
  }
  return [...new Set(names)] as StoreName[];
})();

/** Why a wanted kind cannot run on this machine. */
function missing(name: StoreName): string | null {
  if (name === "kv") return null;
  return name === "kv-connect" ? kvConnectMissing() : pgMissing();
}

/** The store kinds the contract tests run against here: each wanted one that can run. */
export const STORES: readonly StoreKind[] = WANTED.filter((n) => missing(n) === null)
  .map((n) => KINDS[n]);

/** The wanted kinds that cannot run here, and why. */
export const UNAVAILABLE: readonly { name: StoreName; reason: string }[] = WANTED
  .map((name) => ({ name, reason: missing(name) }))
  .filter((k): k is { name: StoreName; reason: string } => k.reason !== null);

/** The Deno KV kind, for the tests of KV internals (and the default of `withServer`). */
export const KV_STORE: StoreKind = KV;
