/**
 * The session store on PostgreSQL (SPEC 8.3): many processes on many hosts share one
 * database, and the database does the concurrency. Its parts: `starts.ts` (the group
 * commit's writes: one call of `session_buddy.start_sessions` per group), `lifecycle.ts`
 * (ends and heartbeats checked on the row's version, imports, a record), `listing.ts`
 * (keyset pages on an index per filter), `connection.ts` (pool, errors, deadline, retries),
 * `entries.ts` (the history written with each change), `history.ts` (sealing and
 * verifying it), `prune.ts`.
 */
import { StoreError } from "../errors.ts";
import { ComposedStore, type StoreParts } from "../composed_store.ts";
import {
  type CarriedHistory,
  type CarryOutcome,
  FEED_TTL_MS,
  type PruneOutcome,
  type SessionStore,
  type StoreHistory,
  type StoreObserver,
} from "../port.ts";
import { deadline, endPool, PgContext, poolOptions, storeErrorOf } from "./connection.ts";
import { loadPool, type Pool } from "./driver.ts";
import { carryHistory } from "./carried.ts";
import { PgHistory } from "./history.ts";
import { importRecord } from "./imports.ts";
import { endSession, getSession, heartbeat } from "./lifecycle.ts";
import { PgListing } from "./listing.ts";
import { pruneBefore } from "./prune.ts";
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
  // One that breaks while checked out (a transaction under way when the server stops)
  // emits its error on itself: its query rejects, and this listener keeps the process.
  pool.on("connect", (client) => client.on("error", () => {}));
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
export class PgSessionStore extends ComposedStore implements SessionStore {
  readonly #ctx: PgContext;
  readonly #starts: PgStarts;
  protected readonly parts: StoreParts;

  constructor(pool: Pool) {
    super();
    const ctx = this.#ctx = new PgContext(pool);
    this.#starts = new PgStarts(ctx);
    this.parts = {
      starts: this.#starts,
      changes: {
        end: (event, source, now) => endSession(ctx, event, source, now),
        heartbeat: (sessionId, now) => heartbeat(ctx, sessionId, now),
        importRecord: (record) => importRecord(ctx, record),
        get: (sessionId) => getSession(ctx, sessionId),
      },
      readers: new PgListing(ctx),
    };
  }

  observe(observer: StoreObserver): void {
    this.#ctx.observer = observer;
  }

  /** The store's history: chains, heads and seals (SPEC 10). */
  history(): StoreHistory {
    return new PgHistory(this.#ctx);
  }

  /** Removes sessions ended before `beforeMs`, leaving tombstone entries that name them. */
  async prune(beforeMs: number): Promise<PruneOutcome> {
    return await pruneBefore(this.#ctx, beforeMs);
  }

  /** Keeps a forwarding host's history as carried copies (see `carried.ts`). */
  async carryHistory(history: CarriedHistory): Promise<CarryOutcome> {
    return await carryHistory(this.#ctx, history, Date.now());
  }

  async check(): Promise<void> {
    await deadline(() => this.#ctx.pool.query("SELECT 1"), "a health check");
  }

  async close(): Promise<void> {
    await this.#starts.close();
    await endPool(this.#ctx.pool);
  }
}
