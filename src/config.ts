/**
 * Configuration from environment and command line: plain data in, a typed result out.
 * Nothing here touches Deno's globals.
 */
import { parseInstant } from "./sessions/timestamp.ts";
import { describeKvConnect, isKvConnectUrl, parseKvConnectUrl } from "./store/kv/connect.ts";
import { describePostgres, isPostgresUrl, parsePostgresUrl } from "./store/postgres/url.ts";

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
  /** A file path (absolute once resolved), `:memory:`, or a `postgres://` URL. */
  db: string;
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

/** A store location as it may be shown in a log line or an error: never with a password. */
export function storeName(db: string): string {
  if (isPostgresUrl(db)) return describePostgres(db);
  return isKvConnectUrl(db) ? describeKvConnect(db) : db;
}

/** Whether a host name or address is this machine's loopback (`127.0.0.0/8`, `::1`, `localhost`). */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** `host:port` as Deno's net permission and URLs write it (IPv6 in brackets). */
export function hostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/**
 * Reads `[HOST:]PORT` (`8080`, `127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:8080`); HOST
 * defaults to `127.0.0.1`.
 */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):)?(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) {
    throw new UsageError(
      `invalid --http '${
        text.slice(0, 64)
      }': use [HOST:]PORT with PORT 1-65535 (8080, 0.0.0.0:8443, [::1]:8080)`,
    );
  }
  return { host: m[1] ?? m[2] ?? "127.0.0.1", port };
}

/** Reads a browser origin (`https://console.example.com`) as the `Origin` header carries it. */
export function parseOrigin(text: string): string {
  let url: URL | null = null;
  try {
    url = new URL(text.trim());
  } catch { /* refused below */ }
  if (
    !url || !["http:", "https:"].includes(url.protocol) || url.pathname !== "/" || url.search ||
    url.hash || url.username
  ) {
    throw new UsageError(
      `invalid --allowed-origin '${
        text.slice(0, 64)
      }': use scheme://host[:port], e.g. https://console.example.com`,
    );
  }
  return url.origin;
}

/** `sessions list`. */
export interface ListCommand {
  name: "list";
  status: "active" | "ended" | "stale" | "all";
  component?: string;
  host?: string;
  user?: string;
  sinceMs?: number;
  untilMs?: number;
  limit: number;
}

/** `stats`. */
export interface StatsCommand {
  name: "stats";
  groupBy: "component" | "hostname" | "username";
  sinceMs?: number;
  untilMs?: number;
}

/** An operator command that reads (or, for reap, closes) sessions in the store. */
export type StoreCommand =
  | ListCommand
  | StatsCommand
  | { name: "show"; id: string }
  | { name: "tail" }
  | { name: "reap"; olderThanMs?: number }
  | { name: "export"; sinceMs?: number; untilMs?: number }
  /** `file`: an absolute path, or null for stdin (`-` or nothing). */
  | { name: "import"; file: string | null };

/** What the command line asks for. */
export type Invocation =
  | { kind: "serve"; config: ServeConfig }
  | { kind: "help"; defaultDb: string | null }
  | { kind: "version" }
  | { kind: "secret" }
  | { kind: "token"; secret: string; user: string; ttlMs: number }
  | { kind: "store"; command: StoreCommand; json: boolean; config: ServeConfig };

/** A bad command line or value: one line on stderr, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
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

const DURATION = /^(\d+)(s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration such as `90m`, `12h` or `7d` into milliseconds.
 *
 * @example
 * ```ts
 * parseDuration("90m"); // 5400000
 * ```
 */
