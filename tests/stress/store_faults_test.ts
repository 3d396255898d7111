/**
 * Store faults (SPEC 2): a store whose folder is missing or not writable, or whose file
 * is garbage, stops the server at start with one clear line and exit status 1, having
 * answered nothing and changed nothing. A store that becomes unwritable while serving
 * gives each tracking call an error result, and nothing is reported tracked that was not
 * stored.
 */
import assert from "node:assert/strict";
import { endArgs, initializeRequest, runProgram, startArgs, tempDir } from "../helpers/server.ts";
import { figure, RawServer } from "./raw.ts";

/** The non-empty stderr lines (the runtime runs with --quiet: every one is the program's). */
function ourLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.trim() !== "");
}

const request = JSON.stringify(initializeRequest("t")) + "\n" + JSON.stringify({
  jsonrpc: "2.0",
  id: 2,
  method: "tools/call",
  params: { name: "track_session_start", arguments: startArgs() },
}) + "\n";

async function expectRefusedAtStart(db: string, home: string, what: string) {
  const out = await runProgram([], { SESSION_BUDDY_DB: db, HOME: home }, request);
  const lines = ourLines(out.stderr);
  assert.equal(out.code, 1, `${what}: exit status\n${out.stderr}`);
  assert.equal(lines.length, 1, `${what}: one line on stderr, got:\n${out.stderr}`);
  assert.match(lines[0]!, /^session-buddy: cannot open store /, what);
  assert.doesNotMatch(out.stderr, /^\s+at /m, `${what}: no stack trace`);
  assert.equal(out.stdout, "", `${what}: nothing answered`);
  return lines[0]!;
}

/**
 * Whether this process can write into a folder whose mode says it cannot: true for root
 * (uid 0 passes permission checks), found by trying rather than by Deno.uid(), which
 * needs a permission the test set does not grant.
 */
async function privileged(dir: string): Promise<boolean> {
  const probe = `${dir}/ro-probe`;
  await Deno.mkdir(probe, { mode: 0o500 });
  await Deno.chmod(probe, 0o500);
  try {
    await Deno.writeTextFile(`${probe}/x`, "x");
    return true;
  } catch {
    return false;
  } finally {
    await Deno.chmod(probe, 0o700);
    await Deno.remove(probe, { recursive: true });
  }
}

Deno.test("a store in a missing folder: one line, exit 1, nothing created", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const line = await expectRefusedAtStart(`${dir}/missing/s.kv`, dir, "missing folder");
    assert.ok(!line.includes("\n"));
    await assert.rejects(Deno.stat(`${dir}/missing`));
  } finally {
    await cleanup();
  }
});

Deno.test("a store in a folder that cannot be written: one line, exit 1, no session", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    if (await privileged(dir)) {
      // Running as root: a read-only mode does not stop root, so the folder is a regular
      // FILE instead (<file>/s.kv), which fails with ENOTDIR for anyone.
      await Deno.writeTextFile(`${dir}/not-a-folder`, "plain file\n");
      await expectRefusedAtStart(`${dir}/not-a-folder/s.kv`, dir, "folder is a file (root)");
      assert.equal(await Deno.readTextFile(`${dir}/not-a-folder`), "plain file\n");
    } else {
      await Deno.mkdir(`${dir}/ro`, { mode: 0o500 });
      await Deno.chmod(`${dir}/ro`, 0o500);
      try {
        await expectRefusedAtStart(`${dir}/ro/s.kv`, dir, "read-only folder");
        assert.deepEqual([...Deno.readDirSync(`${dir}/ro`)], []);
      } finally {
        await Deno.chmod(`${dir}/ro`, 0o700);
      }
    }
  } finally {
    await cleanup();
  }
});

Deno.test("a store file full of garbage: one line, exit 1, the file untouched", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    for (
      const [name, bytes] of [
        ["random", crypto.getRandomValues(new Uint8Array(64 * 1024))],
        ["text", new TextEncoder().encode("this is not a database\n".repeat(500))],
        [
          "sqlite header, garbage after",
          new Uint8Array([
            ...new TextEncoder().encode("SQLite format 3\u0000"),
            ...crypto.getRandomValues(new Uint8Array(8192)),
          ]),
        ],
      ] as const
    ) {
      const db = `${dir}/garbage.kv`;
      await Deno.writeFile(db, bytes);
      await expectRefusedAtStart(db, dir, `garbage store (${name})`);
      assert.deepEqual(await Deno.readFile(db), bytes, `${name}: the file is as it was`);
      const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n !== "garbage.kv");
      for (const f of files) await Deno.remove(`${dir}/${f}`);
    }
  } finally {
    await cleanup();
  }
});

