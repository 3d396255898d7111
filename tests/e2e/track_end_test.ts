/** SPEC 3.2: track_session_end, end to end over stdio, once per store ("[kv] ...", "[postgres] ..."). */
import assert from "node:assert/strict";
import { endArgs, startArgs } from "../helpers/server.ts";
import { poll, storeTest, withServer } from "../helpers/contract.ts";
import type { Running } from "../helpers/server.ts";

const PREFIX = "Session end tracking failed: ";

async function started(
  server: Running,
  component: string,
  timestamp = "2026-02-06T12:00:00Z",
): Promise<string> {
  const result = await server.call(
    "track_session_start",
    startArgs({ component_name: component, timestamp }),
  );
  assert.equal(result.status, "tracked", JSON.stringify(result));
  return String(result.session_id);
}

storeTest("ending an unknown session id returns not_found with the given id", async (kind) => {
  await withServer(async ({ server, store }) => {
    const baseline = await store.storedText();
    const result = await server.call(
      "track_session_end",
      endArgs("ghost-20260206-000000", { timestamp: "2026-02-06T13:00:00Z" }),
    );
    assert.deepEqual(result, {
      session_id: "ghost-20260206-000000",
      status: "not_found",
      error: null,
    });
    assert.deepEqual(await store.storedText(), baseline);
  }, { store: kind });
});

storeTest("ending twice returns ended both times and keeps the first end", async (kind) => {
  await withServer(async ({ server, store }) => {
    const id = await started(server, "twice");
    const first = await server.call(
      "track_session_end",
      endArgs(id, { timestamp: "2026-02-06T13:00:00Z", metadata: { exit_reason: "user_exit" } }),
    );
    const second = await server.call(
      "track_session_end",
      endArgs(id, { timestamp: "2026-02-06T14:00:00Z", metadata: { exit_reason: "second" } }),
    );
    assert.deepEqual(first, { session_id: id, status: "ended", error: null });
    assert.deepEqual(second, { session_id: id, status: "ended", error: null });
    const record = await store.readRecord(id);
    assert.ok(record);
    assert.equal(record.status, "ended");
    assert.equal(record.ended_at, "2026-02-06T13:00:00.000Z");
    assert.deepEqual(record.end_metadata, { exit_reason: "user_exit" });
    assert.equal(record.duration_seconds, 3600);
    assert.equal(record.end_source, "client");
  }, { store: kind });
});

storeTest(
  "an end before the start is accepted with duration 0 and a WARNING in the log",
  async (kind) => {
    await withServer(async ({ server, store }) => {
      const id = await started(server, "backwards");
      const result = await server.call(
        "track_session_end",
        endArgs(id, { timestamp: "2026-02-06T11:00:00Z" }),
      );
      assert.deepEqual(result, { session_id: id, status: "ended", error: null });
      const record = await store.readRecord(id);
      assert.ok(record);
      assert.equal(record.status, "ended");
      assert.equal(record.duration_seconds, 0);
      assert.equal(record.ended_at, "2026-02-06T11:00:00.000Z");
      const warned = () =>
        server.stderr().split("\n").some((l) => /WARNING/.test(l) && l.includes(id));
      assert.ok(await poll(warned), `no WARNING line naming ${id} in stderr:\n${server.stderr()}`);
    }, { store: kind });
  },
);

storeTest("duration_seconds is the time from start to end, fractions included", async (kind, t) => {
  await withServer(async ({ server, store }) => {
    const cases: [string, string, string, number, string][] = [
      [
        "plain",
        "2026-02-06T12:00:00Z",
        "2026-02-06T13:04:05.5Z",
        3845.5,
        "2026-02-06T13:04:05.500Z",
      ],
      [
        "offsets",
        "2026-02-06T14:00:00+02:00",
        "2026-02-06T08:04:05.5-05:00",
        3845.5,
        "2026-02-06T13:04:05.500Z",
      ],
      [
        "no offset",
        "2026-02-06T12:00:00",
        "2026-02-06T12:00:00.25",
        0.25,
        "2026-02-06T12:00:00.250Z",
      ],
      [
        "same instant",
        "2026-02-06T12:00:00Z",
        "2026-02-06T12:00:00Z",
        0,
        "2026-02-06T12:00:00.000Z",
      ],
      [
        "across a day",
        "2026-02-06T23:59:59Z",
        "2026-02-07T00:00:01Z",
        2,
        "2026-02-07T00:00:01.000Z",
      ],
    ];
    for (const [name, start, end, duration, endedAt] of cases) {
      await t.step(name, async () => {
        const id = await started(server, name.replaceAll(" ", "-"), start);
        const result = await server.call("track_session_end", endArgs(id, { timestamp: end }));
        assert.deepEqual(result, { session_id: id, status: "ended", error: null });
        const record = await store.readRecord(id);
        assert.ok(record);
        assert.equal(record.duration_seconds, duration);
        assert.equal(record.ended_at, endedAt);
        assert.equal(record.end_source, "client");
        assert.equal(record.status, "ended");
        assert.deepEqual(record.end_metadata, { exit_reason: "user_exit" });
      });
    }
  }, { store: kind });
});

