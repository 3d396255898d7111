/** Opening the Deno KV store and checking that it is one. */
import { KvSessionStore } from "./kv_store.ts";
import type { KvLocation } from "../location.ts";
import {
  DeadlineKv,
  DeadlineStore,
  inTime,
  type KvHandle,
  REMOTE_DEADLINE_MS,
} from "./deadline.ts";
import { withRetry } from "./retry.ts";
import type { SessionStore } from "../port.ts";

/**
 * The layout version written into every store, for future migrations. 2: a start's index
 * keys may follow its record (`unindexed` markers), which a program that knows only 1
 * would not list; such a program refuses the store instead. 3: every change is also an
 * entry of the history (SPEC 10), which a program that knows only 2 would not write.
 */
export const LAYOUT_VERSION = 3;
const LAYOUT_KEY: Deno.KvKey = ["meta", "layout"];

/**
 * An open store and its KV handle (for code that reads keys itself); closing the store
 * closes both. `store` is `kvStore` itself on a local file, held to a deadline per call on
 * a remote one.
 */
export interface OpenedKvStore {
  kv: Deno.Kv;
  store: SessionStore;
  kvStore: KvSessionStore;
}

/** Group commits under way at once on a remote store (a local file's take turns). */
const REMOTE_GROUPS = 4;
/**
 * Checks per commit on a remote store. Deno KV allows 100, but denokv's SQLite engine
 * (self-hosted denokv, and the KV Connect server of the tests) refuses more than 10 with
 * a 500, which Deno's client then tries again and again: more would never commit.
 */
const REMOTE_CHECKS = 10;

/** A KV Connect store, opened within the deadline. */
function openRemote(url: string): Promise<Deno.Kv> {
  return inTime(Deno.openKv(url), "at open", REMOTE_DEADLINE_MS);
}

/** How a store is opened. */
export interface OpenOptions {
  /** Reading commands: never create or change a store. */
  readOnly?: boolean;
  /** Told of a background index commit that failed (its sessions stay listed). */
  onIndexError?: (error: unknown) => void;
}

/**
 * Opens the Deno KV store at `location` (a file, `:memory:` or KV Connect), reads its
 * layout version and stamps a new store with it; refuses a store of a newer layout.
 */
export async function openKvStore(
  location: KvLocation,
  options: OpenOptions = {},
): Promise<OpenedKvStore> {
  const file = location.kind === "file" ? location.path : null;
  if (options.readOnly && file !== null) {
    // Reading commands never create a store where there was none.
    try {
      Deno.statSync(file);
    } catch {
      throw new Error("no store there (nothing has been tracked with this --db yet)");
    }
  }
  if (!options.readOnly && file !== null) {
    // A new store is made readable by its owner only; SQLite gives its -wal and -shm
    // files the same mode. An empty file is a valid new SQLite database.
    try {
      Deno.openSync(file, { createNew: true, write: true, mode: 0o600 }).close();
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
  }
  // A KV Connect URL is opened as it is: there is no file to look at or to create.
  const local = location.kind !== "kv-connect";
  const kv = location.kind === "kv-connect"
    ? await openRemote(location.url)
    : await Deno.openKv(file ?? ":memory:");
  // Every read and commit of a remote store is held to a deadline.
  const handle: KvHandle = local ? kv : new DeadlineKv(kv);
  try {
    let adopt = false;
    await withRetry(async () => {
      const layout = await handle.get<number>(LAYOUT_KEY);
      const older = layout.value === null ||
        (typeof layout.value === "number" && layout.value < LAYOUT_VERSION);
      if (layout.value === null && options.readOnly && !local) {
        // A remote store nothing has written: as a missing file is, for reading commands.
        throw new Error("no session-buddy store there (nothing has been tracked in it yet)");
      }
      if (older && options.readOnly) return true;
      if (older) {
        const res = await handle.atomic().check(layout).set(LAYOUT_KEY, LAYOUT_VERSION).commit();
        // A store of an older layout may hold records the history has not seen.
        adopt = layout.value !== null;
        return res.ok ? true : undefined;
      }
      if (typeof layout.value !== "number" || layout.value > LAYOUT_VERSION) {
        throw new Error(`store layout ${layout.value} is not one this program knows`);
      }
      return true;
    });
    const store = local
      ? new KvSessionStore(handle, {}, true)
      : new KvSessionStore(handle, {}, true, REMOTE_GROUPS, REMOTE_CHECKS);
    if (options.onIndexError) store.onIndexError = options.onIndexError;
    if (adopt) await store.adopt();
    // Markers left by a process that died: their sessions are listed, but not indexed.
    if (!options.readOnly) await store.sweep();
    return { kv, store: local ? store : new DeadlineStore(store), kvStore: store };
  } catch (error) {
    kv.close();
    throw error;
  }
}
