/**
 * FLOOR-HTTP-KV baseline for `deno task bench:http`: the FLOOR-HTTP server
 * (bench/floor_http.ts: `Deno.serve`, the SDK's stateless JSON transport, a low-level SDK
 * `Server`) whose tool `kv_insert` does one Deno KV atomic commit on a file store, as
 * bench/floor_kv.ts's does: a null-versionstamp check, a ~500-byte record under
 * `["rec", id]` and one index key. Its `GET /healthz` reads one key first, as a health
 * check of a store must.
 *
 *     deno run -q -P=server --v8-flags=--max-semi-space-size=2 --config deno.json \
 *       --import-map=tests/imports.json --lock=tests/deno.lock bench/floor_http_kv.ts \
 *       <port> <store-path>
 *
 * (`deno task bench:http` starts it with the runtime flags of `deno task start`.)
 */
import { portArgument, serveFloor } from "./floor_http.ts";

const USAGE = "floor_http_kv.ts <port> <store-path>";
const port = portArgument(USAGE);
const path = Deno.args[1];
if (!path) {
  console.error(`usage: ${USAGE}`);
  Deno.exit(2);
}
const kv = await Deno.openKv(path);
const encoder = new TextEncoder();

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

serveFloor({
  name: "bench-floor-http-kv",
  tools: ["kv_insert"],
  call: (_name, args) => insert(args),
  health: async () => {
    await kv.get(["health"]);
  },
  close: () => kv.close(),
}, port);