storeTest(
  "end errors read 'Session end tracking failed: ' and echo a string session_id",
  async (kind, t) => {
    await withServer(async ({ server, store }) => {
      const id = await started(server, "errs");
      const before = await store.readRecord(id);
      await t.step("bad timestamp", async () => {
        const result = await server.call(
          "track_session_end",
          endArgs(id, { timestamp: "2026-02-06 12:00" }),
        );
        assert.deepEqual(result, {
          session_id: id,
          status: "error",
          error:
            `${PREFIX}Invalid ISO 8601 timestamp: 2026-02-06 12:00 (expected format: 2026-02-06T12:34:56.789Z)`,
        });
      });
      const cases: [string, Record<string, unknown>, unknown][] = [
        ["session_id 42", { session_id: 42 }, null],
        ["session_id null", { session_id: null }, null],
        ["session_id object", { session_id: { id: "x" } }, null],
        ["session_id missing", { session_id: undefined }, null],
        ["session_id 201 chars", { session_id: "s".repeat(201) }, "s".repeat(201)],
        ["session_id empty", { session_id: "" }, ""],
        ["timestamp missing", { timestamp: undefined }, id],
        ["timestamp not a date", { timestamp: "2026-02-30T00:00:00Z" }, id],
        ["metadata 16385 bytes", { metadata: { k: "m".repeat(16385 - 8) } }, id],
        ["metadata multibyte over 16 KiB", { metadata: { k: "é".repeat(8189) } }, id],
        ["metadata array", { metadata: [] }, id],
        ["metadata string", { metadata: "user_exit" }, id],
        ["event_type wrong", { event_type: "session_start" }, id],
      ];
      for (const [name, override, echo] of cases) {
        await t.step(name, async () => {
          const args = endArgs(id, override);
          for (const [k, v] of Object.entries(override)) if (v === undefined) delete args[k];
          const raw = await server.callRaw("track_session_end", args);
          assert.notEqual(raw.isError, true);
          const result = raw.structuredContent as Record<string, unknown>;
          assert.equal(result.status, "error", JSON.stringify(result));
          assert.equal(result.session_id, echo);
          assert.ok(String(result.error).startsWith(PREFIX), String(result.error));
        });
      }
      await t.step("the session is untouched by the failed ends", async () => {
        assert.deepEqual(await store.readRecord(id), before);
        assert.equal(before?.status, "active");
      });
      await t.step("a 200-char session_id is valid (and unknown)", async () => {
        const long = "s".repeat(200);
        assert.deepEqual(await server.call("track_session_end", endArgs(long)), {
          session_id: long,
          status: "not_found",
          error: null,
        });
      });
      await t.step("metadata of exactly 16384 bytes is accepted", async () => {
        const metadata = { k: "é".repeat(8188) };
        const result = await server.call(
          "track_session_end",
          endArgs(id, { timestamp: "2026-02-06T12:30:00Z", metadata }),
        );
        assert.deepEqual(result, { session_id: id, status: "ended", error: null });
        const record = await store.readRecord(id);
        assert.deepEqual(record?.end_metadata, metadata);
        assert.equal(record?.duration_seconds, 1800);
      });
      await t.step("a trimmed session_id finds the session", async () => {
        const other = await started(server, "trimmed");
        const result = await server.call("track_session_end", endArgs(`  ${other} `));
        assert.equal(result.status, "ended", JSON.stringify(result));
        assert.equal((await store.readRecord(other))?.status, "ended");
      });
      await t.step("no other session appeared", async () => {
        assert.deepEqual((await store.sessionIds()).sort(), [id, "trimmed-20260206-120000"].sort());
      });
    }, { store: kind });
  },
);
