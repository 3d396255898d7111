/**
 * The session store on PostgreSQL (SPEC 8.3): many processes on many hosts share one
 * database, and the database does the concurrency. Its parts: `starts.ts` (the group
 * commit's writes: one call of `session_buddy.start_sessions` per group), `lifecycle.ts`
 * (ends and heartbeats checked on the row's version, imports, a record), `listing.ts`
 * (keyset pages on an index per filter), `connection.ts` (pool, errors, deadline, retries).
 */
import type { SessionEndEvent, SessionStartEvent } from "../../sessions/events.ts";
import { type CursorPosition, isPositionOf, type SessionFilter } from "../../sessions/query.ts";
import type { EndSource, SessionRecord } from "../../sessions/session.ts";
import { StoreError } from "../errors.ts";
import {
  type EndOutcome,
  FEED_TTL_MS,
  type FeedEntry,
  type HeartbeatOutcome,
  type ImportOutcome,
  type ListPage,
  type SessionStore,
  type StartOutcome,
  type StoreObserver,
} from "../port.ts";
import { deadline, endPool, PgContext, poolOptions, storeErrorOf } from "./connection.ts";
import { loadPool, type Pool } from "./driver.ts";
import { endSession, getSession, heartbeat, importRecord } from "./lifecycle.ts";
import { PgListing } from "./listing.ts";
import { ensureSchema } from "./schema.ts";
import { PgStarts } from "./starts.ts";
import { type PostgresTarget, withPassword } from "./url.ts";

export { CALL_DEADLINE_MS } from "./connection.ts";
export { listQuery, listSql } from "./listing.ts";

/** How a PostgreSQL store is opened. */
export interface PostgresOptions {
  readOnly?: boolean;
  /** `SESSION_BUDDY_DB_PASSWORD`, used when the URL has no password. */
  password?: string | null;
  /** The PEM text of `--db-ca`, for `sslmode=verify-full`. */
  ca?: string | null;
}

/**
 * Opens the PostgreSQL store at `url`: connects, creates or upgrades the schema
 * (writable) or checks it (reading), and forgets old change-feed entries.
 */
export async function openPostgresStore(
  url: PostgresTarget,
  options: PostgresOptions = {},
): Promise<PgSessionStore> {
  const target = withPassword(url, options.password);
  const Pool = await loadPool();
  const pool = new Pool(poolOptions(target, options.ca ?? null));
  // A connection that breaks while idle is dropped by the pool and made anew on demand;
  // without a listener its error would end the process.
  pool.on("error", () => {});
  try {
    await deadline(async () => {
      await ensureSchema(pool, options.readOnly ?? false);
      if (!options.readOnly) {
        await pool.query("DELETE FROM session_buddy.feed WHERE at_ms < $1", [
          Date.now() - FEED_TTL_MS,
        ]);
      }
    }, "at open");
  } catch (error) {
    await endPool(pool);
    const e = storeErrorOf(error);
    // pg's own words for this ("SASL: ... client password must be a string") say little.
    if (target.password === null && /SASL|password must be a string/i.test(e.message)) {
      throw new StoreError(
        "failed",
        "the database asks for a password: set SESSION_BUDDY_DB_PASSWORD or put it in the URL",
      );
    }
    throw e;
  }
  return new PgSessionStore(pool);
}

/** The session store over a pool of PostgreSQL connections. */
export class PgSessionStore implements SessionStore {
  readonly #ctx: PgContext;
  readonly #starts: PgStarts;
  readonly #listing: PgListing;

  constructor(pool: Pool) {
    this.#ctx = new PgContext(pool);
    this.#starts = new PgStarts(this.#ctx);
    this.#listing = new PgListing(this.#ctx);
  }

  observe(observer: StoreObserver): void {
    this.#ctx.observer = observer;
  }

  start(event: SessionStartEvent, trackedBy: string | null, now: Date): Promise<StartOutcome> {
    return this.#starts.start(event, trackedBy, now);
  }

  end(
    event: SessionEndEvent,
    source: EndSource = "client",
    now: Date = new Date(),
  ): Promise<EndOutcome> {
    return endSession(this.#ctx, event, source, now);
  }

  heartbeat(sessionId: string, now: Date): Promise<HeartbeatOutcome> {
    return heartbeat(this.#ctx, sessionId, now);
  }

  get(sessionId: string): Promise<SessionRecord | null> {
    return getSession(this.#ctx, sessionId);
  }

  async isListPosition(position: CursorPosition, filter: SessionFilter): Promise<boolean> {
    return isPositionOf(await this.get(position.id), position, filter);
  }

  list(...args: Parameters<SessionStore["list"]>): Promise<ListPage> {
    return this.#listing.list(...args);
  }

  range(sinceMs: number, untilMs: number): AsyncIterable<SessionRecord> {
    return this.#listing.range(sinceMs, untilMs);
  }

  active(): AsyncIterable<SessionRecord> {
    return this.#listing.active();
  }

  feedSince(sinceMs: number): Promise<FeedEntry[]> {
    return this.#listing.feedSince(sinceMs);
  }

  importRecord(record: SessionRecord): Promise<ImportOutcome> {
    return importRecord(this.#ctx, record);
  }

  async check(): Promise<void> {
    await deadline(() => this.#ctx.pool.query("SELECT 1"), "a health check");
  }

  async close(): Promise<void> {
    await this.#starts.close();
    await endPool(this.#ctx.pool);
  }
}
