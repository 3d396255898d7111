/**
 * import_sessions' scheduling: records go into a real Deno KV store several at a time, yet
 * every outcome is the one a record-by-record import gives.
 */
import assert from "node:assert/strict";
import { importInOrder, touches } from "../../../src/store/import_order.ts";
import { parseExportedRecord } from "../../../src/sessions/exported.ts";
import type { SessionRecord } from "../../../src/sessions/session.ts";
import { KvSessionStore } from "../../../src/store/kv/kv_store.ts";
import type { ImportOutcome } from "../../../src/store/port.ts";
import { startArgs } from "../../helpers/server.ts";

function record(overrides: Record<string, unknown> = {}): SessionRecord {
  const { token: _token, ...start } = startArgs({ timestamp: "2026-03-02T08:15:30.000Z" });
  const parsed = parseExportedRecord({
    session_id: "mahavishnu-20260302-081530",
    ...start,
    status: "active",
    started_at: "2026-03-02T08:15:30.000Z",
    ended_at: null,
    duration_seconds: null,
    end_metadata: null,
    end_source: null,
    last_seen_at: "2026-03-02T08:15:31.000Z",
    tracked_by: null,
    ...overrides,
  });
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

function at(second: number, overrides: Record<string, unknown> = {}): SessionRecord {
  const ts = `2026-03-02T09:00:${String(second).padStart(2, "0")}.000Z`;
  return record({
    session_id: `mahavishnu-20260302-0900${String(second).padStart(2, "0")}`,
    timestamp: ts,
    started_at: ts,
    last_seen_at: ts,
    ...overrides,
  });
}

/** A batch whose records meet each other: shared ids, one event twice, ids off their base. */
function batch(): SessionRecord[] {
  const john = record();
  const ended = {
    ...john,
    status: "ended",
    ended_at: "2026-03-02T09:00:00.000Z",
    duration_seconds: 2670,
    end_metadata: { exit_reason: "user_exit" },
    end_source: "client",
  };
  return [
    john,
    record({ hostname: "host-b" }), // the same id, another event: renumbered to -2
    at(1),
    record({ session_id: "mahavishnu-20260302-081530-2", hostname: "host-c" }), // -2 taken by then
    at(2),
    record(ended), // john's end: updated
    at(3, { session_id: "hand-made" }),
    at(4, { session_id: "hand-made" }), // renumbered within its base
    at(5, { session_id: "mahavishnu-20260302-081530-3" }), // takes an id of another base
    record({ hostname: "host-d" }), // then -4, not -3
    record(ended), // unchanged
    ...Array.from({ length: 20 }, (_, i) => at(10 + i)),
  ] as SessionRecord[];
}

async function withKv<T>(fn: (store: KvSessionStore) => Promise<T>): Promise<T> {
  const kv = await Deno.openKv(":memory:");
  const store = new KvSessionStore(kv);
  try {
    return await fn(store);
  } finally {
    await store.close();
    kv.close();
  }
}

async function exportOf(store: KvSessionStore): Promise<string[]> {
  const out: string[] = [];
  for await (const r of store.range(0, Date.parse("2100-01-01"))) {
    out.push(JSON.stringify([r.session_id, r.event_id, r.status, r.origin_session_id ?? null]));
  }
  return out.sort();
}

Deno.test("several at a time, the outcomes and the store are those of one at a time", async () => {
  const records = batch();
  const [one, many] = await Promise.all(
    [1, 8].map((concurrency) =>
      withKv(async (store) => {
        const heard: ImportOutcome[] = [];
        const outcomes = await importInOrder(records, (r) => store.importRecord(r), {
          concurrency,
          onOutcome: (o) => heard.push(o),
        });
        assert.equal(heard.length, records.length);
        return { outcomes, stored: await exportOf(store) };
      })
    ),
  );
  assert.deepEqual(many, one);
  const base = "mahavishnu-20260302-081530";
  assert.deepEqual(one!.outcomes.slice(0, 11), [
    { kind: "written", sessionId: base },
    { kind: "renumbered", sessionId: `${base}-2` },
    { kind: "written", sessionId: "mahavishnu-20260302-090001" },
    { kind: "renumbered", sessionId: `${base}-3` },
    { kind: "written", sessionId: "mahavishnu-20260302-090002" },
    { kind: "updated", sessionId: base },
    { kind: "written", sessionId: "hand-made" },
    { kind: "renumbered", sessionId: "mahavishnu-20260302-090004" },
    { kind: "renumbered", sessionId: "mahavishnu-20260302-090005" },
    { kind: "renumbered", sessionId: `${base}-4` },
    { kind: "unchanged", sessionId: base },
  ]);
  assert.ok(one!.outcomes.slice(11).every((o) => o.kind === "written"));
});

Deno.test("what a record may touch: its event and the id families it may be stored under", () => {
  const r = record();
  const event = `event ${r.event_id}`;
  assert.deepEqual(touches(r), [event, "base mahavishnu-20260302-081530"]);
  assert.deepEqual(
    touches(record({ session_id: "mahavishnu-20260302-081530-12", event_id: r.event_id })),
    [event, "base mahavishnu-20260302-081530"],
  );
  assert.deepEqual(
    touches(record({ session_id: "other-20260101-000000-3", event_id: r.event_id })),
    [
      event,
      "base mahavishnu-20260302-081530",
      "base other-20260101-000000-3",
      "base other-20260101-000000",
    ],
  );
  assert.deepEqual(
    touches(record({ event_id: r.event_id.toUpperCase() })).slice(0, 1),
    [event],
    "one event whatever the case of its id",
  );
});

Deno.test("a failure starts no more records; those in flight finish, then it is thrown", async () => {
  const records = Array.from({ length: 40 }, (_, i) => at(i));
  const started: number[] = [];
  let finished = 0;
  await assert.rejects(
    importInOrder(records, async (r) => {
      const i = records.indexOf(r);
      started.push(i);
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (i === 5) throw new Error("the store went away");
      finished++;
      return { kind: "written", sessionId: r.session_id };
    }, { concurrency: 4 }),
    /the store went away/,
  );
  assert.ok(Math.max(...started) < 10, `started ${started.join(",")}`);
  assert.equal(finished, started.length - 1, "every other record started was finished");
});

Deno.test("a cancelled import starts no more records and rejects with the reason", async () => {
  const records = Array.from({ length: 40 }, (_, i) => at(i));
  const controller = new AbortController();
  let started = 0;
  await assert.rejects(
    importInOrder(records, async (r) => {
      if (++started === 3) controller.abort(new Error("cancelled"));
      await new Promise((resolve) => setTimeout(resolve, 5));
      return { kind: "written", sessionId: r.session_id };
    }, { concurrency: 2, signal: controller.signal }),
    /cancelled/,
  );
  assert.ok(started <= 4, `started ${started}`);
});
