/**
 * A baseline for `deno task bench` and `deno task bench:pg`: a bare MCP SDK stdio server with
 * the tools of bench/floor_tools.ts (FLOOR: `noop`, FLOOR-KV: `kv`, FLOOR-PG: `pg`). It stops
 * at the end of stdin, as an MCP stdio server does. (The benchmarks start it with the runtime
 * flags of `deno task start`.)
 *
 *     deno run -q -P=server --v8-flags=--max-semi-space-size=2 --config deno.json \
 *       --import-map=tests/imports.json --lock=tests/deno.lock bench/floor.ts \
 *       noop|kv|pg [STORE-PATH|postgres://URL]
 */
// @ts-types="npm:/@modelcontextprotocol/sdk@1.32.2/server/stdio"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import process from "node:process";
import { floorOf, mcpServer } from "./floor_tools.ts";

const floor = await floorOf("floor.ts noop|kv|pg [STORE-PATH|postgres://URL]");
const server = mcpServer(floor);
await server.connect(new StdioServerTransport());
// The SDK's transport does not stop at the end of stdin, and a pool's connections would keep
// the process alive.
process.stdin.on("end", () => server.close().catch(() => {}).finally(() => floor.close?.()));
