/**
 * What both store adapters share above their parts: every call of the port is answered by
 * one of three parts an adapter supplies (its starts, written by the group commit; its
 * changes to one session; its readers), and a cursor names a position of a listing when its
 * session is stored there.
 */
import type { SessionEndEvent, SessionStartEvent } from "../sessions/events.ts";
import { type CursorPosition, isPositionOf, type SessionFilter } from "../sessions/query.ts";
import type { EndSource, SessionRecord } from "../sessions/session.ts";
import type {
  EndOutcome,
  FeedEntry,
  HeartbeatOutcome,
  ImportOptions,
  ImportOutcome,
  ListPage,
  SessionStore,
  StartOutcome,
} from "./port.ts";
import { importInOrder } from "./import_order.ts";

/** The parts an adapter supplies (`kv/`, `postgres/`: starts.ts, lifecycle.ts, listing.ts). */
export interface StoreParts {
  starts: Pick<SessionStore, "start">;
  changes: {
    end(event: SessionEndEvent, source: EndSource, now: Date): Promise<EndOutcome>;
    heartbeat(sessionId: string, now: Date): Promise<HeartbeatOutcome>;
    importRecord(record: SessionRecord): Promise<ImportOutcome>;
    /** A faster way than record by record, when the adapter has one. */
    importRecords?(
      records: readonly SessionRecord[],
      options: ImportOptions,
    ): Promise<ImportOutcome[]>;
    get(sessionId: string): Promise<SessionRecord | null>;
  };
  readers: Pick<SessionStore, "list" | "range" | "active" | "feedSince">;
}

/** A store whose calls its {@linkcode StoreParts} answer; adapters add opening and closing. */
export abstract class ComposedStore {
  protected abstract readonly parts: StoreParts;

  /**
   * Records a started session under the first free id of its base, exactly once per
   * event id. Returns only after the commit; starts that arrive while a commit is under
   * way are committed together (src/store/group_commit.ts).
   */
  start(event: SessionStartEvent, trackedBy: string | null, now: Date): Promise<StartOutcome> {
    return this.parts.starts.start(event, trackedBy, now);
  }

  /** Ends a session; an end already made by its client stays as it was. */
  end(
    event: SessionEndEvent,
    source: EndSource = "client",
    now: Date = new Date(),
  ): Promise<EndOutcome> {
    return this.parts.changes.end(event, source, now);
  }

  /**
   * Refreshes a session's last-seen time. Returns `ended` for a session its client ended;
   * a session the reaper closed becomes active again.
   */
  heartbeat(sessionId: string, now: Date): Promise<HeartbeatOutcome> {
    return this.parts.changes.heartbeat(sessionId, now);
  }

  /**
   * Writes an exported record with its index keys, unless its session id or event id is
   * stored; the id counter of its base moves up to it.
   */
  importRecord(record: SessionRecord): Promise<ImportOutcome> {
    return this.parts.changes.importRecord(record);
  }

  /** Brings a batch in, several records at a time, outcomes as if one after another. */
  importRecords(
    records: readonly SessionRecord[],
    options: ImportOptions = {},
  ): Promise<ImportOutcome[]> {
    const { changes } = this.parts;
    if (changes.importRecords) return changes.importRecords(records, options);
    return importInOrder(records, (record) => changes.importRecord(record), options);
  }

  /** The record of a session, or `null`. */
  get(sessionId: string): Promise<SessionRecord | null> {
    return this.parts.changes.get(sessionId);
  }

  /** Whether a cursor position is a session that this listing could have returned. */
  async isListPosition(position: CursorPosition, filter: SessionFilter): Promise<boolean> {
    return isPositionOf(await this.get(position.id), position, filter);
  }

  list(...args: Parameters<SessionStore["list"]>): Promise<ListPage> {
    return this.parts.readers.list(...args);
  }

  range(sinceMs: number, untilMs: number): AsyncIterable<SessionRecord> {
    return this.parts.readers.range(sinceMs, untilMs);
  }

  active(): AsyncIterable<SessionRecord> {
    return this.parts.readers.active();
  }

  feedSince(sinceMs: number): Promise<FeedEntry[]> {
    return this.parts.readers.feedSince(sinceMs);
  }
}
