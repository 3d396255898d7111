import assert from "node:assert/strict";
import { parseStartEvent, type SessionStartEvent } from "../../../src/sessions/events.ts";
import { endRecord, sameStart, startRecord, touchRecord } from "../../../src/sessions/session.ts";
import { startArgs } from "../../helpers/server.ts";

function event(overrides: Record<string, unknown> = {}): SessionStartEvent {
  const parsed = parseStartEvent(startArgs({
    event_id: "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
    timestamp: "2026-02-06T12:34:56Z",
    ...overrides,
  }));
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

Deno.test("sameStart: a retry matches its event and the record it made, however it ended", () => {
  const original = event({ timestamp: "2026-02-06T12:34:56Z", metadata: { a: 1, b: [2] } });
  const retry = event({ timestamp: "2026-02-06T12:34:56Z", metadata: { b: [2], a: 1 } });
  assert.equal(sameStart(original, retry), true);
  const record = startRecord(original, "mahavishnu-20260206-123456", "ops", new Date());
  assert.equal(sameStart(retry, record), true);
  const ended = endRecord(record, {
    session_id: record.session_id,
    timestamp: "2026-02-06T13:00:00Z",
    event_type: "session_end",
    metadata: { exit_reason: "user_exit" },
  }).record;
  assert.equal(sameStart(retry, ended), true);
  assert.equal(sameStart(retry, touchRecord(record, new Date()).record), true);
  // No metadata and null metadata are the same start.
  assert.equal(sameStart(event({ metadata: undefined }), event({ metadata: null })), true);
});

Deno.test("sameStart: any differing field makes a different start", () => {
  const base = event({ timestamp: "2026-02-06T12:34:56Z" });
  const changes: Record<string, unknown>[] = [
    { timestamp: "2026-02-06T12:34:57Z" },
    { hostname: "server02" },
    { pid: 12346 },
    { shell_type: "OtherShell" },
    { component_name: "other" },
    { user: { username: "john", home: "/root" } },
    { environment: { python_version: "3.13.0", platform: "Linux", cwd: "/" } },
    { metadata: { a: 1 } },
  ];
  for (const change of changes) {
    const other = event({ timestamp: "2026-02-06T12:34:56Z", ...change });
    assert.equal(sameStart(base, other), false, JSON.stringify(change));
  }
});
