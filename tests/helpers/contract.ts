/**
 * Small helpers for the contract tests: a server on its own fresh store of any kind
 * (tests/helpers/stores.ts), the same test case registered once per store, and direct looks
 * at what a Deno KV store holds (for the tests of KV internals).
 */
import { type Running, startServer, tempDir } from "./server.ts";
import { skipWithoutPg } from "./postgres.ts";
import {
  KV_STORE,
  kvDump,
  kvListKeys,
  kvSessionIds,
  type StoreKind,
  STORES,
  type TestStore,
  UNAVAILABLE,
} from "./stores.ts";

export type { StoreKind, TestStore } from "./stores.ts";
export { KV_STORE, STORES } from "./stores.ts";

/** A running server on a fresh store. */
export interface Fixture {
  server: Running;
  /** The temporary folder (HOME of the server). */
  dir: string;
  /** The store's location, as SESSION_BUDDY_DB (for kv: the file `<dir>/s.kv`). */
  db: string;
  /** The store, to read what the server committed. */
  store: TestStore;
}

/**
 * Opens a fresh store of `kind` (a KV file goes into a new temporary folder), runs `fn`
 * with the store and the folder, and always closes the store and removes the folder.
 */
export async function withTestStore<T>(
  kind: StoreKind,
  fn: (store: TestStore, dir: string) => Promise<T>,
): Promise<T> {
  const { dir, cleanup } = await tempDir();
  try {
    const store = await kind.open(dir);
    try {
      return await fn(store, dir);
    } finally {
      await store.close();
    }
  } finally {
    await cleanup();
  }
}

/**
 * Starts a server on a fresh store of `options.store` (Deno KV `<dir>/s.kv` by default),
 * runs `fn`, and always closes the server, the store and removes the folder. `env` and
 * `args` may be functions of the folder.
 */
export async function withServer(
  fn: (fx: Fixture) => Promise<void>,
  options: {
    store?: StoreKind;
    env?: Record<string, string> | ((dir: string) => Record<string, string>);
    args?: string[] | ((dir: string) => string[]);
  } = {},
): Promise<void> {
  await withTestStore(options.store ?? KV_STORE, async (store, dir) => {
    const extra = typeof options.env === "function" ? options.env(dir) : options.env ?? {};
    const args = typeof options.args === "function" ? options.args(dir) : options.args;
    const server = await startServer({ env: { ...store.env, HOME: dir, ...extra }, args });
    try {
      await fn({ server, dir, db: store.db, store });
    } finally {
      await server.close();
    }
  });
}

const skipRegistered = new Set<string>();

/**
 * Registers the test case `name` once per store in {@linkcode STORES}, named
 * `[<store>] <name>`; `fn` gets the store kind (for `withServer({ store })`) and the test
 * context. A wanted store that this machine cannot run gets one test per file instead,
 * which says that it skipped (and fails when CI=true).
 */
export function storeTest(
  name: string,
  fn: (kind: StoreKind, t: Deno.TestContext) => Promise<void>,
): void {
  for (const kind of STORES) {
    Deno.test(`[${kind.name}] ${name}`, (t) => fn(kind, t));
  }
  for (const { name: store, reason } of UNAVAILABLE) {
    if (skipRegistered.has(store)) continue;
    skipRegistered.add(store);
    Deno.test(`[${store}] the contract tests of this file`, () => {
      const what = `the [${store}] runs of this file's contract tests`;
      if (store !== "kv-connect") return skipWithoutPg(what);
      if (Deno.env.get("CI") === "true") throw new Error(`${reason}: ${what} (CI must have it)`);
      console.log(`skipped: ${reason}: ${what}`);
    });
  }
}

/** Every key under `prefix` in the Deno KV store `db`, as arrays. */
export const listKeys: (db: string, prefix: Deno.KvKey) => Promise<Deno.KvKey[]> = kvListKeys;

/** The ids of every session record in the Deno KV store `db`. */
export const sessionIds: (db: string) => Promise<string[]> = kvSessionIds;

/** Every entry of the Deno KV store `db`, keys and values rendered as text (bytes as UTF-8). */
export const dumpStore: (db: string) => Promise<string[]> = kvDump;

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
