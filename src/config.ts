/**
 * The serve configuration from flags and environment: plain data in, a typed result out.
 * The command line's grammar is in `cli/`; nothing here touches Deno's globals.
 */
import type { Flags, Repeated } from "./cli/flags.ts";
import { parseDuration } from "./duration.ts";
import { hostPort, isLoopback, parseAllowedHost, parseListen, parseOrigin } from "./net.ts";
import { absolute } from "./path.ts";
import { parseLocation, type StoreLocation } from "./store/location.ts";
import { UsageError } from "./usage_error.ts";

/** Levels an operator can choose, lowest first. */
export const LOG_LEVELS = ["debug", "info", "warning", "error"] as const;
/** One of {@linkcode LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];
/** Shortest secret the server starts with. */
export const MIN_SECRET_LENGTH = 32;

/** Everything the server needs to run. */
export interface ServeConfig {
  /** HS256 secret; `null` turns authentication off. */
  secret: string | null;
  /** Where the store lives, read once (`--db` or `SESSION_BUDDY_DB`). */
  db: StoreLocation;
  /** `SESSION_BUDDY_DB_PASSWORD`: the PostgreSQL password when the URL has none. */
  dbPassword: string | null;
  /** `--db-ca`: the PEM file of the CA that signed the PostgreSQL server's certificate. */
  dbCa: string | null;
  /** Whether `db` is the built-in default location. */
  dbIsDefault: boolean;
  logFile: string | null;
  logLevel: LogLevel;
  staleAfterMs: number;
  /** Serve MCP over Streamable HTTP (SPEC 8.1) instead of stdio; null for stdio. */
  http: HttpConfig | null;
  /** Seal the store's history (SPEC 10); null when no sealing key is given. */
  seal: SealConfig | null;
}

/** How a server or forwarder seals its history. */
export interface SealConfig {
  /** The sealing key file (absolute), read and moved forward by the serving Worker. */
  keyFile: string;
  /** The length of a period: one seal each. */
  everyMs: number;
}

/**
 * `--seal-key-file` (or `SESSION_BUDDY_SEAL_KEY_FILE`) and `--seal-every` (or
 * `SESSION_BUDDY_SEAL_EVERY`, default 15m); null when no key file is given.
 */
export function sealConfig(
  flags: Flags,
  env: Record<string, string | undefined>,
  cwd: string,
): SealConfig | null {
  const file = flags["--seal-key-file"] ?? (env.SESSION_BUDDY_SEAL_KEY_FILE || undefined);
  const every = flags["--seal-every"] ?? (env.SESSION_BUDDY_SEAL_EVERY || undefined);
  if (file === undefined) {
    if (every !== undefined) {
      throw new UsageError("--seal-every needs a sealing key: --seal-key-file PATH");
    }
    return null;
  }
  if (file.trim() === "") throw new UsageError("--seal-key-file needs a value");
  const everyMs = parseDuration(every ?? "15m", "--seal-every");
  if (everyMs < 1000 || everyMs > 24 * 3600_000) {
    throw new UsageError(`invalid --seal-every '${every}': use 1s to 24h`);
  }
  return { keyFile: absolute(file, cwd), everyMs };
}

/** Where and how `serve --http` listens. */
export interface HttpConfig {
  /** A host name, an IPv4 address, or an IPv6 address without brackets. */
  host: string;
  port: number;
  /** PEM certificate chain and private key files (absolute); both null for plain HTTP. */
  tlsCert: string | null;
  tlsKey: string | null;
  /** Browser origins allowed besides loopback ones, as `scheme://host[:port]`. */
  allowedOrigins: string[];
  /** Host names a loopback listener accepts besides loopback ones (a proxy in front). */
  allowedHosts: string[];
}

/** Facts about the machine that a default depends on. */
export interface Platform {
  os: string;
  cwd: string;
  /** The clock for relative times such as `--since 24h`. */
  now?: Date;
  /** Reads a file the outer process is to hand on (the secret file). */
  readTextFile?: (path: string) => string;
}

/**
 * Where the store lives when nothing is configured: the platform's per-user data folder.
 * Returns `null` when the environment does not say where home is.
 */