export function parseDuration(text: string, what = "duration"): number {
  const m = DURATION.exec(text.trim());
  const ms = m ? Number(m[1]) * UNIT_MS[m[2]!]! : NaN;
  if (!(ms > 0) || !Number.isSafeInteger(ms)) {
    throw new UsageError(`invalid ${what} '${text}': use a whole number with s, m, h or d (12h)`);
  }
  return ms;
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

/** Makes a path absolute against the working directory. */
export function absolute(path: string, cwd: string): string {
  if (path.startsWith("/")) return path;
  const joined = `${cwd.replace(/\/+$/, "")}/${path}`;
  const parts: string[] = [];
  for (const part of joined.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}

const VALUE_FLAGS = [
  "--db",
  "--db-ca",
  "--log-file",
  "--log-level",
  "--stale-after",
  "--user",
  "--ttl",
  "--status",
  "--component",
  "--host",
  "--since",
  "--until",
  "--limit",
  "--group-by",
  "--older-than",
  "--http",
  "--tls-cert",
  "--tls-key",
  "--allowed-origin",
  "--allowed-host",
  "--secret-file",
] as const;
/** Flags that take no value. */
const SWITCHES = ["--json", "--plain-http", "--require-auth"] as const;
type Flag = typeof VALUE_FLAGS[number] | typeof SWITCHES[number];
type Flags = Partial<Record<Flag, string>>;

/** The flags that may come more than once, each with every value given. */
interface Repeated {
  origins: string[];
  hosts: string[];
}

/**
 * Splits `--flag value` and `--flag=value` forms; anything unknown is a usage error.
 * `--allowed-origin` and `--allowed-host` may come more than once; their values are
 * collected in `repeated`.
 */
function readFlags(args: string[]): { flags: Flags; rest: string[]; repeated: Repeated } {
  const flags: Flags = {};
  const rest: string[] = [];
  const repeated: Repeated = { origins: [], hosts: [] };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("-") || arg === "-") {
      rest.push(arg);
      continue;
    }
    if (arg === "--help" || arg === "-h" || arg === "--version" || arg === "-V") {
      rest.push(arg);
      continue;
    }
    if ((SWITCHES as readonly string[]).includes(arg)) {
      flags[arg as typeof SWITCHES[number]] = "true";
      continue;
    }
    const eq = arg.indexOf("=");
    const name = (eq >= 0 ? arg.slice(0, eq) : arg) as typeof VALUE_FLAGS[number];
    if (!VALUE_FLAGS.includes(name)) throw new UsageError(`unknown flag '${arg.slice(0, 64)}'`);
    const value = eq >= 0 ? arg.slice(eq + 1) : args[++i];
    if (value === undefined) throw new UsageError(`${name} needs a value`);
    flags[name] = value;
    if (name === "--allowed-origin") repeated.origins.push(value);
    if (name === "--allowed-host") repeated.hosts.push(value);
  }
  return { flags, rest, repeated };
}

/** Flags every command takes. */
const GLOBAL_FLAGS: Flag[] = ["--db", "--db-ca", "--log-file", "--log-level", "--stale-after"];

/** Refuses flags a command does not take. */
function allowOnly(command: string, flags: Flags, allowed: Flag[]): void {
  for (const name of Object.keys(flags) as Flag[]) {
    if (!GLOBAL_FLAGS.includes(name) && !allowed.includes(name)) {
      throw new UsageError(`'${command}' does not take ${name}`);
    }
  }
}

/**
 * Reads an instant for --since/--until: ISO 8601, or a duration meaning that long ago
 * (`24h`, `7d`).
 */
export function parseWhen(text: string, now: Date, flag: string): number {
  if (DURATION.test(text.trim())) return now.getTime() - parseDuration(text, flag);
  const ms = parseInstant(text.trim());
  if (ms === null) {
    throw new UsageError(
      `invalid ${flag} '${
        text.slice(0, 64)
      }': use an ISO 8601 time (2026-02-06T12:00:00Z) or a duration ago (24h)`,
    );
  }
  return ms;
}

