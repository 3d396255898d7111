/**
 * Where the store lives, read once from `--db` (or `SESSION_BUDDY_DB`) into a typed
 * union that the Worker's permissions, the launcher and the store's opening all read.
 * Plain data only: the Worker is handed it by structured clone.
 */
import { absolute } from "../path.ts";
import { UsageError } from "../usage_error.ts";
import { describeKvConnect, isKvConnectUrl, parseKvConnectUrl } from "./kv/connect.ts";
import {
  describePostgres,
  isPostgresUrl,
  parsePostgresUrl,
  type PostgresTarget,
} from "./postgres/url.ts";

/** A KV Connect store (SPEC 8.4): its URL as given, and its own `host:port`. */
export interface KvConnectLocation {
  kind: "kv-connect";
  url: string;
  net: string;
}

/** A store the Deno KV adapter opens. */
export type KvLocation =
  /** An absolute path. */
  | { kind: "file"; path: string }
  | { kind: "memory" }
  | KvConnectLocation;

/** A store location: a Deno KV file, `:memory:`, a PostgreSQL database or KV Connect. */
export type StoreLocation =
  | KvLocation
  /** The URL read into its parts; the password is the URL's own, if it has one. */
  | { kind: "postgres"; url: PostgresTarget };

/** Runs a URL's parser, turning its refusal into the operator's usage error. */
function read<T>(parse: () => T, flag: string): T {
  try {
    return parse();
  } catch (error) {
    throw new UsageError(`invalid ${flag}: ${(error as Error).message}`);
  }
}

/**
 * Reads a store location (given as `flag`): `:memory:`, a `postgres://` or `postgresql://` URL, an
 * `https://` (or loopback `http://`) KV Connect URL, or a file path made absolute
 * against `cwd`. Throws {@linkcode UsageError} for anything else, never quoting a
 * password.
 *
 * @example
 * ```ts
 * parseLocation("data/s.kv", "/work"); // { kind: "file", path: "/work/data/s.kv" }
 * ```
 */
export function parseLocation(text: string, cwd: string, flag = "--db"): StoreLocation {
  if (text.trim() === "") throw new UsageError(`${flag} needs a value`);
  if (text === ":memory:") return { kind: "memory" };
  if (isPostgresUrl(text)) {
    return {
      kind: "postgres",
      url: read(() => parsePostgresUrl(text), flag),
    };
  }
  if (isKvConnectUrl(text)) {
    return { kind: "kv-connect", url: text, net: read(() => parseKvConnectUrl(text), flag).net };
  }
  if (text.trim() !== text) {
    // A URL pasted with a space before it would be taken for a file named after it.
    throw new UsageError(`${flag} begins or ends with white space: give it without`);
  }
  if (/^[a-z][a-z0-9+.-]+:/i.test(text)) {
    // Anything with a scheme (a foreign one, or `postgres:/` mistyped) is refused, and
    // quoted by its scheme only: what follows may hold a password. (`C:` is a drive.)
    throw new UsageError(
      `unknown kind of store (scheme '${
        text.slice(0, text.indexOf(":")).slice(0, 32)
      }:'): use a file path (./ before a name with a colon), postgres://, postgresql:// or https://`,
    );
  }
  return { kind: "file", path: absolute(text, cwd) };
}

/** A store location as it may be shown in a log line or an error: never with a password. */
export function locationName(location: StoreLocation): string {
  switch (location.kind) {
    case "file":
      return location.path;
    case "memory":
      return ":memory:";
    case "postgres":
      return describePostgres(location.url);
    case "kv-connect":
      return describeKvConnect(location.url);
  }
}
