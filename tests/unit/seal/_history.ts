/** Test helpers: realistic session records and an in-memory HistorySource. */
import type { SessionRecord } from "../../../src/sessions/session.ts";

/** A realistic session record for `id`; `overrides` replace top-level fields. */
export function record(id: string, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    session_id: id,
    event_version: "1.0",
    event_id: "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
    event_type: "session_start",
    component_name: "web",
    shell_type: "MahavishnuShell",
    timestamp: "2026-12-07T10:15:00Z",
    pid: 12345,
    user: { username: "john", home: "/home/john" },
    hostname: "server01",
    environment: { python_version: "3.13.0", platform: "Linux", cwd: "/srv/web" },
    metadata: null,
    status: "active",
    started_at: "2026-12-07T10:15:00.000Z",
    ended_at: null,
    duration_seconds: null,
    end_metadata: null,
    end_source: null,
    last_seen_at: "2026-12-07T10:15:00.000Z",
    tracked_by: null,
    ...overrides,
  } as SessionRecord;
}
