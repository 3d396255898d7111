/**
 * A start acknowledged as `tracked` survives the server being killed at once, and is listed;
 * once per store ("[kv] ...", "[postgres] ...").
 */
import assert from "node:assert/strict";
import { endArgs, startArgs, startServer } from "../helpers/server.ts";
import { storeTest, withTestStore } from "../helpers/contract.ts";

storeTest(
  "a tracked start survives SIGKILL of the server and can be ended by a new one",
  async (kind) => {
    await withTestStore(kind, async (store, dir) => {
      const env = { ...store.env, HOME: dir };
      const first = await startServer({ env });
      let sessionId: string;
      try {
        const started = await first.call(
          "track_session_start",
          startArgs({ timestamp: "2026-03-01T08:00:00Z" }),
        );
        assert.deepEqual(started, {
          session_id: "mahavishnu-20260301-080000",
          status: "tracked",
          error: null,
        });
        sessionId = started.session_id as string;
        assert.ok(first.pid > 0, "the server process has a pid");
        Deno.kill(first.pid, "SIGKILL");
      } finally {
        await first.close().catch(() => {});
      }
      const second = await startServer({ env });
      try {
        // Killed right after the answer, the session is listed all the same by another
        // process (on Deno KV before its index keys were written, which follow the answer
        // in a batch: from its marker).
        const listed = await second.call("list_sessions", { status: "active" });
        assert.deepEqual(
          (listed.sessions as { session_id: string }[]).map((s) => s.session_id),
          [sessionId],
        );
        const ended = await second.call("track_session_end", endArgs(sessionId));
        assert.deepEqual(ended, { session_id: sessionId, status: "ended", error: null });
      } finally {
        await second.close();
      }
      const record = await store.readRecord(sessionId);
      assert.ok(record, "the record is in the store");
      assert.equal(record.status, "ended");
      assert.equal(record.session_id, sessionId);
    });
  },
);
