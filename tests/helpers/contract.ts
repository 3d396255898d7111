/**
 * Small helpers for the contract tests: a server on its own temporary store, and direct
 * looks at what the store holds.
 */
import { type Running, startServer, tempDir, withStore } from "./server.ts";

/** A running server on a fresh temporary store. */
export interface Fixture {
  server: Running;
  /** The temporary folder (HOME of the server). */
  dir: string;
  /** The store file, as SESSION_BUDDY_DB. */
  db: string;
}

/**
 * Starts a server on a fresh temp store (`<dir>/s.kv`), runs `fn`, and always closes the
 * server and removes the folder. `env` may be a function of the folder.
 */
export async function withServer(
  fn: (fx: Fixture) => Promise<void>,
  options: {
    env?: Record<string, string> | ((dir: string) => Record<string, string>);
    args?: string[] | ((dir: string) => string[]);
  } = {},
): Promise<void> {
  const { dir, cleanup } = await tempDir();
  const db = `${dir}/s.kv`;
  try {
    const extra = typeof options.env === "function" ? options.env(dir) : options.env ?? {};
    const args = typeof options.args === "function" ? options.args(dir) : options.args;
    const server = await startServer({
      env: { SESSION_BUDDY_DB: db, HOME: dir, ...extra },
      args,
    });
    try {
      await fn({ server, dir, db });
    } finally {
      await server.close();
    }
  } finally {
    await cleanup();
  }
}

/** Every key under `prefix` in the store, as arrays. */
export async function listKeys(db: string, prefix: Deno.KvKey): Promise<Deno.KvKey[]> {
  return await withStore(db, async (kv) => {
    const keys: Deno.KvKey[] = [];
    for await (const entry of kv.list({ prefix })) keys.push(entry.key);
    return keys;
  });
}

/** The ids of every stored session record. */
export async function sessionIds(db: string): Promise<string[]> {
  return (await listKeys(db, ["session"])).map((k) => String(k[1]));
}

/** Every entry of the store, keys and values rendered as text (byte values as UTF-8). */
export async function dumpStore(db: string): Promise<string[]> {
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

/** Waits until `check` is true or `ms` pass; returns the last outcome. */
export async function poll(check: () => Promise<boolean> | boolean, ms = 1000): Promise<boolean> {
  const until = Date.now() + ms;
  while (true) {
    if (await check()) return true;
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Asserts a start error result: status error, session_id null, error with the prefix. */
export function isStartError(result: Record<string, unknown>): boolean {
  return result.status === "error" && result.session_id === null &&
    typeof result.error === "string" && result.error.startsWith("Session start tracking failed: ");
}
