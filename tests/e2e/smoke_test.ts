import assert from "node:assert/strict";
import { endArgs, startArgs, startServer, tempDir } from "../helpers/server.ts";

Deno.test("a seed shell's start then end is tracked then ended", async () => {
  const { dir, cleanup } = await tempDir();
  const server = await startServer({ env: { SESSION_BUDDY_DB: `${dir}/s.kv`, HOME: dir } });
  try {
    const started = await server.call(
      "track_session_start",
      startArgs({
        timestamp: "2026-02-06T12:34:56.789Z",
      }),
    );
    assert.deepEqual(started, {
      session_id: "mahavishnu-20260206-123456",
      status: "tracked",
      error: null,
    });
    const ended = await server.call("track_session_end", endArgs("mahavishnu-20260206-123456"));
    assert.deepEqual(ended, {
      session_id: "mahavishnu-20260206-123456",
      status: "ended",
      error: null,
    });
  } finally {
    await server.close();
    await cleanup();
  }
});
