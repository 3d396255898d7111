/**
 * Colour appears only on a terminal and never with NO_COLOR: this is why the shipped
 * permission set grants NO_COLOR. `script` gives the command a pseudo-terminal.
 */
import assert from "node:assert/strict";
import {
  DENO_DIR,
  endArgs,
  programCommand,
  runtimeEnv,
  startArgs,
  startServer,
  tempDir,
} from "../helpers/server.ts";

const hasScript = (() => {
  try {
    return new Deno.Command("script", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

async function onTerminal(args: string[], env: Record<string, string>): Promise<string> {
  const { command, args: rest } = programCommand(args);
  const line = [command, ...rest].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const out = await new Deno.Command("script", {
    args: ["-qec", line, "/dev/null"],
    env: { DENO_DIR, ...runtimeEnv(), ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout);
}

Deno.test({
  name: "sessions list colours statuses on a terminal, and not when NO_COLOR is set",
  ignore: !hasScript,
  async fn() {
    const { dir, cleanup } = await tempDir();
    const db = `${dir}/s.kv`;
    try {
      const server = await startServer({ env: { SESSION_BUDDY_DB: db } });
      try {
        const started = await server.call("track_session_start", startArgs());
        await server.call("track_session_end", endArgs(started.session_id as string));
      } finally {
        await server.close();
      }
      const coloured = await onTerminal(["sessions"], { SESSION_BUDDY_DB: db });
      assert.ok(coloured.includes("\x1b[2mended\x1b[0m"), coloured);
      const plain = await onTerminal(["sessions"], { SESSION_BUDDY_DB: db, NO_COLOR: "1" });
      assert.match(plain, /ended/);
      assert.ok(!plain.includes("\x1b["), "no escape codes with NO_COLOR");
    } finally {
      await cleanup();
    }
  },
});
