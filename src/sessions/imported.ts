/**
 * What `sessions import` (and forwarding) does with an exported record that meets a store:
 * the rules both store adapters apply, each in one pure function. A record never drops:
 * its event stored already brings what the stored session lacks ({@linkcode mergeImported});
 * its id held by another event moves it to a free id of its base ({@linkcode renumbered}).
 */
import { canonicalJson, type SessionRecord } from "./session.ts";

/** The fields that say how a session ended (all null, and active, for one that has not). */

/** How many taken candidates of one base a renumbering looks past before it gives up. */
export const MAX_CANDIDATES = 10_000;

type End = Pick<
  SessionRecord,
  "status" | "ended_at" | "duration_seconds" | "end_metadata" | "end_source"
>;

function endOf(r: SessionRecord): End {
  return {
    status: r.status,
    ended_at: r.ended_at,
    duration_seconds: r.duration_seconds,
    end_metadata: r.end_metadata,
    end_source: r.end_source,
  };
}

const NO_END: End = {
  status: "active",
  ended_at: null,
  duration_seconds: null,
  end_metadata: null,
  end_source: null,
};

/** Whether a record holds its client's end (an end of no stated source counts as one). */
function clientEnded(r: SessionRecord): boolean {
  return r.status === "ended" && r.end_source !== "reaper";
}

/** Whether ISO time `a` lies after `b`. */
function after(a: string, b: string): boolean {
  return Date.parse(a) > Date.parse(b);
}

/**
 * The stored record of an event after an imported record of the same event met it, or null
 * when the import changes nothing. As the live events would, and the same whichever of two
 * stores is imported into the other:
 * - the later `last_seen_at` of the two is kept;
 * - a client's end is never replaced: the stored one stays, else the imported one is taken
 *   (it replaces a reaper's end, as the shell's real end does in `endRecord`);
 * - of two reapers' ends the later is kept; a reaper's end is undone when the session was
 *   seen after it (as a heartbeat undoes it in `touchRecord`);
 * - the start fields, the id, `origin_session_id` and `tracked_by` stay as stored.
 */
export function mergeImported(
  stored: SessionRecord,
  incoming: SessionRecord,
): SessionRecord | null {
  const lastSeen = after(incoming.last_seen_at, stored.last_seen_at)
    ? incoming.last_seen_at
    : stored.last_seen_at;
  let end = endOf(stored);
  if (!clientEnded(stored)) {
    const laterReap = incoming.end_source === "reaper" &&
      (stored.end_source !== "reaper" || after(incoming.ended_at!, stored.ended_at!));
    if (clientEnded(incoming) || laterReap) end = endOf(incoming);
    if (end.end_source === "reaper" && after(lastSeen, end.ended_at!)) end = NO_END;
  }
  const merged = { ...stored, ...end, last_seen_at: lastSeen };
  return canonicalJson(merged) === canonicalJson(stored) ? null : merged;
}

/**
 * A record written under `sessionId` because its own id belongs to another event: it keeps
 * the id it had as `origin_session_id` (or the origin it already carried, from an earlier
 * move).
 */
export function renumbered(record: SessionRecord, sessionId: string): SessionRecord {
  return {
    ...record,
    session_id: sessionId,
    origin_session_id: record.origin_session_id ?? record.session_id,
  };
}
