/** The import rules: what an imported record of a stored event brings, and a renumbered one. */
import assert from "node:assert/strict";
import { mergeImported, renumbered } from "../../../src/sessions/imported.ts";
import type { SessionRecord } from "../../../src/sessions/session.ts";
import { startArgs } from "../../helpers/server.ts";

const START = "2026-02-06T12:34:56.789Z";

function active(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const { token: _token, ...start } = startArgs({
    timestamp: START,
    event_id: "0b8b2a4e-9f0c-4d3c-8a51-3e6f1f0b1c2d",
  });
  return {
    session_id: "mahavishnu-20260206-123456",
    ...start,
    status: "active",
    started_at: START,
    ended_at: null,
    duration_seconds: null,
    end_metadata: null,
    end_source: null,
    last_seen_at: "2026-02-06T12:40:00.000Z",
    tracked_by: "admin-shell",
    ...overrides,
  } as SessionRecord;
}

function ended(source: "client" | "reaper", at: string, more: Partial<SessionRecord> = {}) {
  return active({
    status: "ended",
    ended_at: at,
    duration_seconds: (Date.parse(at) - Date.parse(START)) / 1000,
    end_metadata: source === "client" ? { exit_reason: "user_exit" } : null,
    end_source: source,
    ...(source === "reaper" ? { last_seen_at: at } : {}),
    ...more,
  });
}

Deno.test("mergeImported: the same record changes nothing", () => {
  for (const r of [active(), ended("client", "2026-02-06T13:00:00.000Z")]) {
    assert.equal(mergeImported(r, structuredClone(r)), null);
  }
});

Deno.test("mergeImported: an end the stored session lacks is taken, and kept afterwards", () => {
  const end = ended("client", "2026-02-06T13:00:00.000Z");
  const merged = mergeImported(active(), end);
  assert.deepEqual(merged, end);
  assert.equal(mergeImported(merged!, end), null);
  // The active record imported back into the ended store does not undo the end.
  assert.equal(mergeImported(end, active()), null);
});

Deno.test("mergeImported: a later last_seen_at is taken, an earlier one is not", () => {
  const later = active({ last_seen_at: "2026-02-06T18:00:00.000Z" });
  assert.deepEqual(mergeImported(active(), later), later);
  assert.equal(mergeImported(later, active()), null);
  // An ended session keeps its end and takes the later heartbeat.
  const end = ended("client", "2026-02-06T19:00:00.000Z");
  assert.deepEqual(mergeImported(end, later), { ...end, last_seen_at: later.last_seen_at });
});

Deno.test("mergeImported: a client's end is never replaced", () => {
  const client = ended("client", "2026-02-06T13:00:00.000Z");
  const reaper = ended("reaper", "2026-02-07T01:00:00.000Z");
  // Only its later last-seen is taken; the end stays the client's.
  assert.deepEqual(mergeImported(client, reaper), { ...client, last_seen_at: reaper.last_seen_at });
  assert.equal(mergeImported(client, ended("reaper", "2026-02-06T12:00:00.000Z")), null);
  const other = ended("client", "2026-02-06T14:00:00.000Z", { end_metadata: { other: true } });
  assert.equal(mergeImported(client, other), null);
});

Deno.test("mergeImported: a client's end replaces a reaper's, as the live end does", () => {
  const reaped = ended("reaper", "2026-02-06T13:00:00.000Z");
  const client = ended("client", "2026-02-06T12:59:00.000Z");
  assert.deepEqual(mergeImported(reaped, client), {
    ...client,
    last_seen_at: reaped.last_seen_at,
  });
});

Deno.test("mergeImported: a reaper's end holds only if nobody saw the session after it", () => {
  const reaped = ended("reaper", "2026-02-06T13:00:00.000Z");
  const seenLater = active({ last_seen_at: "2026-02-06T15:00:00.000Z" });
  // Seen after the reap: active again, as a heartbeat makes it; either way round.
  assert.deepEqual(mergeImported(reaped, seenLater), seenLater);
  assert.equal(mergeImported(seenLater, reaped), null);
  // Seen before it: the reaper's end is taken.
  const seenBefore = active({ last_seen_at: "2026-02-06T12:50:00.000Z" });
  assert.equal(mergeImported(reaped, seenBefore), null);
  assert.deepEqual(mergeImported(seenBefore, reaped), reaped);
  // Of two reapers' ends the later is kept, and a second import changes nothing.
  const later = ended("reaper", "2026-02-06T16:00:00.000Z");
  assert.deepEqual(mergeImported(reaped, later), later);
  assert.equal(mergeImported(later, reaped), null);
});

Deno.test("mergeImported: the stored id, origin, start fields and tracked_by stay", () => {
  const stored = active({ session_id: "mahavishnu-20260206-123456-2" });
  stored.origin_session_id = "mahavishnu-20260206-123456";
  const incoming = ended("client", "2026-02-06T13:00:00.000Z", {
    tracked_by: "someone-else",
    pid: 999,
  });
  const merged = mergeImported(stored, incoming)!;
  assert.equal(merged.session_id, stored.session_id);
  assert.equal(merged.origin_session_id, stored.origin_session_id);
  assert.equal(merged.tracked_by, "admin-shell");
  assert.equal(merged.pid, stored.pid);
  assert.equal(merged.status, "ended");
});

Deno.test("renumbered: the new id, the former one as origin, or the origin it carried", () => {
  const r = active();
  const moved = renumbered(r, `${r.session_id}-2`);
  assert.equal(moved.session_id, `${r.session_id}-2`);
  assert.equal(moved.origin_session_id, r.session_id);
  assert.equal(r.origin_session_id, undefined, "the record given is not changed");
  assert.equal(renumbered(moved, `${r.session_id}-3`).origin_session_id, r.session_id);
});
