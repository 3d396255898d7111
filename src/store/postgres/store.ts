/**
 * The session store on PostgreSQL (SPEC 8.3): many processes on many hosts share one
 * database, and the database does the concurrency. Starts are committed in groups by one
 * call of `session_buddy.start_sessions` (one transaction, one round trip); ids come from a
 * counter row per base taken in that transaction; an event id is stored once (a unique
 * column); ends and heartbeats are checked on the row's version. Listings are keyset
 * pages on an index per filter, so a page costs O(page).
 */
import type { SessionEndEvent, SessionStartEvent } from "../../sessions/events.ts";
import {
  type CursorPosition,
  emptyRange,
  isPositionOf,
  type SessionFilter,
  viewOf,
  walkLimit,
} from "../../sessions/query.ts";
import {
  baseSessionId,
  candidateNumber,
  endRecord,
  type EndSource,
  sameStart,
  type SessionRecord,
  startRecord,
  touchRecord,
} from "../../sessions/session.ts";
import type {
  EndOutcome,
  FeedEntry,
  HeartbeatOutcome,
  ImportOutcome,
  ListPage,
  SessionStore,
  StartOutcome,
  StoreObserver,
} from "../port.ts";
import { loadPool, type Pool, type PoolOptions } from "./driver.ts";
import { ensureSchema } from "./schema.ts";
import { takeGroup } from "../groups.ts";
import { columnText, sendable } from "./text.ts";
import { type PostgresTarget, withPassword } from "./url.ts";

/** How long change-feed entries are kept for `sessions tail` (as on Deno KV). */
export const FEED_TTL_MS = 7 * 24 * 3600 * 1000;
/** Every store call answers within this, or fails (SPEC 8.3: an error result within 5 s). */
export const CALL_DEADLINE_MS = 4500;
/** Starts per call of `start_sessions`. */
const MAX_GROUP = 64;
/** Groups in flight at once, each on its own connection: one commits while the next fills. */
const GROUPS_IN_FLIGHT = 2;
const PAGE = 500;

/** How a PostgreSQL store is opened. */
export interface PostgresOptions {
  readOnly?: boolean;
  /** `SESSION_BUDDY_DB_PASSWORD`, used when the URL has no password. */
  password?: string | null;
  /** The PEM text of `--db-ca`, for `sslmode=verify-full`. */
  ca?: string | null;
}

interface PendingStart {
  event: SessionStartEvent;
  trackedBy: string | null;
  now: Date;
  /** Answered already: by its group, or with an error at its deadline. */
  settled: boolean;
  resolve: (result: StartOutcome) => void;
  reject: (error: unknown) => void;
}

/** What `start_sessions` answers for one start. */
type GroupAnswer = { tracked: string } | { existing: string; record: string };

const EMPTY_ID_PREFIX = '{"session_id":"",';

/** A failure of the database or of the way to it, worded without any connection secret. */
export class StoreError extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
    this.name = "StoreError";
  }
}

function storeErrorOf(error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const e = error as { message?: string; code?: string };
  const message = (e?.message ?? String(error)).split("\n")[0]!;
  return new StoreError(message || "the database failed", e?.code);
}

/**
 * Errors worth another try within the call's deadline: a deadlock or serialization
 * failure, and a database that is restarting or a connection lost to it (the pool makes a
 * new one).
 */
function transient(error: StoreError): boolean {
  if (["40001", "40P01", "57P01", "57P02", "57P03"].includes(error.code ?? "")) return true;
  return /terminat|ECONNRESET|ECONNREFUSED|Connection ended|socket hang up|not queryable/i.test(
    error.message,
  );
}

function late(what: string): StoreError {
  return new StoreError(`the database did not answer ${what} within ${CALL_DEADLINE_MS / 1000} s`);
}

async function deadline<T>(work: () => Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late(what)), CALL_DEADLINE_MS);
  });
  try {
    return await Promise.race([work(), expired]);
  } catch (error) {
    throw storeErrorOf(error);
  } finally {
    clearTimeout(timer);
  }
}

function isIpAddress(host: string): boolean {
  return host.includes(":") || /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
}

