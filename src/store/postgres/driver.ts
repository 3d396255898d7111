/**
 * The PostgreSQL driver (`npm:pg`), loaded only when a `postgres://` store is opened, and
 * described here by just what the store uses of it.
 *
 * pg reads `PG*` environment variables for every option it is not given (and
 * `NODE_PG_FORCE_NATIVE` at import), and the serving Worker has no env permission: each
 * such read would throw `NotCapable`. So the driver sees an empty environment instead of
 * the Worker being granted `PG*`; every option it needs is passed explicitly.
 */
import process from "node:process";

/** A query's rows. */
export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number | null;
}

/** One connection, checked out of the pool. */
export interface PoolClient {
  query<Row = Record<string, unknown>>(text: string, values?: unknown[]): Promise<QueryResult<Row>>;
  release(destroy?: boolean | Error): void;
  on(event: "error", listener: (error: Error) => void): void;
}

/** A pool of connections that reconnects by itself. */
export interface Pool {
  query<Row = Record<string, unknown>>(text: string, values?: unknown[]): Promise<QueryResult<Row>>;
  connect(): Promise<PoolClient>;
  end(): Promise<void>;
  on(event: "error", listener: (error: Error) => void): void;
  on(event: "connect", listener: (client: PoolClient) => void): void;
}

/** What the pool is made with (pg's names). */
export interface PoolOptions {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  ssl: false | { rejectUnauthorized: boolean; ca?: string; servername?: string };
  max: number;
  connectionTimeoutMillis: number;
  idleTimeoutMillis: number;
  query_timeout: number;
  statement_timeout: number;
  application_name: string;
  keepAlive: boolean;
}

let loaded: Promise<new (options: PoolOptions) => Pool> | null = null;

/** The driver's `Pool` class, with the process environment hidden from it first. */
export function loadPool(): Promise<new (options: PoolOptions) => Pool> {
  loaded ??= (async () => {
    Object.defineProperty(process, "env", { value: {}, configurable: true, writable: true });
    const pg = await import("pg");
    return (pg.default ?? pg).Pool as unknown as new (options: PoolOptions) => Pool;
  })();
  return loaded;
}
