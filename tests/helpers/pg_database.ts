/**
 * The client side of the test clusters: the npm:pg client the helpers use ({@linkcode withClient},
 * {@linkcode query}), a cluster known by its admin URL ({@linkcode clusterAt}), and a fresh
 * database for each test, owned by a role of its own (same name, LOGIN, random password), so a
 * wrong or missing password is refused over TCP and over the Unix socket, and a test can check
 * how a server handles both.
 */
import pgModule from "pg";
import { exists, randomHex } from "./pg_cluster.ts";

/** A row as npm:pg returns it (column name to parsed value). */
export type Row = Record<string, unknown>;

/** A fresh database, owned by a role of its own. */
export interface PgDatabase {
  /** `sb_<random>`: the database's name, and its role's. */
  name: string;
  /** The role that owns the database (LOGIN, not a superuser). */
  user: string;
  /** That role's password. */
  password: string;
  /** `postgres://USER:PASSWORD@HOST:PORT/NAME?sslmode=disable` (TCP). */
  url: string;
  /** The same URL without the password (for `SESSION_BUDDY_DB_PASSWORD`). */
  urlWithoutPassword: string;
  /**
   * `postgres://USER:PASSWORD@localhost:PORT/NAME?host=SOCKETDIR&sslmode=disable`: the Unix
   * socket (`SOCKETDIR/.s.PGSQL.PORT`), or null when the cluster has none here.
   */
  socketUrl: string | null;
  /** Runs SQL in this database as the cluster's admin (sees every table, whoever owns it). */
  query(text: string, params?: unknown[]): Promise<Row[]>;
  /** Ends every connection to the database, drops it and its role. */
  drop(): Promise<void>;
}

/** The cluster the tests use. */
export interface PgCluster {
  /** Admin URL (a superuser, or a role that may create databases and roles). */
  admin: string;
  /** TCP host, `127.0.0.1` for a cluster started here. */
  host: string;
  port: number;
  /** The folder of the Unix socket `.s.PGSQL.<port>`, or null when there is none here. */
  socketDir: string | null;
  /** Creates a database (and its role) for one test. */
  createDatabase(): Promise<PgDatabase>;
}

/** The part of an npm:pg `Client` the helpers use. */
export interface PgClient {
  connect(): Promise<void>;
  query(text: string, values?: unknown[]): Promise<{ rows: Row[] }>;
  end(): Promise<void>;
  on(event: "error", listener: (error: Error) => void): unknown;
}

// npm:pg ships no types; this is the part of its API used here.
const { Client } = pgModule as unknown as {
  Client: new (config: { connectionString: string }) => PgClient;
};

/** Connects to `url` (any postgres:// URL npm:pg understands), runs `fn`, always disconnects. */
export async function withClient<T>(url: string, fn: (client: PgClient) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  // A backend ended under an idle client (a dropped database) must not be an uncaught error.
  client.on("error", () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Runs one statement on `url` and returns its rows. */
export async function query(url: string, text: string, params: unknown[] = []): Promise<Row[]> {
  return await withClient(url, async (client) => (await client.query(text, params)).rows);
}

/** `"name"`, for identifiers the helper makes itself (letters, digits, `_`). */
function ident(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain identifier: ${name}`);
  return `"${name}"`;
}

/** A cluster reachable at `admin`; `socketDir` when known, else asked of the server. */
export async function clusterAt(admin: string, knownSocketDir: string | null): Promise<PgCluster> {
  const url = new URL(admin);
  const host = url.searchParams.get("host")?.startsWith("/")
    ? "127.0.0.1"
    : decodeURIComponent(url.hostname.replace(/^\[|\]$/g, "")) || "127.0.0.1";
  let settings: Row;
  try {
    [settings = {}] = await query(
      admin,
      "SELECT current_setting('port') AS port, current_setting('unix_socket_directories') AS dirs",
    );
  } catch (error) {
    throw new Error(
      `PostgreSQL at ${redact(admin)} does not answer: ${(error as Error).message}`,
    );
  }
  const port = Number(settings.port);
  let socketDir = knownSocketDir;
  if (socketDir === null) {
    for (const dir of String(settings.dirs ?? "").split(",").map((d) => d.trim())) {
      if (dir.startsWith("/") && await exists(`${dir}/.s.PGSQL.${port}`)) {
        socketDir = dir;
        break;
      }
    }
  }
  return {
    admin,
    host,
    port,
    socketDir,
    createDatabase: () => createDatabase(admin, host, port, socketDir),
  };
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

async function createDatabase(
  admin: string,
  host: string,
  port: number,
  socketDir: string | null,
): Promise<PgDatabase> {
  const name = `sb_${randomHex(8)}`;
  const password = randomHex(16);
  await withClient(admin, async (client) => {
    await client.query(`CREATE ROLE ${ident(name)} LOGIN PASSWORD '${password}'`);
    await client.query(`CREATE DATABASE ${ident(name)} OWNER ${ident(name)}`);
  });
  const hostPart = host.includes(":") ? `[${host}]` : host;
  const urlWithoutPassword = `postgres://${name}@${hostPart}:${port}/${name}?sslmode=disable`;
  const url = `postgres://${name}:${password}@${hostPart}:${port}/${name}?sslmode=disable`;
  const socketUrl = socketDir === null
    ? null
    : `postgres://${name}:${password}@localhost:${port}/${name}?host=${
      encodeURIComponent(socketDir).replaceAll("%2F", "/")
    }&sslmode=disable`;
  const adminUrl = new URL(admin);
  adminUrl.pathname = `/${name}`;
  const inDatabase = adminUrl.toString();
  let client: PgClient | null = null;
  let dropped = false;
  return {
    name,
    user: name,
    password,
    url,
    urlWithoutPassword,
    socketUrl,
    async query(text, params = []) {
      if (dropped) throw new Error(`database ${name} was dropped`);
      if (!client) {
        const fresh = new Client({ connectionString: inDatabase });
        fresh.on("error", () => {});
        await fresh.connect();
        client = fresh;
      }
      return (await client.query(text, params)).rows;
    },
    async drop() {
      if (dropped) return;
      dropped = true;
      const open = client;
      client = null;
      await open?.end().catch(() => {});
      await withClient(admin, async (c) => {
        const [{ v = 0 } = {}] = (await c.query(
          "SELECT current_setting('server_version_num')::int AS v",
        )).rows as { v?: number }[];
        if (v >= 130000) {
          await c.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
        } else {
          for (let attempt = 0;; attempt++) {
            await c.query(
              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
              [name],
            );
            try {
              await c.query(`DROP DATABASE IF EXISTS ${ident(name)}`);
              break;
            } catch (error) {
              if (attempt >= 20) throw error;
              await new Promise((r) => setTimeout(r, 50));
            }
          }
        }
        await c.query(`DROP ROLE IF EXISTS ${ident(name)}`);
      });
    },
  };
}
