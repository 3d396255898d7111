/**
 * SPEC 5: log lines, the log file, and a stdout that carries MCP only, once per store
 * ("[kv] ...", "[postgres] ...").
 */
import assert from "node:assert/strict";
import {
  endArgs,
  initializeRequest,
  runProgram,
  startArgs,
  startServer,
} from "../helpers/server.ts";
import { poll, storeTest, withServer, withTestStore } from "../helpers/contract.ts";

const START_LINE =
  /INFO - Session start tracked: session_id=mahavishnu-20260206-123456, component=mahavishnu, shell_type=MahavishnuShell, pid=12345, status=tracked$/m;
const END_LINE =
  /INFO - Session end tracked: session_id=mahavishnu-20260206-123456, status=ended$/m;

async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "";
    throw error;
  }
}

const SEED_START = { timestamp: "2026-02-06T12:34:56.789Z", pid: 12345 };

storeTest(
  "the tracking lines reach the log file within a second and stderr carries them too",
  async (kind) => {
    await withServer(async ({ server, dir }) => {
      const log = `${dir}/log`;
      const started = await server.call("track_session_start", startArgs(SEED_START));
      assert.equal(started.session_id, "mahavishnu-20260206-123456");
      assert.ok(
        await poll(async () => START_LINE.test(await readText(log)), 1000),
        `start line not in the log file within 1 s:\n${await readText(log)}`,
      );
      const ended = await server.call("track_session_end", endArgs("mahavishnu-20260206-123456"));
      assert.equal(ended.status, "ended");
      assert.ok(
        await poll(async () => END_LINE.test(await readText(log)), 1000),
        `end line not in the log file within 1 s:\n${await readText(log)}`,
      );
      assert.ok(
        await poll(() => START_LINE.test(server.stderr()) && END_LINE.test(server.stderr())),
      );
      // The seed's documented grep finds exactly the two lines.
      const grepped = (await readText(log)).split("\n").filter((l) =>
        l.includes("Session start tracked") || l.includes("Session end tracked")
      );
      assert.equal(grepped.length, 2, grepped.join("\n"));
    }, { store: kind, env: (dir) => ({ SESSION_BUDDY_LOG_FILE: `${dir}/log` }) });
  },
);

storeTest("an existing log file is appended to, never truncated", async (kind) => {
  await withTestStore(kind, async (store, dir) => {
    const log = `${dir}/log`;
    const env = { ...store.env, HOME: dir, SESSION_BUDDY_LOG_FILE: log };
    await Deno.writeTextFile(log, "an earlier line written by someone else\n");
    for (const timestamp of ["2026-02-06T12:34:56Z", "2026-02-06T12:34:57Z"]) {
      const server = await startServer({ env });
      try {
        const result = await server.call("track_session_start", startArgs({ timestamp }));
        assert.equal(result.status, "tracked");
        const id = String(result.session_id);
        assert.ok(await poll(async () => (await readText(log)).includes(`session_id=${id},`)));
      } finally {
        await server.close();
      }
    }
    const text = await readText(log);
    assert.ok(text.startsWith("an earlier line written by someone else\n"), text);
    assert.match(text, /Session start tracked: session_id=mahavishnu-20260206-123456,/);
    assert.match(text, /Session start tracked: session_id=mahavishnu-20260206-123457,/);
  });
});

storeTest("validation failures log a WARNING line with the reason", async (kind) => {
  await withServer(async ({ server, dir }) => {
    const log = `${dir}/log`;
    const start = await server.call("track_session_start", startArgs({ event_id: "abc" }));
    assert.equal(start.status, "error");
    const end = await server.call("track_session_end", endArgs("x", { timestamp: "nope-ts" }));
    assert.equal(end.status, "error");
    const startWarn = /(WARNING|ERROR) - .*Invalid UUID v4 format: abc/;
    const endWarn = /(WARNING|ERROR) - .*Invalid ISO 8601 timestamp: nope-ts/;
    // The file and the stderr pipe are two ways out: each is waited for on its own.
    assert.ok(
      await poll(async () => {
        const text = await readText(log);
        return startWarn.test(text) && endWarn.test(text);
      }),
      `log file:\n${await readText(log)}`,
    );
    await poll(() =>
      Promise.resolve(startWarn.test(server.stderr()) && endWarn.test(server.stderr()))
    );
    assert.match(server.stderr(), startWarn);
    assert.match(server.stderr(), endWarn);
  }, { store: kind, env: (dir) => ({ SESSION_BUDDY_LOG_FILE: `${dir}/log` }) });
});

