/**
 * FLOOR-PG baseline for `deno task bench:pg`: the FLOOR server (a bare MCP SDK stdio server)
 * whose tool `pg_insert` does one `INSERT` per call, autocommitted, through the driver the
 * PostgreSQL store uses (npm:pg, a `pg.Pool` made as the store makes its own) on a table of
 * its own: `bench_floor.records (id text PRIMARY KEY, at_ms bigint, record text)` and one
 * index on `(at_ms, id)`, the ~500-byte record and the one index key of bench/floor_kv.ts.
 * The table is created at start when missing (under an advisory lock: several processes
 * may start on one database).
 *
 *     deno run -q -P=server --v8-flags=--max-semi-space-size=2 --config deno.json \
 *       --import-map=tests/imports.json --lock=tests/deno.lock bench/floor_pg.ts \
 *       postgres://USER:PASSWORD@HOST:PORT/DATABASE
 *
 * (`deno task bench:pg` starts it with the runtime flags of `deno task start`.)
 */
import { Server } from "@modelcontextprotocol/sdk/server";
// @ts-types="npm:/@modelcontextprotocol/sdk@1.32.2/server/stdio"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
// @ts-types="npm:/@modelcontextprotocol/sdk@1.32.2/types"
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import process from "node:process";
import { parsePostgresUrl } from "../src/store/postgres/url.ts";

/** The part of npm:pg's `Pool` used here (it ships no types). */
interface Pool {
  query(text: string, values?: unknown[]): Promise<{ rowCount: number | null }>;
  connect(): Promise<
    { query(text: string, values?: unknown[]): Promise<unknown>; release(): void }
  >;
  end(): Promise<void>;
  on(event: "error", listener: (error: Error) => void): void;
}

const url = Deno.args[0];
if (!url) {
  console.error("usage: floor_pg.ts postgres://USER:PASSWORD@HOST:PORT/DATABASE");
  Deno.exit(2);
}
const target = parsePostgresUrl(url);

// As src/store/postgres/driver.ts does: pg reads PG* variables for every option it is not
// given, which the `server` permission set refuses; it sees an empty environment instead.
Object.defineProperty(process, "env", { value: {}, configurable: true, writable: true });
const pg = await import("pg");
const PoolClass = (pg.default ?? pg).Pool as unknown as new (options: unknown) => Pool;
// The options of the store's pool (src/store/postgres/store.ts), but TLS: loopback only.
const pool = new PoolClass({
  host: target.socket ? target.socket.slice(0, target.socket.lastIndexOf("/")) : target.host!,
  port: target.port,
  user: target.user,
  ...(target.password !== null ? { password: target.password } : {}),
  database: target.database,
  ssl: false,
  max: 8,
  connectionTimeoutMillis: 4000,
  idleTimeoutMillis: 30_000,
  query_timeout: 4500,
  statement_timeout: 4000,
  application_name: "bench-floor-pg",
  keepAlive: true,
});
pool.on("error", () => {});

{
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock(7262)");
    await client.query("CREATE SCHEMA IF NOT EXISTS bench_floor");
    await client.query(
      `CREATE TABLE IF NOT EXISTS bench_floor.records (
         id text PRIMARY KEY, at_ms bigint NOT NULL, record text NOT NULL)`,
    );
    await client.query(
      "CREATE INDEX IF NOT EXISTS records_by_time ON bench_floor.records (at_ms, id)",
    );
    await client.query("COMMIT");
  } finally {
    client.release();
  }
}

async function insert(args: Record<string, unknown>): Promise<Record<string, unknown>> {
  const id = String(args.event_id ?? crypto.randomUUID());
  const record = JSON.stringify({ session_id: id, status: "active", ...args });
  const res = await pool.query(
    "INSERT INTO bench_floor.records (id, at_ms, record) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
    [id, Date.now(), record],
  );
  return res.rowCount === 1
    ? { session_id: id, status: "tracked", error: null }
    : { session_id: null, status: "error", error: "exists" };
}

const server = new Server({ name: "bench-floor-pg", version: "1.0.0" }, {
  capabilities: { tools: {} },
});
server.setRequestHandler(ListToolsRequestSchema, () => ({
  tools: [{
    name: "pg_insert",
    description: "One INSERT into PostgreSQL.",
    inputSchema: { type: "object", additionalProperties: true },
  }],
}));
server.setRequestHandler(CallToolRequestSchema, async (request) => {
  const args = (request.params.arguments ?? {}) as Record<string, unknown>;
  let result: Record<string, unknown>;
  try {
    result = await insert(args);
  } catch (error) {
    result = { session_id: null, status: "error", error: String(error) };
  }
  return { content: [{ type: "text", text: JSON.stringify(result) }], structuredContent: result };
});
await server.connect(new StdioServerTransport());
// The SDK's transport does not stop at the end of stdin (the MCP way to stop a stdio
// server), and the pool's connections would keep the process alive.
process.stdin.on("end", () => {
  server.close().catch(() => {}).finally(() => pool.end().catch(() => {}));
});
