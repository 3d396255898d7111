/**
 * FLOOR-KV baseline for `deno task bench`: the FLOOR server whose tools each do one Deno KV
 * atomic commit on a file store, with a plain retry loop for other processes' locks.
 *
 * - `kv_insert`: a null-versionstamp check, a ~500-byte record and one index key (what a
 *   start must at least do).
 * - `kv_update`: reads the record, then one atomic commit checked on its versionstamp that
 *   rewrites it and sets one index key (what an end must at least do).
 *
 *     deno run -q -P=server --v8-flags=--max-semi-space-size=2 --config deno.json \
 *       --import-map=tests/imports.json --lock=tests/deno.lock bench/floor_kv.ts <store-path>
 *
 * (`deno task bench` starts it with the runtime flags of `deno task start`.)
 */
import { Server } from "@modelcontextprotocol/sdk/server";
// @ts-types="npm:/@modelcontextprotocol/sdk@1.32.2/server/stdio"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
// @ts-types="npm:/@modelcontextprotocol/sdk@1.32.2/types"
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const path = Deno.args[0];
if (!path) {
  console.error("usage: floor_kv.ts <store-path>");
  Deno.exit(2);
}
const kv = await Deno.openKv(path);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Runs a commit until it is not refused for another process's lock (1-5 ms random pause). */
async function retried<T>(attempt: () => Promise<T>): Promise<T> {
  for (let n = 0;; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof Error && /database is (locked|busy)/i.test(error.message))) {
        throw error;
      }
      if (n > 2000) throw error;
      await new Promise((r) => setTimeout(r, 1 + Math.random() * 4));
    }
  }
}

async function insert(args: Record<string, unknown>): Promise<Record<string, unknown>> {
  const id = String(args.event_id ?? crypto.randomUUID());
  const record = encoder.encode(JSON.stringify({ session_id: id, status: "active", ...args }));
  const at = Date.now();
  const res = await retried(() =>
    kv.atomic()
      .check({ key: ["rec", id], versionstamp: null })
      .set(["rec", id], record)
      .set(["idx", at, id], null)
      .commit()
  );
  return res.ok
    ? { session_id: id, status: "tracked", error: null }
    : { session_id: null, status: "error", error: "exists" };
}

async function update(args: Record<string, unknown>): Promise<Record<string, unknown>> {
  const id = String(args.session_id ?? "");
  for (let n = 0; n < 100; n++) {
    const entry = await retried(() => kv.get<Uint8Array>(["rec", id]));
    if (!entry.value) return { session_id: id, status: "not_found", error: null };
    const record = JSON.parse(decoder.decode(entry.value));
    record.status = "ended";
    record.ended_at = args.timestamp ?? new Date().toISOString();
    const res = await retried(() =>
      kv.atomic().check(entry).set(["rec", id], encoder.encode(JSON.stringify(record)))
        .set(["idx_end", Date.now(), id], null).commit()
    );
    if (res.ok) return { session_id: id, status: "ended", error: null };
  }
  return { session_id: id, status: "error", error: "contention" };
}

const server = new Server({ name: "bench-floor-kv", version: "1.0.0" }, {
  capabilities: { tools: {} },
});
server.setRequestHandler(ListToolsRequestSchema, () => ({
  tools: ["kv_insert", "kv_update"].map((name) => ({
    name,
    description: "One Deno KV atomic commit.",
    inputSchema: { type: "object", additionalProperties: true },
  })),
}));
server.setRequestHandler(CallToolRequestSchema, async (request) => {
  const args = (request.params.arguments ?? {}) as Record<string, unknown>;
  const name = request.params.name;
  let result: Record<string, unknown>;
  try {
    result = name === "kv_update" ? await update(args) : await insert(args);
  } catch (error) {
    result = { session_id: null, status: "error", error: String(error) };
  }
  return { content: [{ type: "text", text: JSON.stringify(result) }], structuredContent: result };
});
const transport = new StdioServerTransport();
transport.onclose = () => kv.close();
await server.connect(transport);
