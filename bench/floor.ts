/**
 * The baselines (FLOOR servers) the benchmarks compare ours with: a bare MCP SDK server, what
 * ours must at least do and nothing more, on stdio (`deno task bench`, `bench:pg`; it stops at
 * the end of stdin) or, given a PORT, over HTTP (`bench:http`: `Deno.serve` with the SDK's
 * stateless transport, JSON answers, a new transport and `Server` per request, and a
 * `GET /healthz` answering 200 once the store answers; SIGTERM or SIGINT stops it).
 *
 * - `noop`  (FLOOR, FLOOR-HTTP): answers at once.
 * - `kv`    (FLOOR-KV, FLOOR-HTTP-KV): `kv_insert` is one Deno KV atomic commit (a
 *   null-versionstamp check, a ~500-byte record under `["rec", id]`, one index key);
 *   `kv_update` rewrites it checked on its versionstamp, with one more index key. Commits
 *   refused for another process's lock are retried after 1-5 ms.
 * - `pg`    (FLOOR-PG): `pg_insert` is one autocommitted `INSERT` of that record through the
 *   store's driver (npm:pg, a `Pool` made as the store makes its own).
 *
 *     deno run -q -P=server --v8-flags=--max-semi-space-size=2 --config deno.json \
 *       --import-map=tests/imports.json --lock=tests/deno.lock bench/floor.ts \
 *       noop|kv|pg [STORE-PATH|postgres://URL] [PORT]
 */
// @ts-types="npm:/@modelcontextprotocol/sdk@1.32.2/server/stdio"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
// The "./*" export maps `X.js` to a missing `X.js.d.ts`; the extension-less subpath has types.
// @ts-types="npm:/@modelcontextprotocol/sdk@1.32.2/server/webStandardStreamableHttp"
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import process from "node:process";
import { Server } from "@modelcontextprotocol/sdk/server";
// @ts-types="npm:/@modelcontextprotocol/sdk@1.32.2/types"
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";

type Result = Record<string, unknown>;
interface Floor {
  name: string;
  /** Tool names published by `tools/list`; every call goes to `call`. */
  tools: string[];
  call(name: string, args: Result): Promise<Result>;
  /** What `GET /healthz` checks before answering 200. */
  health?: () => Promise<unknown>;
  close?: () => unknown;
}

const encoder = new TextEncoder();
const record = (id: string, args: Result) =>
  JSON.stringify({ session_id: id, status: "active", ...args });
const inserted = (id: string, ok: boolean): Result =>
  ok
    ? { session_id: id, status: "tracked", error: null }
    : { session_id: null, status: "error", error: "exists" };

async function kvFloor(path: string): Promise<Floor> {
  const kv = await Deno.openKv(path);
  const retried = async <T>(attempt: () => Promise<T>): Promise<T> => {
    for (let n = 0;; n++) {
      try {
        return await attempt();
      } catch (error) {
        if (!/database is (locked|busy)/i.test(String(error)) || n > 2000) throw error;
        await new Promise((r) => setTimeout(r, 1 + Math.random() * 4));
      }
    }
  };
  const insert = async (args: Result) => {
    const id = String(args.event_id ?? crypto.randomUUID());
    const res = await retried(() =>
      kv.atomic().check({ key: ["rec", id], versionstamp: null })
        .set(["rec", id], encoder.encode(record(id, args))).set(["idx", Date.now(), id], null)
        .commit()
    );
    return inserted(id, res.ok);
  };
  const update = async (args: Result) => {
    const id = String(args.session_id ?? "");
    for (let n = 0; n < 100; n++) {
      const entry = await retried(() => kv.get<Uint8Array>(["rec", id]));
      if (!entry.value) return { session_id: id, status: "not_found", error: null };
      const rec = JSON.parse(new TextDecoder().decode(entry.value));
      rec.status = "ended";
      rec.ended_at = args.timestamp ?? new Date().toISOString();
      const res = await retried(() =>
        kv.atomic().check(entry).set(["rec", id], encoder.encode(JSON.stringify(rec)))
          .set(["idx_end", Date.now(), id], null).commit()
      );
      if (res.ok) return { session_id: id, status: "ended", error: null };
    }
    return { session_id: id, status: "error", error: "contention" };
  };
  return {
    name: "bench-floor-kv",
    tools: ["kv_insert", "kv_update"],
    call: (name, args) => name === "kv_update" ? update(args) : insert(args),
    health: () => kv.get(["health"]),
    close: () => kv.close(),
  };
}

/** The part of npm:pg's `Pool` used here (it ships no types). */
interface Pool {
  query(text: string, values?: unknown[]): Promise<{ rowCount: number | null }>;
  end(): Promise<void>;
  on(event: "error", listener: (error: Error) => void): void;
}

