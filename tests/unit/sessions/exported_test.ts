/** Exported records read back for sessions import. */
import assert from "node:assert/strict";
import { parseExportedRecord } from "../../../src/sessions/exported.ts";
import { startArgs } from "../../helpers/server.ts";

function exported(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const { token: _token, ...start } = startArgs({ timestamp: "2026-02-06T12:34:56.789Z" });
  return {
    session_id: "mahavishnu-20260206-123456",
    ...start,
    status: "ended",
    started_at: "2026-02-06T12:34:56.789Z",
    ended_at: "2026-02-06T13:00:00.000Z",
    duration_seconds: 1503.211,
    end_metadata: { exit_reason: "user_exit" },
    end_source: "client",
    last_seen_at: "2026-02-06T12:34:57.001Z",
    tracked_by: "admin-shell",
    ...overrides,
  };
}

Deno.test("an exported record reads back as it was; stale becomes the stored active", () => {
  const record = exported();
  assert.deepEqual(parseExportedRecord(record), { ok: true, value: record });
  const stale = parseExportedRecord(
    exported({
      status: "stale",
      ended_at: null,
      duration_seconds: null,
      end_metadata: null,
      end_source: null,
    }),
  );
  assert.ok(stale.ok);
  assert.equal(stale.value.status, "active");
});

Deno.test("a record with a bad field is refused naming it", () => {
  const cases: [unknown, RegExp][] = [
    [[], /expected a JSON object/],
    [exported({ session_id: "" }), /Invalid session_id/],
    [exported({ session_id: "a\u0000b" }), /Invalid session_id: U\+0000 and lone surrogates/],
    [exported({ session_id: "a\ud800" }), /Invalid session_id: U\+0000 and lone surrogates/],
    [exported({ event_id: "abc" }), /Invalid UUID v4 format: abc/],
    [exported({ started_at: "yesterday" }), /Invalid started_at/],
    [exported({ status: "gone" }), /Invalid status/],
    [exported({ ended_at: null }), /Invalid ended_at/],
    [exported({ duration_seconds: -1 }), /Invalid duration_seconds/],
    [exported({ end_source: "admin" }), /Invalid end_source/],
    [exported({ tracked_by: 7 }), /Invalid tracked_by/],
    [exported({ user: { username: "" } }), /user/],
  ];
  for (const [value, reason] of cases) {
    const parsed = parseExportedRecord(value);
    assert.equal(parsed.ok, false, JSON.stringify(value).slice(0, 80));
    if (!parsed.ok) assert.match(parsed.reason, reason);
  }
});

Deno.test("a token that came along with a record is not kept: no stored record holds one", () => {
  const record = exported();
  const parsed = parseExportedRecord({ ...record, token: "eyJhbGciOiJIUzI1NiJ9.e30.sig" });
  assert.deepEqual(parsed, { ok: true, value: record });
});
