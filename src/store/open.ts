/**
 * Opening the store a location names: a Deno KV file or `:memory:` here, and each other
 * kind of store through its own adapter, loaded only when it is asked for.
 */
import { openKvStore, type OpenOptions } from "./kv/open.ts";
import type { SessionStore } from "./port.ts";

export type { OpenOptions } from "./kv/open.ts";

/** Opens the store at `location`; closing it lets go of everything it holds. */
export async function openStore(
  location: string,
  options: OpenOptions = {},
): Promise<SessionStore> {
  return (await openKvStore(location, options)).store;
}
