/**
 * The PostgreSQL store's connection: the pool and its options, how the driver's failures
 * become {@linkcode StoreError}s (worded without any connection secret), and the deadline
 * and retries every call of the store runs under.
 */
import { withDeadline } from "../../deadline.ts";
import { CALL_DEADLINE_MS, StoreError, type StoreErrorKind } from "../errors.ts";
import type { StoreObserver } from "../port.ts";
import { Lanes } from "../lanes.ts";
import { retry } from "../retry.ts";
import type { Pool, PoolOptions } from "./driver.ts";
import type { PostgresTarget } from "./url.ts";

export { CALL_DEADLINE_MS };

/** SQLSTATEs worth another try: serialization failure, deadlock, a server going down. */
const TRANSIENT_CODES = ["40001", "40P01", "57P01", "57P02", "57P03"];
const UNREACHABLE =
  /terminat|ECONNRESET|ECONNREFUSED|Connection ended|socket hang up|not queryable/i;

/** The store error a driver failure stands for, with its first line as the message. */
export function storeErrorOf(error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const e = error as { message?: string; code?: string };
  const message = (e?.message ?? String(error)).split("\n")[0]!;
  const kind: StoreErrorKind = TRANSIENT_CODES.includes(e?.code ?? "") || UNREACHABLE.test(message)
    ? "unavailable"
    : "failed";
  return new StoreError(kind, message || "the database failed", e?.code);
}

/**
 * Errors worth another try within the call's deadline: a deadlock or serialization
 * failure, and a database that is restarting or a connection lost to it (the pool makes a
 * new one).
 */
export function transient(error: StoreError): boolean {
  return TRANSIENT_CODES.includes(error.code ?? "") || UNREACHABLE.test(error.message);
}

function late(what: string): StoreError {
  return new StoreError(
    "timeout",
    `the database did not answer ${what} within ${CALL_DEADLINE_MS / 1000} s`,
  );
}

/** `work` within the call's deadline; every failure comes out as a {@linkcode StoreError}. */
export async function deadline<T>(work: () => Promise<T>, what: string): Promise<T> {
  try {
    return await withDeadline(work, CALL_DEADLINE_MS, () => late(what));
  } catch (error) {
    throw storeErrorOf(error);
  }
}

/** A start's error when its deadline passes while it waits in the queue. */
export const lateStart = () => late("a start");

function isIpAddress(host: string): boolean {
  return host.includes(":") || /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
}

export function poolOptions(target: PostgresTarget, ca: string | null): PoolOptions {
  const ssl: PoolOptions["ssl"] = target.sslmode === "disable"
    ? false
    : target.sslmode === "require"
    ? { rejectUnauthorized: false }
    : {
      rejectUnauthorized: true,
      // The name the certificate must carry; for an address, its IP entry is checked
      // instead (TLS sends no address as a server name: node:tls refuses one).
      ...(isIpAddress(target.host!) ? {} : { servername: target.host! }),
      ...(ca ? { ca } : {}),
    };
  return {
    // pg takes a socket's folder as the host and adds `.s.PGSQL.<port>` itself.
    host: target.socket ? target.socket.slice(0, target.socket.lastIndexOf("/")) : target.host!,
    port: target.port,
    user: target.user,
    ...(target.password !== null ? { password: target.password } : {}),
    database: target.database,
    ssl,
    max: 8,
    connectionTimeoutMillis: 4000,
    idleTimeoutMillis: 30_000,
    query_timeout: CALL_DEADLINE_MS,
    statement_timeout: 4000,
    application_name: "session-buddy",
    keepAlive: true,
  };
}

/**
 * Ends the pool's connections, waiting at most a second: a connection attempt that
 * neither connects nor fails (a socket the runtime refused without telling the driver)
 * would hold `end()` forever, and with it the program's exit.
 */
export async function endPool(pool: Pool): Promise<void> {
  await withDeadline(pool.end(), 1000, () => new Error("late")).catch(() => {});
}

/** The pool and the settings every part of the store works with. */
export class PgContext {
  readonly pool: Pool;
  /** This process's history writers (SPEC 10). */
  readonly lanes: Lanes = new Lanes();
  observer: StoreObserver | null = null;

  constructor(pool: Pool) {
    this.pool = pool;
  }

  /** A query that writes, timed for the observer. */
  async write<R = Record<string, unknown>>(text: string, values: unknown[]) {
    const began = performance.now();
    try {
      return await this.pool.query<R>(text, values);
    } finally {
      this.observer?.commit((performance.now() - began) / 1000);
    }
  }

  /**
   * Runs `attempt` until it succeeds or fails for good, within the call's deadline; no try
   * begins once the deadline has passed or `wanted` says nobody waits for the answer (a
   * call that was told of an error is not written behind its back later).
   */
  async retrying<T>(
    what: string,
    attempt: (n: number) => Promise<T>,
    wanted: () => boolean = () => true,
  ): Promise<T> {
    const untilMs = performance.now() + CALL_DEADLINE_MS;
    return await deadline(
      () =>
        retry(async (n) => {
          try {
            return await attempt(n);
          } catch (error) {
            throw storeErrorOf(error);
          }
        }, {
          maxAttempts: Infinity,
          pause: (n) => Math.min(500, 25 * 2 ** (n - 1)) + Math.random() * 25,
          transient: (error) => transient(error as StoreError),
          exhausted: (_, last) => last,
          untilMs,
          wanted,
          onRetry: () => this.observer?.retry(),
        }),
      what,
    );
  }
}
