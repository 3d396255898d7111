/**
 * `deno task install` puts a `session-buddy` command on the PATH of a checkout's user:
 * Deno's own global install, with the `server` set's grants and the runtime flags of
 * `deno task start`. Here it installs into a temporary DENO_INSTALL_ROOT, and the command
 * it made serves MCP and runs the operator commands as docs/commands.md shows them.
 */
import assert from "node:assert/strict";
import {
  CONFIG,
  DENO_DIR,
  ROOT,
  runProgram,
  runtimeEnv,
  startArgs,
  startServer,
  tempDir,
} from "../helpers/server.ts";

const VERSION: string = JSON.parse(await Deno.readTextFile(CONFIG)).version;

Deno.test("deno task install: a session-buddy command that serves and reads the store", async (t) => {
  const { dir, cleanup } = await tempDir();
  const bin = `${dir}/root/bin/session-buddy`;
  const env = { HOME: dir, DENO_DIR, ...runtimeEnv() };
  try {
    const installed = await new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", "install"],
      cwd: ROOT,
      clearEnv: true,
      env: { ...env, DENO_INSTALL_ROOT: `${dir}/root` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(installed.code, 0, new TextDecoder().decode(installed.stderr));

    await t.step("the command runs Deno quietly, with the server set's grants", async () => {
      const script = await Deno.readTextFile(bin);
      assert.match(script, /--quiet/);
      assert.match(script, /--allow-env='?SESSION_BUDDY_\*,HOME,XDG_DATA_HOME,NO_COLOR/);
      assert.match(script, /--deny-run/);
      assert.match(script, /main\.ts/);
    });

    const command = (args: string[]) => ({ command: bin, args });
    await t.step("session-buddy --version", async () => {
      const out = await runProgram([], env, "", command(["--version"]));
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout.trim(), `session-buddy ${VERSION}`);
    });

    await t.step("a store that cannot be opened: one line, exit 1", async () => {
      const out = await runProgram([], env, "", command(["--db", "/nonexistent-folder/s.kv"]));
      assert.equal(out.code, 1);
      assert.equal(out.stderr.trim().split("\n").length, 1, out.stderr);
    });

    const db = `${dir}/s.kv`;
    await t.step("an MCP client tracks a session through it", async () => {
      const server = await startServer({
        command: command([]),
        env: { ...env, SESSION_BUDDY_DB: db },
      });
      try {
        const result = await server.call("track_session_start", startArgs());
        assert.equal(result.status, "tracked", JSON.stringify(result));
      } finally {
        await server.close();
      }
    });

    await t.step("session-buddy sessions --json lists it", async () => {
      const out = await runProgram([], env, "", command(["sessions", "--db", db, "--json"]));
      assert.equal(out.code, 0, out.stderr);
      const listed = out.stdout.trim().split("\n").map((line) => JSON.parse(line));
      assert.equal(listed.length, 1);
      assert.equal(listed[0].component_name, "mahavishnu");
    });
  } finally {
    await cleanup();
  }
});
