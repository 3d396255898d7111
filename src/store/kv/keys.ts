/**
 * The Deno KV key layout. Records live under `session`; every index key ends in
 * `(started_at ms, session_id)` so a reverse `list` yields the newest start first.
 */

/** Index keys name a value and hold no data of their own: the record is the truth. */
export type IndexKey = readonly [string, ...(string | number)[]];

/** The record of one session. */
export function sessionKey(sessionId: string): Deno.KvKey {
  return ["session", sessionId];
}

/** Which session an event id created, for idempotent retries. */
export function eventKey(eventId: string): Deno.KvKey {
  return ["event", eventId];
}

/** How many ids were handed out for one `{component}-{date}-{time}` base. */
export function idSeqKey(base: string): Deno.KvKey {
  return ["id_seq", base];
}

/**
 * A session whose index keys and change-feed entry are not written yet. A start commits
 * this marker with its record; the index writer removes it in the commit that writes them.
 */
export function unindexedKey(sessionId: string): Deno.KvKey {
  return ["unindexed", sessionId];
}

/** What a marker holds: enough to place its session in a listing without reading it. */
export interface Unindexed {
  /** When the start was committed, at the writer's clock (the change-feed entry's time). */
  at: number;
  started_ms: number;
  component_name: string;
  hostname: string;
  username: string;
}

/** What a record is indexed by. */
export interface Indexed {
  session_id: string;
  started_at: string;
  component_name: string;
  hostname: string;
  user: { username: string };
  status: string;
}

/** Every index key of a record: newest-first overall, by component, host, user, status. */
export function indexKeys(r: Indexed): Deno.KvKey[] {
  const at = Date.parse(r.started_at);
  const id = r.session_id;
  return [
    ["by_start", at, id],
    ["by_component", r.component_name, at, id],
    ["by_host", r.hostname, at, id],
    ["by_user", r.user.username, at, id],
    ["by_status", r.status, at, id],
  ];
}

/** The marker of a record committed at `atMs` (the writer's clock). */
export function unindexedOf(r: Indexed, atMs: number): Unindexed {
  return {
    at: atMs,
    started_ms: Date.parse(r.started_at),
    component_name: r.component_name,
    hostname: r.hostname,
    username: r.user.username,
  };
}

/** The status index key of a record in a given stored status. */
export function statusKey(r: Indexed, status: string): Deno.KvKey {
  return ["by_status", status, Date.parse(r.started_at), r.session_id];
}

export { FEED_TTL_MS } from "../port.ts";

/** A change-feed entry: one start, end or heartbeat, at the writer's clock. */
export function feedKey(atMs: number, sessionId: string, kind: string): Deno.KvKey {
  return ["feed", atMs, sessionId, kind];
}

/** Filters that have an index of their own, in the order the lister prefers them. */
export function listPrefix(
  f: { component_name?: string; hostname?: string; username?: string; status: string },
): Deno.KvKey {
  if (f.component_name !== undefined) return ["by_component", f.component_name];
  if (f.hostname !== undefined) return ["by_host", f.hostname];
  if (f.username !== undefined) return ["by_user", f.username];
  if (f.status === "ended") return ["by_status", "ended"];
  if (f.status === "active" || f.status === "stale") return ["by_status", "active"];
  return ["by_start"];
}