function storeCommand(
  rest: string[],
  flags: Flags,
  now: Date,
  cwd: string,
): { command: StoreCommand; json: boolean } {
  const json = flags["--json"] === "true";
  const [group, sub, arg, extra] = rest;
  const when = (flag: "--since" | "--until") =>
    flags[flag] === undefined ? undefined : parseWhen(flags[flag]!, now, flag);
  if (group === "stats") {
    allowOnly("stats", flags, ["--group-by", "--since", "--until", "--json"]);
    if (sub !== undefined) throw new UsageError(`unexpected argument '${sub.slice(0, 64)}'`);
    const groupBy = flags["--group-by"] ?? "component";
    if (!["component", "hostname", "username"].includes(groupBy)) {
      throw new UsageError(`invalid --group-by '${groupBy}': use component, hostname or username`);
    }
    return {
      command: {
        name: "stats",
        groupBy: groupBy as StatsCommand["groupBy"],
        sinceMs: when("--since"),
        untilMs: when("--until"),
      },
      json,
    };
  }
  const name = sub ?? "list";
  const surplus = name === "show" || name === "import" ? extra : arg;
  if (surplus !== undefined) throw new UsageError(`unexpected argument '${surplus.slice(0, 64)}'`);
  switch (name) {
    case "list": {
      allowOnly("sessions list", flags, [
        "--status",
        "--component",
        "--host",
        "--user",
        "--since",
        "--until",
        "--limit",
        "--json",
      ]);
      const status = flags["--status"] ?? "all";
      if (!["active", "ended", "stale", "all"].includes(status)) {
        throw new UsageError(`invalid --status '${status}': use active, ended, stale or all`);
      }
      const limit = Number(flags["--limit"] ?? "50");
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
        throw new UsageError(`invalid --limit '${flags["--limit"]}': use a whole number 1-500`);
      }
      return {
        command: {
          name: "list",
          status: status as ListCommand["status"],
          component: flags["--component"],
          host: flags["--host"],
          user: flags["--user"],
          sinceMs: when("--since"),
          untilMs: when("--until"),
          limit,
        },
        json,
      };
    }
    case "show":
      allowOnly("sessions show", flags, ["--json"]);
      if (!arg) throw new UsageError("sessions show needs a session id");
      return { command: { name: "show", id: arg }, json };
    case "tail":
      allowOnly("sessions tail", flags, ["--json"]);
      return { command: { name: "tail" }, json };
    case "reap": {
      allowOnly("sessions reap", flags, ["--older-than", "--json"]);
      const olderThan = flags["--older-than"];
      return {
        command: {
          name: "reap",
          olderThanMs: olderThan === undefined
            ? undefined
            : parseDuration(olderThan, "--older-than"),
        },
        json,
      };
    }
    case "import":
      allowOnly("sessions import", flags, ["--json"]);
      return {
        command: {
          name: "import",
          file: arg === undefined || arg === "-" ? null : absolute(arg, cwd),
        },
        json,
      };
    case "export":
      // Export is NDJSON with or without --json, which every other list takes for it.
      allowOnly("sessions export", flags, ["--since", "--until", "--json"]);
      return {
        command: { name: "export", sinceMs: when("--since"), untilMs: when("--until") },
        json: true,
      };
    default:
      throw new UsageError(`unknown command 'sessions ${name.slice(0, 64)}'`);
  }
}

/**
 * Reads the invocation from `args` (without the program name) and `env`.
 * Throws {@linkcode UsageError} for anything an operator must correct.
 */
