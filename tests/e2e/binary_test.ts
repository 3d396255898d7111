/** The compiled binary (SESSION_BUDDY_BIN) behaves as `deno task start` does. */
import assert from "node:assert/strict";
import {
  compiledBinary,
  CONFIG,
  endArgs,
  readRecord,
  runProgram,
  startArgs,
  startServer,
  tempDir,
} from "../helpers/server.ts";

const bin = compiledBinary();
const VERSION: string = JSON.parse(await Deno.readTextFile(CONFIG)).version;

if (bin === null) {
  Deno.test({
    name: "compiled binary (skipped: SESSION_BUDDY_BIN is not set)",
    ignore: true,
    fn() {},
  });
  console.log("skipped: SESSION_BUDDY_BIN is not set (no compiled binary)");
} else {
  const command = { command: bin, args: [] as string[] };

  Deno.test("binary: --version prints the version from deno.json", async () => {
    const out = await runProgram([], {}, "", { command: bin, args: ["--version"] });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout.trim(), `session-buddy ${VERSION}`);
  });

  Deno.test("binary: a start then an end round trip on a file store", async () => {
    const { dir, cleanup } = await tempDir();
    const db = `${dir}/s.kv`;
    const server = await startServer({ command, env: { SESSION_BUDDY_DB: db, HOME: dir } });
    try {
      const started = await server.call(
        "track_session_start",
        startArgs({ timestamp: "2026-02-06T12:34:56.789Z" }),
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
    }
    try {
      const record = await readRecord(db, "mahavishnu-20260206-123456");
      assert.equal(record?.status, "ended");
    } finally {
      await cleanup();
    }
  });
}
