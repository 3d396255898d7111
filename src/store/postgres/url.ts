/**
 * `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=...&host=/socket/dir]` as the
 * PostgreSQL store reads it (SPEC 8.3). Plain data in and out; the password never leaves
 * here in any text meant for people ({@linkcode describePostgres}).
 */
import { hostPort } from "../../net.ts";

/** The TLS modes the store speaks. */
export const SSL_MODES = ["disable", "require", "verify-full"] as const;
/** One of {@linkcode SSL_MODES}. */
export type SslMode = typeof SSL_MODES[number];

/** Where and as whom to connect. */
export interface PostgresTarget {
  /** A host name or address; null when `socket` is used. */
  host: string | null;
  port: number;
  /** The Unix socket file (`<dir>/.s.PGSQL.<port>`) when `?host=/dir` names a folder. */
  socket: string | null;
  user: string;
  /** From the URL; {@linkcode withPassword} fills it in when the URL has none. */
  password: string | null;
  database: string;
  sslmode: SslMode;
}

/** Whether a store location is a PostgreSQL URL. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\./.test(h);
}

/**
 * Reads a PostgreSQL URL; throws a `TypeError` naming what is wrong (never quoting the
 * password). Without `sslmode`, a loopback host or a socket is `disable` and any other
 * host `verify-full`: a fleet's database is reached over TLS unless told otherwise.
 */
export function parsePostgresUrl(location: string): PostgresTarget {
  let url: URL;
  try {
    // A socket URL may leave the host empty (postgres://user@/db?host=/run/postgresql),
    // which WHATWG URLs do not allow: a stand-in host is parsed, and ignored below.
    const http = location.replace(/^postgres(ql)?:\/\//i, "http://").replace(
      /^(http:\/\/[^/@]*@)\//,
      "$1socket.invalid/",
    );
    url = new URL(http);
  } catch {
    throw new TypeError(
      "not a PostgreSQL URL: use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
    );
  }
  const decode = (text: string, part: string) => {
    try {
      return decodeURIComponent(text);
    } catch {
      throw new TypeError(`the PostgreSQL URL has a malformed %-escape in its ${part}`);
    }
  };
  const user = decode(url.username, "user");
  if (!user) throw new TypeError("the PostgreSQL URL names no user: postgres://USER@HOST/DATABASE");
  const database = decode(url.pathname.replace(/^\//, ""), "database name");
  if (!database || database.includes("/")) {
    throw new TypeError("the PostgreSQL URL names no database: postgres://USER@HOST/DATABASE");
  }
  const port = url.port ? Number(url.port) : 5432;
  if (port === 0) throw new TypeError("the PostgreSQL URL's port must be 1-65535");
  const socketDir = url.searchParams.get("host");
  if (socketDir !== null && !socketDir.startsWith("/")) {
    throw new TypeError("?host= takes the absolute path of the folder holding the Unix socket");
  }
  for (const key of url.searchParams.keys()) {
    if (key !== "host" && key !== "sslmode") {
      throw new TypeError(
        `unknown PostgreSQL URL parameter '${key.slice(0, 40)}': use sslmode or host`,
      );
    }
  }
  const host = socketDir === null ? url.hostname.replace(/^\[(.*)\]$/, "$1") : null;
  if (host === "" || host === "socket.invalid") {
    throw new TypeError("the PostgreSQL URL names no host (or ?host=/socket/folder)");
  }
  const given = url.searchParams.get("sslmode");
  if (given !== null && !(SSL_MODES as readonly string[]).includes(given)) {
    throw new TypeError(`unsupported sslmode '${given.slice(0, 40)}': use ${SSL_MODES.join(", ")}`);
  }
  const local = host === null || isLoopbackHost(host);
  const sslmode = (given ?? (local ? "disable" : "verify-full")) as SslMode;
  if (host === null && sslmode !== "disable") {
    throw new TypeError("a Unix socket takes no TLS: use sslmode=disable (or leave it out)");
  }
  return {
    host,
    port,
    socket: socketDir === null ? null : `${socketDir.replace(/\/+$/, "")}/.s.PGSQL.${port}`,
    user,
    password: url.password ? decode(url.password, "password") : null,
    database,
    sslmode,
  };
}

/** `SESSION_BUDDY_DB_PASSWORD` in place of the password the URL does not give. */
export function withPassword(
  t: PostgresTarget,
  password: string | null | undefined,
): PostgresTarget {
  return t.password === null && password ? { ...t, password } : t;
}

/** The URL as it may be shown: no password, and the socket or host it reaches. */
export function describePostgres(t: PostgresTarget): string {
  const where = t.socket ?? hostPort(t.host!, t.port);
  return `postgres://${encodeURIComponent(t.user)}@${where}/${encodeURIComponent(t.database)}`;
}

/** The address Deno's net permission names for the target: `host:port` or `unix:<socket>`. */
export function netAddress(t: PostgresTarget): string {
  return t.socket ? `unix:${t.socket}` : hostPort(t.host!, t.port);
}
