/**
 * docs/forwarding.md runs as written: the token line on a collector, the host's `forward
 * --collector` line (run until SIGTERM), `forward --to-db ... --once`, the failure line of
 * `--once` and the rows of `forward --status`. Each `sh` line runs through `sh` with a
 * `session-buddy` command on PATH that runs this checkout (or SESSION_BUDDY_BIN). What a
 * test machine cannot have is replaced where it happens: the collector's URL
 * (collector.example.com:8443 is a loopback collector on a free port) and the host's store
 * (/var/lib/session-buddy is a temporary folder).
 */
import assert from "node:assert/strict";
import { fenced, readPage, section } from "../helpers/readme_store.ts";
import { freePort, startHttpServer } from "../helpers/http.ts";
import {
  compiledBinary,
  DENO_DIR,
  programCommand,
  runtimeEnv,
  SECRET,
  startArgs,
  startServer,
  tempDir,
} from "../helpers/server.ts";

const PAGE = await readPage("docs/forwarding.md");

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** A shell environment whose PATH starts with a `session-buddy` that runs this checkout. */
async function shellEnv(dir: string, extra: Record<string, string>) {
  const bin = `${dir}/bin`;
  await Deno.mkdir(bin, { recursive: true });
  const binary = compiledBinary();
  const command = binary ? [binary] : [programCommand().command, ...programCommand().args];
  await Deno.writeTextFile(
    `${bin}/session-buddy`,
    `#!/bin/sh\nexec ${command.map(quote).join(" ")} "$@"\n`,
    { mode: 0o755 },
  );
  return {
    ...runtimeEnv(),
    PATH: `${bin}:${Deno.env.get("PATH") ?? ""}`,
    HOME: dir,
    DENO_DIR,
    NO_COLOR: "1",
    ...extra,
  };
}

async function sh(script: string, env: Record<string, string>, cwd: string) {
  const out = await new Deno.Command("sh", { args: ["-ec", script], env, cwd, clearEnv: true })
    .output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** The lines of a section's `sh` blocks that start with `prefix` (exactly one). */
function shLine(title: string, prefix: string): string {
  const found = fenced(section(PAGE, title), "sh").flatMap((b) => b.split("\n"))
    .filter((l) => l.startsWith(prefix));
  assert.equal(found.length, 1, `one line "${prefix}..." in "${title}"`);
  return found[0]!;
}

Deno.test("docs/forwarding.md: set up, forward to a collector until SIGTERM, --to-db --once, --status", async () => {
  const { dir, cleanup } = await tempDir();
  const port = freePort();
  const collector = await startHttpServer({
    env: { HOME: dir, SESSION_BUDDY_DB: `${dir}/fleet-collector.kv`, SESSION_BUDDY_SECRET: SECRET },
    port,
  });
  try {
    const env = await shellEnv(dir, {});
    // On the collector: the token line, with the collector's secret.
    const tokenLine = shLine("Set up", "session-buddy token ");
    const minted = await sh(tokenLine, { ...env, SESSION_BUDDY_SECRET: SECRET }, dir);
    assert.equal(minted.code, 0, minted.stderr);
    assert.match(await Deno.readTextFile(`${dir}/forward-token`), /^ey[\w-]+\.[\w-]+\.[\w-]+\n$/);

    // On the host: its store, then the forward line, left running.
    const hostDb = shLine("Set up", "export SESSION_BUDDY_DB=")
      .replace("/var/lib/session-buddy", dir);
    const store = hostDb.split("=")[1]!;
    const forwardLine = shLine("Set up", "session-buddy forward --collector ")
      .replace("https://collector.example.com:8443", `http://127.0.0.1:${port}`);
    const host = { HOME: dir, SESSION_BUDDY_DB: store };
    const shell = startArgs({ hostname: "host-b" });
    const local = await startServer({ env: host });
    try {
      assert.equal((await local.call("track_session_start", shell)).status, "tracked");
    } finally {
      await local.close();
    }
    const forwarder = new Deno.Command("sh", {
      args: ["-ec", `${hostDb}\nexec ${forwardLine}`],
      env,
      cwd: dir,
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    await forwarder.stdin.close();
    const errText = new Response(forwarder.stderr).text();
    void forwarder.stdout.cancel();
    let arrived = false;
    for (let i = 0; i < 150 && !arrived; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const out = await sh(
        "session-buddy sessions list --json --status all",
        { ...env, SESSION_BUDDY_DB: `${dir}/fleet-collector.kv` },
        dir,
      );
      arrived = out.stdout.includes(shell.event_id as string);
    }
    try {
      forwarder.kill("SIGTERM");
    } catch { /* it ended by itself: its status and stderr say why */ }
    const status = await forwarder.status;
    const stderr = await errText;
    assert.ok(arrived, `the session reached the collector; forwarder: ${stderr}`);
    assert.equal(status.code, 0, stderr);
    assert.doesNotMatch(stderr, /eyJ/, "the token is in no log line");

    // --status as the page shows it: the same rows.
    const shown = fenced(section(PAGE, "What waits"), "text")[0]!;
    const statusOut = await sh(shLine("What waits", "session-buddy forward --status"), {
      ...env,
      SESSION_BUDDY_DB: store,
    }, dir);
    assert.equal(statusOut.code, 0, statusOut.stderr);
    const labels = (text: string) => text.trim().split("\n").map((l) => l.split(/ {2,}/)[0]);
    assert.deepEqual(labels(statusOut.stdout), labels(shown));
    assert.match(statusOut.stdout, /^waiting +0 sessions$/m);
    assert.match(statusOut.stdout, new RegExp(`^target +http://127\\.0\\.0\\.1:${port}/mcp$`, "m"));

    // --to-db ./fleet.kv --once, in the host's folder.
    const another = startArgs({ hostname: "host-b" });
    const again = await startServer({ env: host });
    try {
      assert.equal((await again.call("track_session_start", another)).status, "tracked");
    } finally {
      await again.close();
    }
    const toDb = await sh(shLine("Set up", "session-buddy forward --to-db "), {
      ...env,
      SESSION_BUDDY_DB: store,
    }, dir);
    assert.equal(toDb.code, 0, toDb.stderr);
    const fleet = await sh(
      "session-buddy sessions list --json --status all --db ./fleet.kv",
      env,
      dir,
    );
    assert.ok(fleet.stdout.includes(another.event_id as string), fleet.stdout);

    // The failure line of --once: a target that cannot be reached.
    const failure = fenced(section(PAGE, "Set up"), "text")[0]!.trim();
    const url = /cannot reach (\S+):/.exec(failure)![1]!;
    const third = await startServer({ env: host });
    try {
      await third.call("track_session_start", startArgs());
      await third.call("track_session_start", startArgs());
      await third.call("track_session_start", startArgs());
    } finally {
      await third.close();
    }
    const failed = await sh(`session-buddy forward --collector ${url} --once`, {
      ...env,
      SESSION_BUDDY_DB: store,
    }, dir);
    assert.equal(failed.code, 1);
    const pattern = failure.split("...").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*");
    assert.match(failed.stderr.trim().split("\n").at(-1)!, new RegExp(`^${pattern}$`));
  } finally {
    await collector.stop();
    await cleanup();
  }
});