Deno.test("a store that becomes unwritable while serving: error results, nothing claimed that was not stored", async () => {
  const { dir, cleanup } = await tempDir();
  const db = `${dir}/s.kv`;
  const env = { SESSION_BUDDY_DB: db, HOME: dir };
  // chmod does not stop root; a file size limit (RLIMIT_FSIZE, via prlimit) does, for
  // anyone: once the store's write-ahead log reaches it, every write fails (EFBIG). The
  // shell ignores SIGXFSZ first, so the failed write is an error, not a killed process.
  const hasPrlimit = await new Deno.Command("prlimit", {
    args: ["--version"],
    stdout: "null",
    stderr: "null",
  })
    .output().then((o) => o.success).catch(() => false);
  if (!hasPrlimit) {
    console.log("prlimit (util-linux) is not installed: cannot make the store unwritable; skipped");
    await cleanup();
    return;
  }
  const server = await RawServer.start({
    env,
    wrap: (command, args) => ({
      command: "prlimit",
      args: ["--fsize=400000", "sh", "-c", 'trap "" XFSZ; exec "$0" "$@"', command, ...args],
    }),
  });
  const tracked: string[] = [];
  const ended: string[] = [];
  let errors = 0;
  let firstError = -1;
  try {
    for (let i = 0; i < 80; i++) {
      // 15 KiB of metadata per start fills the log quickly.
      const start = await server.call(
        "track_session_start",
        startArgs({ metadata: { pad: "x".repeat(15_000) }, pid: i + 1 }),
      );
      if (start.status === "tracked") {
        assert.equal(firstError, -1, "no start is tracked once the store refused writes");
        tracked.push(String(start.session_id));
      } else {
        assert.equal(start.status, "error");
        assert.equal(start.session_id, null);
        assert.match(String(start.error), /^Session start tracking failed: store /);
        errors++;
        if (firstError === -1) firstError = i;
      }
      if (firstError !== -1 && tracked.length > 0) {
        const id = tracked[i % tracked.length]!;
        const end = await server.call(
          "track_session_end",
          endArgs(id, { metadata: { pad: "y".repeat(15_000) } }),
        );
        if (end.status === "ended") ended.push(id);
        else {
          assert.equal(end.status, "error", JSON.stringify(end));
          assert.match(String(end.error), /^Session end tracking failed: store /);
          errors++;
        }
        const beat = await server.call("track_session_heartbeat", {
          session_id: id,
          timestamp: new Date().toISOString(),
        });
        assert.ok(["error", "alive"].includes(String(beat.status)), JSON.stringify(beat));
        if (beat.status === "error") errors++;
      }
    }
    assert.ok(
      firstError > 0,
      `the store filled up after some starts (first error at ${firstError})`,
    );
    assert.deepEqual((await server.request("ping")).result, {}, "still serving");
    assert.deepEqual(server.violations, []);
  } finally {
    await server.close();
  }
  try {
    // Reopened without the limit: exactly what was reported tracked (and ended) is there.
    const kv = await Deno.openKv(db);
    const stored = new Map<string, Record<string, unknown>>();
    try {
      for await (const e of kv.list<Uint8Array>({ prefix: ["session"] })) {
        stored.set(String(e.key[1]), JSON.parse(new TextDecoder().decode(e.value)));
      }
    } finally {
      kv.close();
    }
    assert.deepEqual([...stored.keys()].sort(), [...tracked].sort());
    for (const id of ended) assert.equal(stored.get(id)?.status, "ended", id);
    figure("store_faults", {
      unwritable_after_starts: firstError,
      tracked: tracked.length,
      ended_before_full: ended.length,
      error_results: errors,
      stored: stored.size,
    });
  } finally {
    await cleanup();
  }
});
