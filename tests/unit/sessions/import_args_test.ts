/** The arguments of import_sessions: a batch of exported records, read whole or refused. */
import assert from "node:assert/strict";
import {
  ImportSessionsSchema,
  MAX_IMPORT_RECORDS,
  parseImportArgs,
} from "../../../src/sessions/import_args.ts";
import { startArgs } from "../../helpers/server.ts";

function exported(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const { token: _token, ...start } = startArgs({ timestamp: "2026-02-06T12:34:56.789Z" });
  return {
    session_id: "mahavishnu-20260206-123456",
    ...start,
    status: "active",
    started_at: "2026-02-06T12:34:56.789Z",
    ended_at: null,
    duration_seconds: null,
    end_metadata: null,
    end_source: null,
    last_seen_at: "2026-02-06T12:34:57.001Z",
    tracked_by: null,
    ...overrides,
  };
}

Deno.test("a batch of exported records reads back in its order; the token is no record's", () => {
  const batch = [exported(), exported({ status: "stale" }), exported({ extra: { kept: true } })];
  const parsed = parseImportArgs({ records: batch, token: "a token" });
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.value, [batch[0], { ...batch[1], status: "active" }, batch[2]]);
});

Deno.test("a bad record refuses the batch, naming its index and the field", () => {
  const parsed = parseImportArgs({
    records: [exported(), exported(), exported(), exported({ started_at: "yesterday" })],
  });
  assert.deepEqual(parsed, {
    ok: false,
    reason: "records[3]: Invalid started_at: expected an ISO 8601 time",
  });
  assert.deepEqual(parseImportArgs({ records: [exported(), 7] }), {
    ok: false,
    reason: "records[1]: expected a JSON object (a session record)",
  });
});

Deno.test("records: an array of 1 to 1000", () => {
  const cases: [unknown, string][] = [
    [[], "Invalid arguments: expected an object, got array"],
    [{}, "Missing required field: records"],
    [{ records: {} }, "Invalid records: expected an array of session records, got object"],
    [{ records: [] }, "Invalid records: 0 records, expected 1-1000 in one call"],
    [
      { records: Array.from({ length: MAX_IMPORT_RECORDS + 1 }, () => exported()) },
      "Invalid records: 1001 records, expected 1-1000 in one call",
    ],
  ];
  for (const [args, reason] of cases) {
    assert.deepEqual(parseImportArgs(args), { ok: false, reason });
  }
  const full = Array.from({ length: MAX_IMPORT_RECORDS }, () => exported());
  assert.equal(parseImportArgs({ records: full }).ok, true);
});

Deno.test("the published schema takes what the parse takes, and refuses a record it refuses", () => {
  const good = { records: [exported(), exported({ status: "stale", future_field: 1 })] };
  assert.equal(parseImportArgs(good).ok, true);
  assert.equal(ImportSessionsSchema.safeParse(good).success, true);
  for (
    const bad of [
      { records: [] },
      { records: [exported({ status: "gone" })] },
      { records: [exported({ end_source: "admin" })] },
      { records: [exported({ session_id: "" })] },
    ]
  ) {
    assert.equal(parseImportArgs(bad).ok, false, JSON.stringify(bad).slice(0, 80));
    assert.equal(
      ImportSessionsSchema.safeParse(bad).success,
      false,
      JSON.stringify(bad).slice(0, 80),
    );
  }
});