export function defaultDbPath(env: Record<string, string | undefined>, os: string): string | null {
  const home = env.HOME;
  if (os === "darwin") {
    return home ? `${home}/Library/Application Support/session-buddy/sessions.kv` : null;
  }
  const data = env.XDG_DATA_HOME?.startsWith("/") ? env.XDG_DATA_HOME : null;
  if (data) return `${data}/session-buddy/sessions.kv`;
  return home ? `${home}/.local/share/session-buddy/sessions.kv` : null;
}

/**
 * The serve configuration (SPEC 8.1): the store's, then the secret, then `--http`'s, each
 * refused with a usage error in that order.
 */
export function serveConfig(
  flags: Flags,
  repeated: Repeated,
  env: Record<string, string | undefined>,
  platform: Platform,
): ServeConfig {
  const config = storeConfig(flags, env, platform);
  config.secret = readSecret(flags, env, platform);
  if (!config.secret && requireAuth(flags, env)) {
    throw new UsageError(
      "authentication is required (--require-auth or SESSION_BUDDY_REQUIRE_AUTH=1) but no secret is set: " +
        "set SESSION_BUDDY_SECRET, SESSION_BUDDY_SECRET_FILE or --secret-file",
    );
  }
  config.http = httpConfig(flags, repeated, env, platform.cwd);
  config.seal = sealConfig(flags, env, platform.cwd);
  return config;
}

/** Whether the operator asked to refuse starting without a secret. */
function requireAuth(flags: Flags, env: Record<string, string | undefined>): boolean {
  if (flags["--require-auth"] === "true") return true;
  const value = (env.SESSION_BUDDY_REQUIRE_AUTH ?? "").trim().toLowerCase();
  if (value === "" || value === "0" || value === "false" || value === "no") return false;
  if (value === "1" || value === "true" || value === "yes") return true;
  throw new UsageError(
    `invalid SESSION_BUDDY_REQUIRE_AUTH '${value.slice(0, 32)}': use 1 (or 0 to leave it off)`,
  );
}

/** The `serve --http` options (SPEC 8.1), or null for stdio when none is given. */
function httpConfig(
  flags: Flags,
  repeated: Repeated,
  env: Record<string, string | undefined>,
  cwd: string,
): HttpConfig | null {
  const origins = repeated.origins;
  const hostList = repeated.hosts.length > 0
    ? repeated.hosts
    : (env.SESSION_BUDDY_ALLOWED_HOSTS ?? "").split(",").filter((h) => h.trim() !== "");
  const listen = flags["--http"] ?? (env.SESSION_BUDDY_HTTP || undefined);
  const cert = flags["--tls-cert"] ?? (env.SESSION_BUDDY_TLS_CERT || undefined);
  const key = flags["--tls-key"] ?? (env.SESSION_BUDDY_TLS_KEY || undefined);
  const originList = origins.length > 0
    ? origins
    : (env.SESSION_BUDDY_ALLOWED_ORIGINS ?? "").split(",").filter((o) => o.trim() !== "");
  const plain = flags["--plain-http"] === "true";
  if (listen === undefined) {
    const stray = [
      ["--tls-cert", cert],
      ["--tls-key", key],
      ["--allowed-origin", originList.length > 0 ? "x" : undefined],
      ["--allowed-host", hostList.length > 0 ? "x" : undefined],
      ["--plain-http", plain ? "x" : undefined],
    ].find(([, v]) => v !== undefined);
    if (stray) throw new UsageError(`${stray[0]} is an option of serve --http`);
    return null;
  }
  const { host, port } = parseListen(listen);
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError(
      `${cert === undefined ? "--tls-key" : "--tls-cert"} needs ${
        cert === undefined ? "--tls-cert" : "--tls-key"
      } too: HTTPS takes a certificate chain and its private key`,
    );
  }
  if (plain && cert !== undefined) {
    throw new UsageError(
      "--plain-http and --tls-cert/--tls-key ask for opposite things: choose one",
    );
  }
  if (!isLoopback(host) && cert === undefined && !plain) {
    throw new UsageError(
      `serving on ${
        hostPort(host, port)
      } needs TLS (--tls-cert and --tls-key), or --plain-http behind a TLS-terminating proxy`,
    );
  }
  return {
    host,
    port,
    tlsCert: cert === undefined ? null : absolute(cert, cwd),
    tlsKey: key === undefined ? null : absolute(key, cwd),
    allowedOrigins: [...new Set(originList.map(parseOrigin))],
    allowedHosts: [...new Set(hostList.map(parseAllowedHost))],
  };
}