export function parseInvocation(
  args: string[],
  env: Record<string, string | undefined>,
  platform: Platform,
): Invocation {
  const { flags, rest, repeated } = readFlags(args);
  if (rest.includes("--help") || rest.includes("-h") || rest[0] === "help") {
    return { kind: "help", defaultDb: defaultDbPath(env, platform.os) };
  }
  if (rest.includes("--version") || rest.includes("-V")) return { kind: "version" };
  const command = rest[0] ?? "serve";
  const now = platform.now ?? new Date();
  if (command === "secret") {
    allowOnly("secret", flags, []);
    if (rest.length > 1) throw new UsageError(`unexpected argument '${rest[1]!.slice(0, 64)}'`);
    return { kind: "secret" };
  }
  if (command === "token") {
    allowOnly("token", flags, ["--user", "--ttl", "--secret-file"]);
    if (rest.length > 1) throw new UsageError(`unexpected argument '${rest[1]!.slice(0, 64)}'`);
    const secret = checkedSecret(flags, env, platform);
    if (!secret) {
      throw new UsageError(
        "token needs a secret to sign with: SESSION_BUDDY_SECRET, SESSION_BUDDY_SECRET_FILE or --secret-file",
      );
    }
    const user = flags["--user"] ?? "admin-shell";
    if (user.trim() === "") throw new UsageError("--user needs a value");
    return { kind: "token", secret, user, ttlMs: parseDuration(flags["--ttl"] ?? "24h", "--ttl") };
  }
  if (command === "sessions" || command === "stats") {
    const { command: store, json } = storeCommand(rest, flags, now, platform.cwd);
    const { config } = serveConfig(flags, env, platform);
    return { kind: "store", command: store, json, config };
  }
  if (command !== "serve") throw new UsageError(`unknown command '${command.slice(0, 64)}'`);
  if (rest.length > 1) throw new UsageError(`unexpected argument '${rest[1]!.slice(0, 64)}'`);
  allowOnly("serve", flags, [
    "--http",
    "--tls-cert",
    "--tls-key",
    "--allowed-origin",
    "--allowed-host",
    "--plain-http",
    "--secret-file",
    "--require-auth",
  ]);
  const serve = serveConfig(flags, env, platform);
  serve.config.secret = checkedSecret(flags, env, platform);
  if (!serve.config.secret && requireAuth(flags, env)) {
    throw new UsageError(
      "authentication is required (--require-auth or SESSION_BUDDY_REQUIRE_AUTH=1) but no secret is set: " +
        "set SESSION_BUDDY_SECRET, SESSION_BUDDY_SECRET_FILE or --secret-file",
    );
  }
  serve.config.http = httpConfig(flags, repeated, env, platform.cwd);
  return serve;
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

/**
 * A name for `--allowed-host`: a DNS name or an IP address, as a `Host` header carries it
 * without its port (an IPv6 address in brackets), compared without case.
 */
export function parseAllowedHost(text: string): string {
  const host = text.trim().toLowerCase();
  const name = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/;
  const ipv6 = /^\[[0-9a-f:.]+\]$/;
  if (host.length > 253 || !(name.test(host) || ipv6.test(host))) {
    throw new UsageError(
      `invalid --allowed-host '${
        text.slice(0, 64)
      }': give a host name as a proxy sends it in Host (collector.example.com; no scheme, port or path)`,
    );
  }
  return host.replace(/\.$/, "");
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
function checkedSecret(
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

function serveConfig(
  flags: Flags,
  env: Record<string, string | undefined>,
  platform: Platform,
): { kind: "serve"; config: ServeConfig } {
  // Only serving checks tokens: the operator commands' Worker is never handed the secret.
  const secret = null;
  const level = (flags["--log-level"] ?? env.SESSION_BUDDY_LOG_LEVEL ?? "info").toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`invalid log level '${level}': use one of ${LOG_LEVELS.join(", ")}`);
  }
  const stale = flags["--stale-after"] ?? env.SESSION_BUDDY_STALE_AFTER ?? "12h";
  const staleAfterMs = parseDuration(stale, "stale-after duration");

  const givenDb = flags["--db"] ?? env.SESSION_BUDDY_DB;
  if (givenDb !== undefined && givenDb.trim() === "") throw new UsageError("--db needs a value");
  let db: string;
  if (givenDb === undefined) {
    const fallback = defaultDbPath(env, platform.os);
    if (!fallback) {
      throw new UsageError("no default store location: HOME is not set; set SESSION_BUDDY_DB");
    }
    db = fallback;
  } else if (givenDb === ":memory:") {
    db = givenDb;
  } else if (isPostgresUrl(givenDb)) {
    try {
      parsePostgresUrl(givenDb);
    } catch (error) {
      throw new UsageError(`invalid --db: ${(error as Error).message}`);
    }
    db = givenDb;
  } else if (isKvConnectUrl(givenDb)) {
    try {
      parseKvConnectUrl(givenDb);
    } catch (error) {
      throw new UsageError(`invalid --db: ${(error as Error).message}`);
    }
    db = givenDb;
  } else if (givenDb.trim() !== givenDb) {
    // A URL pasted with a space before it would be taken for a file named after it.
    throw new UsageError("--db begins or ends with white space: give it without");
  } else if (/^[a-z][a-z0-9+.-]+:/i.test(givenDb)) {
    // Anything with a scheme (a foreign one, or `postgres:/` mistyped) is refused, and
    // quoted by its scheme only: what follows may hold a password. (`C:` is a drive.)
    throw new UsageError(
      `unknown kind of store (scheme '${
        givenDb.slice(0, givenDb.indexOf(":")).slice(0, 32)
      }:'): use a file path (./ before a name with a colon), postgres://, postgresql:// or https://`,
    );
  } else {
    db = absolute(givenDb, platform.cwd);
  }
  const caRaw = flags["--db-ca"] ?? (env.SESSION_BUDDY_DB_CA || undefined);
  if (caRaw !== undefined && !isPostgresUrl(db)) {
    throw new UsageError("--db-ca is for a postgres:// store (the CA of its server's certificate)");
  }
  const logFileRaw = flags["--log-file"] ?? env.SESSION_BUDDY_LOG_FILE;
  if (logFileRaw !== undefined && logFileRaw.trim() === "") {
    throw new UsageError("--log-file needs a value");
  }
  return {
    kind: "serve",
    config: {
      secret,
      db,
      dbIsDefault: givenDb === undefined,
      dbPassword: env.SESSION_BUDDY_DB_PASSWORD || null,
      dbCa: caRaw === undefined ? null : absolute(caRaw, platform.cwd),
      logFile: logFileRaw === undefined ? null : absolute(logFileRaw, platform.cwd),
      logLevel: level as LogLevel,
      staleAfterMs,
      http: null,
    },
  };
}
