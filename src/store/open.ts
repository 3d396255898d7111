/**
 * Opening the store a location names: a Deno KV file or `:memory:` here, and a
 * `postgres://` database through its own adapter, loaded only when one is asked for (so
 * that serving on Deno KV never loads the driver).
 */
import { openKvStore, type OpenOptions as KvOptions } from "./kv/open.ts";
import type { StoreLocation } from "./location.ts";
import type { SessionStore } from "./port.ts";

/** How a store is opened. */
export interface OpenOptions extends KvOptions {
  /** `SESSION_BUDDY_DB_PASSWORD`, for a PostgreSQL URL without one. */
  password?: string | null;
  /** The PEM text of `--db-ca`, for PostgreSQL's `sslmode=verify-full`. */
  ca?: string | null;
}

/** Opens the store at `location`; closing it lets go of everything it holds. */
export async function openStore(
  location: StoreLocation,
  options: OpenOptions = {},
): Promise<SessionStore> {
  if (location.kind === "postgres") {
    const { openPostgresStore } = await import("./postgres/store.ts");
    return await openPostgresStore(location.url, options);
  }
  return (await openKvStore(location, options)).store;
}