function poolOptions(target: PostgresTarget, ca: string | null): PoolOptions {
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
        "the database asks for a password: set SESSION_BUDDY_DB_PASSWORD or put it in the URL",
      );
    }
    throw e;
  }
  return new PgSessionStore(pool);
}

/**
 * Ends the pool's connections, waiting at most a second: a connection attempt that
 * neither connects nor fails (a socket the runtime refused without telling the driver)
 * would hold `end()` forever, and with it the program's exit.
 */
async function endPool(pool: Pool): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    pool.end().catch(() => {}),
    new Promise((resolve) => timer = setTimeout(resolve, 1000)),
  ]);
  clearTimeout(timer);
}

interface Row {
  record: string;
  started_ms: string;
  session_id: string;
}

/** The session store over a pool of PostgreSQL connections. */
export class PgSessionStore implements SessionStore {
  readonly #pool: Pool;
  readonly #queue: PendingStart[] = [];
  readonly #groups = new Set<Promise<void>>();
  /** The events of the groups committing now (see src/store/groups.ts). */
  readonly #committing = new Set<string>();
  #observer: StoreObserver | null = null;
  #closed = false;

  constructor(pool: Pool) {
    this.#pool = pool;
  }

  observe(observer: StoreObserver): void {
    this.#observer = observer;
  }