for (
  const [how, options] of [
    ["--log-level warning", { args: ["--log-level", "warning"] }],
    ["SESSION_BUDDY_LOG_LEVEL=warning", { env: { SESSION_BUDDY_LOG_LEVEL: "warning" } }],
  ] as const
) {
  storeTest(`${how} hides INFO lines`, async (kind) => {
    await withServer(async ({ server, dir }) => {
      const log = `${dir}/log`;
      assert.equal(
        (await server.call("track_session_start", startArgs(SEED_START))).status,
        "tracked",
      );
      assert.equal(
        (await server.call("track_session_end", endArgs("mahavishnu-20260206-123456"))).status,
        "ended",
      );
      // A later failure must show up; anything logged before it would be there by then.
      await server.call("track_session_start", startArgs({ event_id: "later-marker" }));
      const marker = /WARNING - .*later-marker/;
      assert.ok(await poll(async () => marker.test(await readText(log))), await readText(log));
      assert.ok(await poll(() => marker.test(server.stderr())), server.stderr());
      assert.doesNotMatch(server.stderr(), /\bINFO\b/);
      assert.doesNotMatch(await readText(log), /\bINFO\b/);
    }, {
      store: kind,
      args: "args" in options ? [...options.args] : undefined,
      env: (dir) => ({
        SESSION_BUDDY_LOG_FILE: `${dir}/log`,
        ...("env" in options ? options.env : {}),
      }),
    });
  });
}

storeTest("stdout carries nothing but JSON-RPC, even at debug level", async (kind) => {
  await withTestStore(kind, async (store, dir) => {
    // Requests on one stdin may be served concurrently, so the session ended here was
    // started by an earlier server on the same store.
    const earlier = await startServer({ env: { ...store.env, HOME: dir } });
    try {
      const result = await earlier.call(
        "track_session_start",
        startArgs({ timestamp: "2026-02-06T08:00:00Z" }),
      );
      assert.equal(result.session_id, "mahavishnu-20260206-080000");
    } finally {
      await earlier.close();
    }
    const lines = [
      initializeRequest("raw"),
      { jsonrpc: "2.0", method: "notifications/initialized" },
      {
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name: "track_session_start", arguments: startArgs(SEED_START) },
      },
      {
        jsonrpc: "2.0",
        id: 3,
        method: "tools/call",
        params: { name: "track_session_end", arguments: endArgs("mahavishnu-20260206-080000") },
      },
    ].map((m) => JSON.stringify(m));
    const stdin = [...lines, "this is { not json"].join("\n") + "\n";
    const out = await runProgram(
      [],
      {
        ...store.env,
        HOME: dir,
        SESSION_BUDDY_LOG_LEVEL: "debug",
        SESSION_BUDDY_LOG_FILE: `${dir}/log`,
      },
      stdin,
    );
    const stdoutLines = out.stdout.split("\n").filter((l) => l.trim() !== "");
    assert.ok(stdoutLines.length > 0, `no stdout; stderr:\n${out.stderr}`);
    const messages = stdoutLines.map((line) => {
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(line);
      } catch {
        assert.fail(`stdout line is not JSON: ${line}`);
      }
      assert.equal(message.jsonrpc, "2.0", line);
      return message;
    });
    const byId = new Map(messages.map((m) => [m.id, m]));
    for (const id of [1, 2, 3]) {
      assert.ok(byId.has(id), `no response to request ${id}:\n${out.stdout}`);
    }
    const result = (id: number) =>
      (byId.get(id)?.result as Record<string, unknown> | undefined)?.structuredContent;
    assert.deepEqual(result(2), {
      session_id: "mahavishnu-20260206-123456",
      status: "tracked",
      error: null,
    });
    assert.deepEqual(result(3), {
      session_id: "mahavishnu-20260206-080000",
      status: "ended",
      error: null,
    });
    // The log lines went to stderr instead.
    assert.match(out.stderr, START_LINE);
    assert.match(
      out.stderr,
      /INFO - Session end tracked: session_id=mahavishnu-20260206-080000, status=ended$/m,
    );
    assert.doesNotMatch(out.stdout, /Session start tracked/);
  });
});

storeTest(
  "the log file is created readable and writable by its owner only (0600)",
  async (kind) => {
    await withServer(async ({ server, dir }) => {
      const log = `${dir}/log`;
      await server.call("track_session_start", startArgs(SEED_START));
      assert.ok(await poll(async () => START_LINE.test(await readText(log))));
      const info = await Deno.stat(log);
      assert.equal((info.mode ?? 0) & 0o777, 0o600, `mode ${(info.mode ?? 0).toString(8)}`);
    }, { store: kind, env: (dir) => ({ SESSION_BUDDY_LOG_FILE: `${dir}/log` }) });
  },
);
