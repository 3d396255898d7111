/**
 * How the PostgreSQL store writes a group of starts for the group commit
 * (src/store/group_commit.ts): one call of `session_buddy.start_sessions` in one
 * transaction with the history entries of the starts it tracked, takes an id from the
 * counter row of each base and stores each event once (a unique column).
 */
import type { EntryBody } from "../../seal/entry.ts";
import type { SessionStartEvent } from "../../sessions/events.ts";
import {
  baseSessionId,
  sameStart,
  type SessionRecord,
  startRecord,
} from "../../sessions/session.ts";
import { StoreError } from "../errors.ts";
import { GroupCommitter, leadersOf } from "../group_commit.ts";
import type { StartOutcome } from "../port.ts";
import { CALL_DEADLINE_MS, lateStart, type PgContext } from "./connection.ts";
import { transact } from "./entries.ts";
import { columnText } from "./text.ts";

/** Starts per call of `start_sessions`. */
const MAX_GROUP = 64;
/** Groups in flight at once, each on its own connection: one commits while the next fills. */
const GROUPS_IN_FLIGHT = 2;

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

/** The starts of one PostgreSQL store: its group committer and what it writes. */
export class PgStarts {
  readonly #ctx: PgContext;
  readonly #groups: GroupCommitter<PendingStart>;
  #closed = false;

  constructor(ctx: PgContext) {
    this.#ctx = ctx;
    this.#groups = new GroupCommitter<PendingStart>({
      atOnce: GROUPS_IN_FLIGHT,
      maxGroup: MAX_GROUP,
      commit: (group) => this.#commitGroup(group),
    });
  }

  /** Records a started session; resolves once its transaction has committed. */
  start(event: SessionStartEvent, trackedBy: string | null, now: Date): Promise<StartOutcome> {
    if (this.#closed) return Promise.reject(new StoreError("closed", "the store is closed"));
    return new Promise((resolve, reject) => {
      // The deadline counts from the call, not from when its group begins: a start queued
      // behind groups stuck on a database that is down is answered in time too.
      const timer = setTimeout(() => item.reject(lateStart()), CALL_DEADLINE_MS);
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
      this.#groups.enqueue(item);
    });
  }

  /** Takes no more starts, and resolves once the groups under way have committed. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#groups.idle();
  }

  async #commitGroup(batch: PendingStart[]): Promise<void> {
    // The same event twice in a group is stored once, as it came first; the others are
    // answered after it.
    const leaders = leadersOf(batch);
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
      answers = await this.#ctx.retrying("a start", async (attempt) => {
        retried = attempt > 1;
        // Ids are handed out inside start_sessions, and an entry's hash covers its
        // record's id, so the entries are drafted from its answer and written in the same
        // transaction: BEGIN, the call, the entries, COMMIT on one connection. Each try
        // drafts anew (a try after a lost connection never reuses a (writer, seq)).
        // Computing the entries in SQL instead would mean the record's canonical JSON and
        // its SHA-256 in PL/pgSQL, byte for byte as src/seal/entry.ts makes them: a second
        // implementation of the hash that must never drift. `deno task bench:pg --quick`
        // (2 busy cores), one round trip before and four now: start p50 1.27x FLOOR-PG
        // before, 1.35x after; pipelined starts 1.29x FLOOR-PG before, 0.75x after (the
        // counter rows stay locked over the extra round trips). Worth redoing in SQL if
        // pipelined throughput matters more than one hash implementation.
        return await transact(this.#ctx, async (client) => {
          const result = await client.query<{ r: GroupAnswer[] }>(
            "SELECT session_buddy.start_sessions($1::jsonb) AS r",
            [JSON.stringify(input)],
          );
          const value = result.rows[0]!.r;
          const bodies: EntryBody[] = [];
          value.forEach((answer, i) => {
            if (!("tracked" in answer)) return;
            const r = { ...records[i]!, session_id: answer.tracked };
            bodies.push({ k: "start", id: answer.tracked, r });
          });
          return { value, bodies };
        });
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
}