  /** A query that writes, timed for the observer. */
  async #write<R = Record<string, unknown>>(text: string, values: unknown[]) {
    const began = performance.now();
    try {
      return await this.#pool.query<R>(text, values);
    } finally {
      this.#observer?.commit((performance.now() - began) / 1000);
    }
  }

  /**
   * Runs `attempt` until it succeeds or fails for good, within the call's deadline; no try
   * begins once the deadline has passed or `wanted` says nobody waits for the answer (a
   * call that was told of an error is not written behind its back later).
   */
  async #retrying<T>(
    what: string,
    attempt: (n: number) => Promise<T>,
    wanted: () => boolean = () => true,
  ): Promise<T> {
    const until = performance.now() + CALL_DEADLINE_MS;
    return await deadline(async () => {
      for (let n = 1;; n++) {
        try {
          return await attempt(n);
        } catch (error) {
          const e = storeErrorOf(error);
          if (!transient(e)) throw e;
          const pause = Math.min(500, 25 * 2 ** n) + Math.random() * 25;
          if (performance.now() + pause >= until || !wanted()) throw e;
          this.#observer?.retry();
          await new Promise((r) => setTimeout(r, pause));
        }
      }
    }, what);
  }

  start(event: SessionStartEvent, trackedBy: string | null, now: Date): Promise<StartOutcome> {
    if (this.#closed) return Promise.reject(new StoreError("the store is closed"));
    return new Promise((resolve, reject) => {
      // The deadline counts from the call, not from when its group begins: a start queued
      // behind groups stuck on a database that is down is answered in time too.
      const timer = setTimeout(() => item.reject(late("a start")), CALL_DEADLINE_MS);
      const item: PendingStart = {
        event,
        trackedBy,
        now,
        settled: false,
        resolve: (result) => {
          if (item.settled) return;
          item.settled = true;
          clearTimeout(timer);
          resolve(result);
        },
        reject: (error) => {
          if (item.settled) return;
          item.settled = true;
          clearTimeout(timer);
          reject(error);
        },
      };
      this.#queue.push(item);
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#groups.size < GROUPS_IN_FLIGHT && this.#queue.length > 0) {
      // Starts answered already (their deadline passed in the queue) are not written.
      const batch = takeGroup(
        this.#queue,
        MAX_GROUP,
        (item) => this.#committing.has(item.event.event_id),
      );
      if (batch.length === 0) return;
      const events = [...new Set(batch.map((item) => item.event.event_id))];
      for (const id of events) this.#committing.add(id);
      const group = this.#commitGroup(batch).finally(() => {
        for (const id of events) this.#committing.delete(id);
        this.#groups.delete(group);
        this.#pump();
      });
      this.#groups.add(group);
    }
  }

  async #commitGroup(batch: PendingStart[]): Promise<void> {
    // The same event twice in a group is stored once, as it came first; the others are
    // answered after it.
    const leaders = new Map<string, PendingStart>();
    for (const item of batch) {
      if (!leaders.has(item.event.event_id)) leaders.set(item.event.event_id, item);
    }
    // Counter rows are locked in one order by every writer, so groups cannot deadlock.
    const ordered = [...leaders.values()].map((item) => ({ item, base: baseSessionId(item.event) }))
      .sort((a, b) =>
        a.base < b.base
          ? -1
          : a.base > b.base
          ? 1
          : a.item.event.event_id < b.item.event.event_id
          ? -1
          : 1
      );
    const records = ordered.map(({ item }) =>
      startRecord(item.event, "", item.trackedBy, item.now)
    );
    const input = ordered.map(({ item, base }, i) => {
      const record = records[i]!;
      const text = JSON.stringify(record);
      if (!text.startsWith(EMPTY_ID_PREFIX)) {
        throw new TypeError("a record must begin with its session_id");
      }
      return {
        event_id: item.event.event_id,
        base,
        tail: text.slice(EMPTY_ID_PREFIX.length),
        started_ms: Date.parse(record.started_at),
        component_name: columnText(item.event.component_name),
        hostname: columnText(item.event.hostname),
        username: columnText(item.event.user.username),
        last_seen_ms: item.now.getTime(),
        at_ms: item.now.getTime(),
      };
    });
    let answers: GroupAnswer[];
    let retried = false;
    try {
      answers = await this.#retrying("a start", async (attempt) => {
        retried = attempt > 1;
        const result = await this.#write<{ r: GroupAnswer[] }>(
          "SELECT session_buddy.start_sessions($1::jsonb) AS r",
          [JSON.stringify(input)],
        );
        return result.rows[0]!.r;
      }, () => batch.some((item) => !item.settled));
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    const results = new Map<string, StartOutcome>();
    // What each event's session holds now, for the later starts of the same event.
    const storedOf = new Map<string, SessionRecord>();
    ordered.forEach(({ item }, i) => {
      const answer = answers[i]!;
      if ("tracked" in answer) {
        // The record as stored: the one sent, with the id the database gave it.
        const record = records[i]!;
        record.session_id = answer.tracked;
        results.set(item.event.event_id, { kind: "tracked", record });
        storedOf.set(item.event.event_id, record);
        return;
      }
      const stored = JSON.parse(answer.record) as SessionRecord;
      storedOf.set(item.event.event_id, stored);
      // A try after a lost connection may find the start its first try committed.
      const ours = retried && stored.last_seen_at === item.now.toISOString() &&
        stored.tracked_by === item.trackedBy && sameStart(item.event, stored);
      results.set(
        item.event.event_id,
        ours ? { kind: "tracked", record: stored } : {
          kind: sameStart(item.event, stored) ? "replayed" : "conflict",
          sessionId: answer.existing,
        },
      );
    });
    for (const item of batch) {
      const result = results.get(item.event.event_id)!;
      const leader = leaders.get(item.event.event_id)!;
      if (item === leader) item.resolve(result);
      else {
        // Judged by what is stored, as if it came after its group had committed.
        const stored = storedOf.get(item.event.event_id)!;
        const kind = sameStart(item.event, stored) ? "replayed" : "conflict";
        item.resolve({ kind, sessionId: stored.session_id });
      }
    }
  }

  /**
   * Reads a session's record and version, applies `change`, and writes it back checked on
   * the version; tries again when another writer changed it in between.
   */
  async #update<T>(
    sessionId: string,
    what: string,
    change: (
      before: SessionRecord,
    ) => { record: SessionRecord; write: boolean; result: T; feed?: number },
    missing: T,
  ): Promise<T> {
    if (!sendable(sessionId)) return missing;
    let tries = 0;
    return await this.#retrying(what, async () => {
      while (true) {
        const found = await this.#pool.query<{ record: string; version: number }>(
          "SELECT record, version FROM session_buddy.sessions WHERE session_id = $1",
          [sessionId],
        );
        const row = found.rows[0];
        if (!row) return missing;
        const outcome = change(JSON.parse(row.record) as SessionRecord);
        if (!outcome.write) return outcome.result;
        const r = outcome.record;
        const values = [
          sessionId,
          JSON.stringify(r),
          r.status,
          Date.parse(r.last_seen_at),
          row.version,
        ];
        const update = `UPDATE session_buddy.sessions
          SET record = $2, status = $3, last_seen_ms = $4, version = version + 1
          WHERE session_id = $1 AND version = $5`;
        // An end writes its change-feed entry in the same statement, so in one transaction.
        const written = outcome.feed === undefined
          ? await this.#write(update, values)
          : await this.#write(
            `WITH u AS (${update} RETURNING session_id)
             INSERT INTO session_buddy.feed (at_ms, session_id, kind)
               SELECT $6, session_id, 'end' FROM u`,
            [...values, outcome.feed],
          );
        if (written.rowCount === 1) return outcome.result;
        // Another writer changed the row in between: read it again.
        this.#observer?.retry();
        if (++tries >= 50) throw new StoreError(`${what}: the session kept changing under it`);
      }
    });
  }

  async end(
    event: SessionEndEvent,
    source: EndSource = "client",
    now: Date = new Date(),
  ): Promise<EndOutcome> {
    return await this.#update<EndOutcome>(event.session_id, "an end", (before) => {
      const outcome = endRecord(before, event, source);
      return {
        record: outcome.record,
        write: outcome.changed,
        result: { kind: "ended", ...outcome },
        feed: now.getTime(),
      };
    }, { kind: "not_found" });
  }

  async heartbeat(sessionId: string, now: Date): Promise<HeartbeatOutcome> {
    return await this.#update<HeartbeatOutcome>(sessionId, "a heartbeat", (before) => {
      const outcome = touchRecord(before, now);
      return {
        record: outcome.record,
        write: outcome.changed,
        result: outcome.changed ? "alive" : "ended",
      };
    }, "not_found");
  }

  async get(sessionId: string): Promise<SessionRecord | null> {
    if (!sendable(sessionId)) return null;
    const found = await deadline(
      () =>
        this.#pool.query<{ record: string }>(
          "SELECT record FROM session_buddy.sessions WHERE session_id = $1",
          [sessionId],
        ),
      "a read",
    );
    return found.rows[0] ? JSON.parse(found.rows[0].record) as SessionRecord : null;
  }

  async isListPosition(position: CursorPosition, filter: SessionFilter): Promise<boolean> {
    return isPositionOf(await this.get(position.id), position, filter);
  }

  async list(
    filter: SessionFilter,
    limit: number,
    after: CursorPosition | null,
    nowMs: number,
    staleAfterMs: number,
    scanLimit = walkLimit(limit),
    signal?: AbortSignal,
  ): Promise<ListPage> {
    if (emptyRange(filter)) return { sessions: [], next: null };
    const sql = listSql(filter, after, nowMs - staleAfterMs, limit, scanLimit);
    const rows = await deadline(async () => {
      signal?.throwIfAborted();
      const r = await this.#pool.query<Row>(sql.page, sql.values);
      signal?.throwIfAborted();
      if (!sql.edge) return { rows: r.rows, scannedTo: null as CursorPosition | null };
      // Only a walk that used all of its entries can have left some unseen.
      const edge = await this.#pool.query<{ started_ms: string; session_id: string }>(
        sql.edge,
        sql.edgeValues,
      );
      const last = edge.rows[0];
      return {
        rows: r.rows,
        scannedTo: last ? { at: Number(last.started_ms), id: last.session_id } : null,
      };
    }, "a listing");
    const page = rows.rows.slice(0, limit);
    const sessions = page.map((row) => viewOf(JSON.parse(row.record), nowMs, staleAfterMs));
    let next: CursorPosition | null = null;
    if (rows.rows.length > limit) {
      const last = page.at(-1)!;
      next = { at: Number(last.started_ms), id: last.session_id };
    } else if (rows.scannedTo) {
      // The walk ended before the page filled: more may follow past where it stopped.
      next = rows.scannedTo;
    }
    return { sessions, next };
  }

  /** Records in keyset pages of {@linkcode PAGE}, oldest start first. */
  async *#walk(where: string[], values: unknown[]): AsyncGenerator<SessionRecord> {
    let after: [number, string] | null = null;
    while (true) {
      const conditions = [...where];
      const params = [...values];
      if (after) {
        params.push(after[0], after[1]);
        conditions.push(`(started_ms, session_id) > ($${params.length - 1}, $${params.length})`);
      }
      const r: { rows: Row[] } = await deadline(
        () =>
          this.#pool.query<Row>(
            `SELECT record, started_ms, session_id FROM session_buddy.sessions
             ${conditions.length ? `WHERE ${conditions.join(" AND ")}` : ""}
             ORDER BY started_ms, session_id LIMIT ${PAGE}`,
            params,
          ),
        "a read",
      );
      for (const row of r.rows) yield JSON.parse(row.record) as SessionRecord;
      if (r.rows.length < PAGE) return;
      const last = r.rows.at(-1)!;
      after = [Number(last.started_ms), last.session_id];
    }
  }

  range(sinceMs: number, untilMs: number): AsyncIterable<SessionRecord> {
    if (sinceMs >= untilMs) return (async function* () {})();
    return this.#walk(["started_ms >= $1", "started_ms < $2"], [sinceMs, untilMs]);
  }

  active(): AsyncIterable<SessionRecord> {
    return this.#walk(["status = 'active'"], []);
  }

  async feedSince(sinceMs: number): Promise<FeedEntry[]> {
    const r = await deadline(
      () =>
        this.#pool.query<{ at_ms: string; session_id: string; kind: string }>(
          `SELECT at_ms, session_id, kind FROM session_buddy.feed WHERE at_ms >= $1
           ORDER BY at_ms, seq LIMIT 100000`,
          [sinceMs],
        ),
      "a read",
    );
    return r.rows.map((row) => ({
      at: Number(row.at_ms),
      sessionId: row.session_id,
      kind: row.kind,
    }));
  }

  async importRecord(record: SessionRecord): Promise<ImportOutcome> {
    const numbered = candidateNumber(record);
    const r = await deadline(
      () =>
        this.#write<{ written: string }>(
          `WITH ins AS (
             INSERT INTO session_buddy.sessions (session_id, event_id, started_ms,
                 component_name, hostname, username, status, last_seen_ms, record)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
               ON CONFLICT DO NOTHING RETURNING 1),
           counter AS (
             INSERT INTO session_buddy.id_counters AS c (base, n)
               SELECT $10, $11 WHERE $10::text IS NOT NULL AND EXISTS (SELECT 1 FROM ins)
               ON CONFLICT (base) DO UPDATE SET n = GREATEST(c.n, EXCLUDED.n))
           SELECT count(*) AS written FROM ins`,
          [
            record.session_id,
            record.event_id,
            Date.parse(record.started_at),
            columnText(record.component_name),
            columnText(record.hostname),
            columnText(record.user.username),
            record.status,
            Date.parse(record.last_seen_at),
            JSON.stringify(record),
            numbered?.base ?? null,
            numbered?.n ?? null,
          ],
        ),
      "an import",
    );
    return Number(r.rows[0]?.written) === 1 ? "written" : "skipped";
  }

  async check(): Promise<void> {
    await deadline(() => this.#pool.query("SELECT 1"), "a health check");
  }

  async close(): Promise<void> {
    this.#closed = true;
    while (this.#groups.size > 0) await Promise.allSettled([...this.#groups]);
    await endPool(this.#pool);
  }
}

/**
 * The statements of one page of a listing: `page` finds up to `limit + 1` records; when
 * filters share no index (or the status filter needs last-seen), it walks at most
 * `scanLimit` entries of the first filter's index (as the Deno KV store does), and `edge`
 * names the entry where such a walk ends (none when it ended early). Each is ordered by its
 * index's own columns, so the planner walks that index and never sorts. bench/list_scale.ts
 * and tests/e2e/postgres_explain_test.ts EXPLAIN these very statements.
 */
export function listSql(
  filter: SessionFilter,
  after: CursorPosition | null,
  staleCutoffMs: number,
  limit: number,
  scanLimit: number,
): { page: string; edge: string | null; values: unknown[]; edgeValues: unknown[] } {
  const plan = listQuery(filter, after, staleCutoffMs);
  const where = (conditions: string[]) =>
    conditions.length ? ` WHERE ${conditions.join(" AND ")}` : "";
  const order = `ORDER BY ${
    plan.column ? `${plan.column} DESC, ` : ""
  }started_ms DESC, session_id DESC`;
  if (plan.secondary.length === 0 || scanLimit === Number.MAX_SAFE_INTEGER) {
    return {
      page: `SELECT record, started_ms, session_id FROM session_buddy.sessions${
        where([...plan.primary, ...plan.secondary])
      } ${order} LIMIT ${limit + 1}`,
      edge: null,
      values: plan.values,
      edgeValues: [],
    };
  }
  const walk = `FROM session_buddy.sessions${where(plan.primary)} ${order}`;
  return {
    page: `SELECT record, started_ms, session_id FROM (
      SELECT record, started_ms, session_id, component_name, hostname, username, status,
        last_seen_ms ${walk} LIMIT ${scanLimit}) walked${where(plan.secondary)}
      ${order} LIMIT ${limit + 1}`,
    edge: `SELECT started_ms, session_id ${walk} LIMIT 1 OFFSET ${scanLimit - 1}`,
    values: plan.values,
    edgeValues: plan.values.slice(0, plan.primaryValues),
  };
}

/** One filter of a listing: its column and the value it must have. */
interface Filter {
  column: "component_name" | "hostname" | "username" | "status";
  value: string;
}

/**
 * The conditions of a listing. `primary` are those the first filter's index serves (in the
 * Deno KV store's order of filters): its column written as a range, `col BETWEEN v AND v`,
 * which keeps the column in the ORDER BY (PostgreSQL drops one it knows to be constant, and
 * would then walk the start index instead), and the time range and cursor as row
 * comparisons led by it, which position the walk. `secondary` are the other filters and a
 * status filter's last-seen bound, checked on the walked rows. `column` is the index's
 * leading column (none: the start index).
 */
export function listQuery(
  filter: SessionFilter,
  after: CursorPosition | null,
  staleCutoffMs: number,
): {
  primary: string[];
  secondary: string[];
  values: unknown[];
  primaryValues: number;
  column: Filter["column"] | null;
} {
  const values: unknown[] = [];
  const param = (value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  const filters: Filter[] = [];
  if (filter.component_name !== undefined) {
    filters.push({ column: "component_name", value: filter.component_name });
  }
  if (filter.hostname !== undefined) filters.push({ column: "hostname", value: filter.hostname });
  if (filter.username !== undefined) filters.push({ column: "username", value: filter.username });
  // Stale is derived from last-seen: stored, stale sessions are active.
  if (filter.status !== "all") {
    filters.push({ column: "status", value: filter.status === "ended" ? "ended" : "active" });
  }
  const first = filters[0];
  const primary: string[] = [];
  let lead: (columns: string, op: string, params: string) => string;
  if (first) {
    const v = param(columnText(first.value));
    primary.push(`${first.column} BETWEEN ${v} AND ${v}`);
    lead = (columns, op, params) => `(${first.column}, ${columns}) ${op} (${v}, ${params})`;
  } else {
    lead = (columns, op, params) => `(${columns}) ${op} (${params})`;
  }
  if (filter.sinceMs !== undefined) primary.push(lead("started_ms", ">=", param(filter.sinceMs)));
  if (filter.untilMs !== undefined) primary.push(lead("started_ms", "<", param(filter.untilMs)));
  if (after) {
    primary.push(lead("started_ms, session_id", "<", `${param(after.at)}, ${param(after.id)}`));
  }
  const primaryValues = values.length;
  const secondary = filters.slice(1).map((f) => `${f.column} = ${param(columnText(f.value))}`);
  if (filter.status === "active") secondary.push(`last_seen_ms >= ${param(staleCutoffMs)}`);
  if (filter.status === "stale") secondary.push(`last_seen_ms < ${param(staleCutoffMs)}`);
  return { primary, secondary, values, primaryValues, column: first?.column ?? null };
}
