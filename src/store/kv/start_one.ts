/**
 * How the Deno KV store writes one start on its own, when its group could not be committed
 * as one: first from the counter this process wrote last, then reading the store.
 */
import type { SessionStartEvent } from "../../sessions/events.ts";
import {
  baseSessionId,
  candidateId,
  sameStart,
  type SessionRecord,
  startRecord,
} from "../../sessions/session.ts";
import type { StartOutcome } from "../port.ts";
import type { EventEntry, KvContext } from "./context.ts";
import type { IndexWriter } from "./index_writer.ts";
import { eventKey, idSeqKey, sessionKey, unindexedKey, unindexedOf } from "./keys.ts";
import { markChanged } from "./outbox.ts";
import { encodeRecord } from "./records.ts";
import { isLockedError, withRetry } from "./retry.ts";
import type { Counter, SeqCache } from "./seq_cache.ts";
import type { PendingStart } from "./starts.ts";

/** What a start made on its own needs of the store's starts. */
export interface StartOneDeps {
  ctx: KvContext;
  indexer: IndexWriter;
  get: (sessionId: string) => Promise<SessionRecord | null>;
  seqCache: SeqCache;
}

/** Commits one start, retrying while other writers hold the lock or move its counter. */
export async function startOne(deps: StartOneDeps, item: PendingStart): Promise<StartOutcome> {
  const { event } = item;
  const base = baseSessionId(event);
  const evKey = eventKey(event.event_id);
  const seqKey = idSeqKey(base);
  // First try without reading: a new event under a counter this process saw last (or a
  // counter nobody has used yet) commits at once; anything else fails a check and falls
  // through to the reading path below.
  const known = deps.seqCache.get(base) ?? { key: seqKey, value: 0, versionstamp: null };
  try {
    const fast = await commitStart(deps, item, base, known, (known.value ?? 0) + 1);
    if (fast) return fast;
  } catch (error) {
    if (!isLockedError(error)) throw error;
  }
  // Ids outside the counter (none are written by this program, but a store is shared)
  // can occupy a candidate; a failed commit with nothing else changed means exactly that.
  let skip = 0;
  let lastSeq: string | null | undefined;
  return await withRetry<StartOutcome>(async () => {
    const [ev, seq] = await deps.ctx.kv.getMany<[EventEntry, number]>([evKey, seqKey]);
    if (ev.value) return await retried(deps, event, ev.value.session_id);
    if (lastSeq !== undefined && lastSeq === seq.versionstamp) skip++;
    else skip = 0;
    lastSeq = seq.versionstamp;
    try {
      return await commitStart(deps, item, base, seq, (seq.value ?? 0) + 1 + skip);
    } catch (error) {
      // A locked store refused the commit: it says nothing about the candidate id.
      lastSeq = undefined;
      throw error;
    }
  }, deps.ctx.retry);
}

/** A start whose event id is stored: the same event replays, different data conflicts. */
async function retried(
  deps: StartOneDeps,
  event: SessionStartEvent,
  sessionId: string,
): Promise<StartOutcome> {
  const stored = await deps.get(sessionId);
  const kind = stored && sameStart(event, stored) ? "replayed" : "conflict";
  return { kind, sessionId };
}

/** One attempt to commit a start as id number `n` of its base; undefined if a check failed. */
async function commitStart(
  deps: StartOneDeps,
  item: PendingStart,
  base: string,
  seq: Counter,
  n: number,
): Promise<StartOutcome | undefined> {
  const { event, trackedBy, now } = item;
  const record = startRecord(event, candidateId(base, n), trackedBy, now);
  const evKey = eventKey(event.event_id);
  const op = deps.ctx.kv.atomic()
    .check({ key: evKey, versionstamp: null })
    .check({ key: seq.key, versionstamp: seq.versionstamp })
    .check({ key: sessionKey(record.session_id), versionstamp: null })
    .set(seq.key, n)
    .set(evKey, { session_id: record.session_id } satisfies EventEntry)
    .set(sessionKey(record.session_id), encodeRecord(record))
    .set(unindexedKey(record.session_id), unindexedOf(record, now.getTime()));
  markChanged(op, record.session_id, now.getTime());
  const res = await deps.ctx.record(op, [{ k: "start", id: record.session_id, r: record }]);
  if (!res.ok) return undefined;
  deps.seqCache.remember(base, seq.key, n, res.versionstamp);
  deps.indexer.add(record, res.versionstamp, now.getTime());
  return { kind: "tracked", record };
}
