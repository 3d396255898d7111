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

/** The status index key of a record in a given stored status. */
export function statusKey(r: Indexed, status: string): Deno.KvKey {
  return ["by_status", status, Date.parse(r.started_at), r.session_id];
}