/** A start-up failure that is not the operator's wording (exit status 1, one line). */
export class StartupError extends Error {
  override name = "StartupError";
}

/**
 * The secret: `SESSION_BUDDY_SECRET`, or the first line of the secret file (its newline
 * stripped), read here in the outer process so that the server needs no read access to
 * it. Both given is a usage error; an unreadable file is a {@linkcode StartupError}.
 */
export function readSecret(
  flags: Flags,
  env: Record<string, string | undefined>,
  platform: Platform,
): string | null {
  const fromEnv = env.SESSION_BUDDY_SECRET || null;
  const file = flags["--secret-file"] ?? (env.SESSION_BUDDY_SECRET_FILE || undefined);
  if (file !== undefined && file.trim() === "") throw new UsageError("--secret-file needs a value");
  if (file !== undefined && fromEnv !== null) {
    throw new UsageError(
      "SESSION_BUDDY_SECRET and a secret file (--secret-file or SESSION_BUDDY_SECRET_FILE) are both set: use one",
    );
  }
  let secret = fromEnv;
  let where = "SESSION_BUDDY_SECRET";
  if (file !== undefined) {
    const path = absolute(file, platform.cwd);
    if (!platform.readTextFile) throw new StartupError(`cannot read the secret file ${path}`);
    let text: string;
    try {
      text = platform.readTextFile(path);
    } catch (error) {
      // The runtime's message names the path and the cause, never the content.
      const cause = error instanceof Error ? error.name : "error";
      throw new StartupError(`cannot read the secret file ${path}: ${cause}`);
    }
    secret = text.split("\n", 1)[0]!.replace(/\r$/, "");
    where = `the secret file ${path}`;
    if (secret === "") throw new UsageError(`${where} is empty: its first line is the secret`);
  }
  if (secret !== null && secret.length < MIN_SECRET_LENGTH) {
    throw new UsageError(
      `${where} is too short: use at least ${MIN_SECRET_LENGTH} characters (session-buddy secret prints one)`,
    );
  }
  return secret;
}

/**
 * What every command that opens the store reads: the store, its password and CA, the log
 * and the staleness threshold. No secret (only serving checks tokens) and no HTTP.
 */
export function storeConfig(
  flags: Flags,
  env: Record<string, string | undefined>,
  platform: Platform,
): ServeConfig {
  const level = (flags["--log-level"] ?? env.SESSION_BUDDY_LOG_LEVEL ?? "info").toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`invalid log level '${level}': use one of ${LOG_LEVELS.join(", ")}`);
  }
  const stale = flags["--stale-after"] ?? env.SESSION_BUDDY_STALE_AFTER ?? "12h";
  const staleAfterMs = parseDuration(stale, "stale-after duration");

  const givenDb = flags["--db"] ?? env.SESSION_BUDDY_DB;
  let db: StoreLocation;
  if (givenDb === undefined) {
    const fallback = defaultDbPath(env, platform.os);
    if (!fallback) {
      throw new UsageError("no default store location: HOME is not set; set SESSION_BUDDY_DB");
    }
    db = { kind: "file", path: fallback };
  } else {
    db = parseLocation(givenDb, platform.cwd);
  }
  const caRaw = flags["--db-ca"] ?? (env.SESSION_BUDDY_DB_CA || undefined);
  if (caRaw !== undefined && db.kind !== "postgres") {
    throw new UsageError("--db-ca is for a postgres:// store (the CA of its server's certificate)");
  }
  const logFileRaw = flags["--log-file"] ?? env.SESSION_BUDDY_LOG_FILE;
  if (logFileRaw !== undefined && logFileRaw.trim() === "") {
    throw new UsageError("--log-file needs a value");
  }
  return {
    // Only serving checks tokens: the operator commands' Worker is never handed the secret.
    secret: null,
    db,
    dbIsDefault: givenDb === undefined,
    dbPassword: env.SESSION_BUDDY_DB_PASSWORD || null,
    dbCa: caRaw === undefined ? null : absolute(caRaw, platform.cwd),
    logFile: logFileRaw === undefined ? null : absolute(logFileRaw, platform.cwd),
    logLevel: level as LogLevel,
    staleAfterMs,
    http: null,
    seal: null,
  };
}