async function pgFloor(url: string): Promise<Floor> {
  const { parsePostgresUrl } = await import("../src/store/postgres/url.ts");
  const t = parsePostgresUrl(url);
  // As src/store/postgres/driver.ts does: pg reads PG* variables for every option it is not
  // given, which the `server` permission set refuses; it sees an empty environment instead.
  const { default: process } = await import("node:process");
  Object.defineProperty(process, "env", { value: {}, configurable: true, writable: true });
  const pg = await import("pg");
  const PoolClass = (pg.default ?? pg).Pool as unknown as new (options: unknown) => Pool;
  // The options of the store's pool (src/store/postgres/store.ts), but TLS: loopback only.
  const pool = new PoolClass({
    host: t.socket ? t.socket.slice(0, t.socket.lastIndexOf("/")) : t.host!,
    port: t.port,
    user: t.user,
    ...(t.password !== null ? { password: t.password } : {}),
    database: t.database,
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
  await pool.query(
    `DO $$ BEGIN PERFORM pg_advisory_xact_lock(7262);
       CREATE SCHEMA IF NOT EXISTS bench_floor;
       CREATE TABLE IF NOT EXISTS bench_floor.records (
         id text PRIMARY KEY, at_ms bigint NOT NULL, record text NOT NULL);
       CREATE INDEX IF NOT EXISTS records_by_time ON bench_floor.records (at_ms, id);
     END $$`,
  );
  return {
    name: "bench-floor-pg",
    tools: ["pg_insert"],
    async call(_name, args) {
      const id = String(args.event_id ?? crypto.randomUUID());
      const res = await pool.query(
        "INSERT INTO bench_floor.records (id, at_ms, record) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        [id, Date.now(), record(id, args)],
      );
      return inserted(id, res.rowCount === 1);
    },
    close: () => pool.end().catch(() => {}),
  };
}

/** The floor `Deno.args` name (`noop`, `kv` or `pg`, then its store or URL), or exits with `usage`. */
async function floorOf(usage: string): Promise<Floor> {
  const [kind = "", target = ""] = Deno.args;
  if (!["noop", "kv", "pg"].includes(kind) || (kind !== "noop" && !target)) {
    console.error(`usage: ${usage}`);
    Deno.exit(2);
  }
  if (kind === "kv") return await kvFloor(target);
  if (kind === "pg") return await pgFloor(target);
  return {
    name: "bench-floor",
    tools: ["noop"],
    call: (_name, args) =>
      Promise.resolve({ session_id: String(args.event_id ?? args.session_id ?? ""), status: "ok" }),
  };
}

/** A low-level SDK `Server` with the floor's tools. */
function mcpServer(floor: Floor): Server {
  const server = new Server({ name: floor.name, version: "1.0.0" }, {
    capabilities: { tools: {} },
  });
  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: floor.tools.map((name) => ({
      name,
      description: "A baseline tool.",
      inputSchema: { type: "object", additionalProperties: true },
    })),
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    let result: Result;
    try {
      result = await floor.call(request.params.name, request.params.arguments ?? {});
    } catch (error) {
      result = { session_id: null, status: "error", error: String(error) };
    }
    return { content: [{ type: "text", text: JSON.stringify(result) }], structuredContent: result };
  });
  return server;
}

const USAGE = "floor.ts noop|kv|pg [STORE-PATH|postgres://URL] [PORT]";
const port = Deno.args[2] === undefined ? null : Number(Deno.args[2]);
if (port !== null && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
  console.error(`usage: ${USAGE}`);
  Deno.exit(2);
}
const floor = await floorOf(USAGE);
if (port === null) {
  const server = mcpServer(floor);
  await server.connect(new StdioServerTransport());
  // The SDK's transport does not stop at the end of stdin, and a pool would keep the process.
  process.stdin.on("end", () => server.close().catch(() => {}).finally(() => floor.close?.()));
} else {
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
  const http = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/healthz" && request.method === "GET") {
      try {
        await floor.health?.();
        return json(200, { status: "ok", version: "1.0.0" });
      } catch (error) {
        return json(503, { status: "unavailable", error: String(error) });
      }
    }
    if (pathname !== "/mcp") return new Response("Not Found\n", { status: 404 });
    if (request.method !== "POST") {
      return new Response(null, { status: 405, headers: { allow: "POST" } });
    }
    // Stateless: a transport may serve one request only, and a Server one transport.
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    const server = mcpServer(floor);
    await server.connect(transport);
    try {
      return await transport.handleRequest(request);
    } finally {
      void server.close();
    }
  });
  const stop = async () => {
    // Idle keep-alive connections close with the shutdown; a stuck request is not waited for.
    await Promise.race([http.shutdown(), new Promise((r) => setTimeout(r, 5000))]);
    await floor.close?.();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}
