/**
 * SPEC 2 on a newcomer's machine: with an empty Deno cache the runtime downloads the
 * product's packages on the first run, and says nothing of it (or of anything else) on
 * stderr, because every place that runs the program passes `--quiet`. Each case gets a
 * fresh, empty DENO_DIR and HOME of its own, so each is a first run.
 */
import assert from "node:assert/strict";
import { runProgram, startServer, tempDir } from "../helpers/server.ts";

/** A line the program itself writes: a log line, or the one line of a failed start. */
const OWN_LINE =
  /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) - |session-buddy: )/;

function lines(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line.trim() !== "");
}

/** Runs `fn` with a fresh empty Deno cache and home folder, removed afterwards. */
async function coldly<T>(fn: (env: Record<string, string>) => Promise<T>): Promise<T> {
  const { dir, cleanup } = await tempDir();
  try {
    return await fn({ DENO_DIR: `${dir}/deno`, HOME: dir });
  } finally {
    await cleanup();
  }
}

Deno.test("on an empty Deno cache: one line for each failure at start, only our lines when serving", async (t) => {
  // The three first runs download the same packages; they run side by side.
  const [usage, store, offline, serving] = await Promise.all([
    coldly((env) => runProgram(["--log-level", "loud"], env)),
    coldly((env) => runProgram(["--db", "/nonexistent-folder/s.kv"], env)),
    // A first run that cannot reach the package registry (port 9 refuses at once).
    coldly((env) =>
      runProgram(["--db", ":memory:"], { ...env, NPM_CONFIG_REGISTRY: "http://127.0.0.1:9/" })
    ),
    coldly(async (env) => {
      const server = await startServer({ env: { ...env, SESSION_BUDDY_DB: `${env.HOME}/s.kv` } });
      try {
        const version = server.client.getServerVersion();
        const tools = await server.client.listTools();
        return { version, tools: tools.tools.length, stderr: server.stderr() };
      } finally {
        await server.close();
      }
    }),
  ]);

  await t.step("a usage error: exit 2 and exactly one line", () => {
    assert.equal(usage.code, 2, usage.stderr);
    assert.deepEqual(lines(usage.stderr).length, 1, usage.stderr);
    assert.match(usage.stderr, /^session-buddy: invalid log level 'loud'/);
  });

  await t.step("a store that cannot be opened: exit 1 and exactly one line", () => {
    assert.equal(store.code, 1, store.stderr);
    assert.deepEqual(lines(store.stderr).length, 1, store.stderr);
    assert.match(store.stderr, /^session-buddy: cannot open store \/nonexistent-folder\/s\.kv/);
  });

  await t.step("a first run without the registry: exit 1 and exactly one line", () => {
    assert.equal(offline.code, 1, offline.stderr);
    assert.deepEqual(lines(offline.stderr).length, 1, offline.stderr);
    assert.match(offline.stderr, /^session-buddy: cannot load the server: /);
  });

  await t.step("initialize is answered, and stderr holds only the program's own lines", () => {
    assert.equal(serving.version?.name, "session-buddy");
    assert.equal(serving.tools, 8);
    const all = lines(serving.stderr);
    assert.ok(all.length > 0, "the server logged its start");
    for (const line of all) assert.match(line, OWN_LINE);
  });
});
