/**
 * The stdio examples of docs/ run as written: the PyJWT snippet (docs/security.md), the store
 * folder command, the MCP client configurations, the Inspector commands and the Python SDK's
 * stdio client (docs/clients.md), and every `console` block of docs/commands.md, whose output
 * is compared with the program's line by line. Times, dates in ids and
 * the running durations of active sessions depend on when the test runs and are compared by
 * shape; every figure that does not (counts, durations of ended sessions, statuses, users,
 * hosts, the stats JSON) is compared exactly.
 *
 * To see what the examples print today (to update docs/commands.md), run this file with
 * SESSION_BUDDY_README_PRINT=1: the operator examples' real output goes to stdout.
 */
import assert from "node:assert/strict";
import { createVerifier } from "../../src/auth/verify.ts";
import { fenced, readPage, trackReadmeSessions } from "../helpers/readme_store.ts";
import {
  compiledBinary,
  DENO_DIR,
  endArgs,
  mintToken,
  programCommand,
  ROOT,
  runProgram,
  RUNTIME_FLAGS,
  runtimeEnv,
  SECRET,
  spawnPiped,
  startArgs,
  startServer,
  tempDir,
} from "../helpers/server.ts";

const SECURITY = await readPage("docs/security.md");
const CLIENTS = await readPage("docs/clients.md");
const COMMANDS = await readPage("docs/commands.md");
const CHECKOUT = "/path/to/session-buddy/";
const PRINT = Deno.env.get("SESSION_BUDDY_README_PRINT") === "1";
const IN_CI = Deno.env.get("CI") === "true";

/** The fenced code blocks of `lang` of a page, in order. */
function blocks(page: { text: string }, lang: string): string[] {
  return fenced(page.text, lang);
}

function only(found: string[], what: string): string {
  assert.equal(found.length, 1, `the page has one ${what}`);
  return found[0]!;
}

/** A tool this machine lacks: fails in CI (which installs it), says plainly that it skipped elsewhere. */
function skipped(what: string): void {
  if (IN_CI) assert.fail(`${what} (CI must have it)`);
  console.log(`skipped: ${what}`);
}

async function run(
  command: string,
  args: string[],
  env: Record<string, string> = {},
  cwd?: string,
) {
  try {
    const out = await new Deno.Command(command, {
      args,
      env,
      cwd,
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

Deno.test("docs/security.md: the PyJWT snippet mints a token session-buddy accepts", async () => {
  const snippet = only(
    blocks(SECURITY, "python").filter((b) => b.includes("jwt.encode(")),
    "PyJWT snippet",
  );
  // The python3 on PATH may lack PyJWT where Debian's has it (python3-jwt).
  let python: string | null = null;
  for (const candidate of ["python3", "/usr/bin/python3"]) {
    const probe = await run(candidate, ["-c", "import jwt"]);
    if (probe?.code === 0) {
      python = candidate;
      break;
    }
  }
  if (!python) {
    return skipped("no python3 with PyJWT (pip install pyjwt, or apt install python3-jwt)");
  }
  const out = await run(python, ["-c", snippet], { SESSION_BUDDY_SECRET: SECRET });
  assert.ok(out, python);
  assert.equal(out.code, 0, out.stderr);
  const verdict = await createVerifier(SECRET)(out.stdout.trim());
  assert.deepEqual(verdict, { ok: true, trackedBy: "admin-shell" });
});

Deno.test("docs/clients.md: the store folder command makes a folder only its owner can use", async () => {
  const command = only(
    blocks(CLIENTS, "sh").flatMap((b) => b.split("\n")).filter((l) => l.includes("install -d")),
    "store folder command",
  );
  const { dir, cleanup } = await tempDir();
  try {
    const target = `${dir}/var/lib/session-buddy`;
    let line = command.replace("/var/lib/session-buddy", target);
    const uid = Number((await run("id", ["-u"]))?.stdout.trim());
    // As root, sudo adds nothing (and may be missing); the command is otherwise as written.
    if (uid === 0) line = line.replace(/^sudo /, "");
    await Deno.mkdir(`${dir}/var/lib`, { recursive: true });
    const out = await run("sh", ["-c", line], { PATH: Deno.env.get("PATH") ?? "" });
    assert.equal(out?.code, 0, out?.stderr);
    const info = await Deno.stat(target);
    assert.ok(info.isDirectory);
    assert.equal(info.mode! & 0o777, 0o700);
    assert.equal(info.uid, uid);
  } finally {
    await cleanup();
  }
});

interface ClientConfig {
  command: string;
  args?: string[];
  env: Record<string, string>;
}

function clientConfigs(): ClientConfig[] {
  // The stdio ones: the collector's client configuration (a URL) is readme_http_test.ts's.
  return blocks(CLIENTS, "json").filter((b) => b.includes('"mcpServers"')).map((b) =>
    JSON.parse(b).mcpServers["session-buddy"]
  ).filter((config) => typeof config.command === "string");
}

Deno.test("docs/clients.md: the MCP client configurations start the server as deno task start does", async (t) => {
  const configs = clientConfigs();
  assert.equal(configs.length, 2, "one for the binary, one for a checkout");
  const [binary, checkout] = configs as [ClientConfig, ClientConfig];

  await t.step("the checkout's args are start's runtime flags, the config and main.ts", () => {
    assert.equal(checkout.command, "deno");
    assert.deepEqual(checkout.args, [
      "run",
      ...RUNTIME_FLAGS,
      "--config",
      `${CHECKOUT}deno.json`,
      `${CHECKOUT}main.ts`,
    ]);
  });

  const serveWith = async (command: string, args: string[], env: Record<string, string>) => {
    const { dir, cleanup } = await tempDir();
    try {
      const configured = {
        ...env,
        SESSION_BUDDY_SECRET: SECRET,
        SESSION_BUDDY_DB: env.SESSION_BUDDY_DB!.replace("/var/lib/session-buddy", dir),
        HOME: dir,
      };
      const server = await startServer({ command: { command, args }, env: configured });
      try {
        const listed = await server.client.listTools();
        assert.equal(listed.tools.length, 8);
        const started = await server.call(
          "track_session_start",
          startArgs({ token: await mintToken() }),
        );
        assert.equal(started.status, "tracked", JSON.stringify(started));
        for (const line of server.stderr().split("\n").filter((l) => l.trim() !== "")) {
          assert.match(line, /^\d{4}-\d\d-\d\dT[\d:.]+Z (INFO|WARNING) - /, "only our log lines");
        }
      } finally {
        await server.close();
      }
    } finally {
      await cleanup();
    }
  };

  await t.step("the checkout's configuration serves, with the paths of this checkout", async () => {
    const args = checkout.args!.map((a) => a.replace(CHECKOUT, ROOT));
    await serveWith(Deno.execPath(), args, checkout.env);
  });

  await t.step("the binary's configuration serves (with SESSION_BUDDY_BIN)", async () => {
    assert.equal(binary.command, "/usr/local/bin/session-buddy");
    const bin = compiledBinary();
    if (!bin) return console.log("skipped: SESSION_BUDDY_BIN is not set (no compiled binary)");
    await serveWith(bin, [], binary.env);
  });
});

Deno.test("docs/clients.md: the Inspector CLI examples run as written", async () => {
  const lines = blocks(CLIENTS, "sh").flatMap((b) => b.split("\n"))
    .filter((l) =>
      l.startsWith("npx -y @modelcontextprotocol/inspector") && !l.includes("--cli http")
    );
  assert.equal(lines.length, 2, "tools/list and tools/call");
  if (!(await run("npx", ["--version"]))) return skipped("npx is not installed");
  const { dir, cleanup } = await tempDir();
  try {
    for (const line of lines) {
      const args = line.replaceAll(CHECKOUT, ROOT).replaceAll("/tmp/try.kv", `${dir}/try.kv`)
        .split(" ");
      // npx keeps its download in the npm cache of the real HOME.
      const home = Deno.env.get("HOME") ?? dir;
      const out = await run(args[0]!, args.slice(1), { ...runtimeEnv(), HOME: home });
      assert.ok(out);
      assert.equal(out.code, 0, `${line}\n${out.stderr}`);
      const answer = JSON.parse(out.stdout.slice(out.stdout.indexOf("{")));
      if (line.includes("tools/list")) {
        assert.deepEqual(answer.tools.map((tool: { name: string }) => tool.name).sort(), [
          "get_session",
          "import_history",
          "import_sessions",
          "list_sessions",
          "session_stats",
          "track_session_end",
          "track_session_heartbeat",
          "track_session_start",
        ]);
      } else {
        assert.deepEqual(answer.structuredContent, {
          status: "ok",
          sessions: [],
          next_cursor: null,
          error: null,
        });
      }
    }
  } finally {
    await cleanup();
  }
});

/** The Python of the environment tests/e2e/python_sdk_test.ts makes (mcp 2.3), if it is there. */
async function pythonWithSdk(): Promise<string | null> {
  const home = Deno.env.get("HOME") ?? "/";
  const cache = Deno.env.get("XDG_CACHE_HOME") || `${home}/.cache`;
  const venv = Deno.env.get("SESSION_BUDDY_TEST_PY_VENV") ||
    `${cache}/session-buddy/python-mcp-2.3`;
  const python = `${venv}/bin/python`;
  const probe = await run(python, ["-c", "import mcp"]);
  return probe?.code === 0 ? python : null;
}

Deno.test("docs/clients.md: the Python SDK's stdio client passes the secret file and store in env=", async (t) => {
  const source = only(
    blocks(CLIENTS, "python").filter((b) => b.includes("StdioServerParameters(")),
    "Python SDK stdio example",
  );
  for (
    const path of [
      "/usr/local/bin/session-buddy",
      "/etc/session-buddy/secret",
      "/var/lib/session-buddy/sessions.kv",
    ]
  ) assert.ok(source.includes(`"${path}"`), path);
  const python = await pythonWithSdk();
  // python_sdk_test.ts makes the environment (or says why it cannot); this test only uses it.
  if (!python) {
    return console.log("skipped: no Python environment with mcp 2.3 (see python_sdk_test)");
  }
  const { dir, cleanup } = await tempDir();
  try {
    // What stands for the binary: this checkout, run as deno task start runs it. The SDK
    // passes the server no DENO_DIR, so the stand-in names the cache itself.
    const program = programCommand();
    const shim = `${dir}/session-buddy`;
    const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
    await Deno.writeTextFile(
      shim,
      `#!/bin/sh\nDENO_DIR=${quote(DENO_DIR)} exec ${
        [program.command, ...program.args].map(quote).join(" ")
      } "$@"\n`,
      { mode: 0o755 },
    );
    await Deno.writeTextFile(`${dir}/secret`, `${SECRET}\n`, { mode: 0o600 });
    const script = source.replace("/usr/local/bin/session-buddy", shim)
      .replace("/etc/session-buddy/secret", `${dir}/secret`)
      .replace("/var/lib/session-buddy/sessions.kv", `${dir}/sessions.kv`);
    // Variables the SDK would not pass on, which the server must not need.
    const env = {
      ...runtimeEnv(),
      HOME: dir,
      SESSION_BUDDY_TOKEN: await mintToken(),
      SESSION_BUDDY_SECRET: "set-in-the-client-only-and-never-passed-on-0123456789",
    };

    await t.step("as written: the server gets its secret and store from env=", async () => {
      const out = await run(python, ["-c", script], env);
      assert.ok(out);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /'status': 'ok'/);
      assert.match(out.stdout, /'sessions': \[\]/);
      await Deno.stat(`${dir}/sessions.kv`);
    });

    await t.step(
      "a configuration that lost the secret fails at start (--require-auth)",
      async () => {
        const lost = script.replace(/^\s*"SESSION_BUDDY_SECRET_FILE": .*\n/m, "");
        assert.notEqual(lost, script);
        const out = await run(python, ["-c", lost], env);
        assert.ok(out);
        assert.notEqual(out.code, 0, out.stdout);
        assert.match(out.stderr, /authentication is required/);
      },
    );
  } finally {
    await cleanup();
  }
});

Deno.test("docs/install.md: deno task install says where the command went and how to reach it", async () => {
  const install = await readPage("docs/install.md");
  assert.match(
    install.text,
    /`deno task install` puts a `session-buddy` command in `~\/\.deno\/bin`/,
  );
  const { dir, cleanup } = await tempDir();
  try {
    const root = `${dir}/root`;
    const installWith = async (path: string) => {
      const out = await run(Deno.execPath(), ["task", "-q", "install"], {
        ...runtimeEnv(),
        HOME: dir,
        DENO_DIR,
        DENO_INSTALL_ROOT: root,
        PATH: path,
      }, ROOT);
      assert.ok(out);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stderr, "");
      return out.stdout.trimEnd().split("\n");
    };
    const path = Deno.env.get("PATH") ?? "/usr/bin:/bin";
    assert.deepEqual(await installWith(path), [
      `session-buddy is now ${root}/bin/session-buddy`,
      `${root}/bin is not on PATH: add export PATH="${root}/bin:$PATH" to ~/.profile and open a new shell`,
    ]);
    await Deno.stat(`${root}/bin/session-buddy`);
    assert.deepEqual(await installWith(`${root}/bin:${path}`), [
      `session-buddy is now ${root}/bin/session-buddy`,
    ]);
  } finally {
    await cleanup();
  }
});

Deno.test("docs/security.md: each secret command prints a secret session-buddy starts with", async () => {
  const [secrets, token] = blocks(SECURITY, "sh") as [string, string];
  const lines = secrets.trim().split("\n").map((l) => l.replace(/\s+#.*$/, ""));
  assert.equal(lines.length, 3);
  const { dir, cleanup } = await tempDir();
  try {
    // `session-buddy` is this checkout, as deno task start runs it.
    const program = programCommand();
    const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
    await Deno.writeTextFile(
      `${dir}/session-buddy`,
      `#!/bin/sh\nexec ${[program.command, ...program.args].map(quote).join(" ")} "$@"\n`,
      { mode: 0o755 },
    );
    const env = { PATH: `${dir}:${Deno.env.get("PATH") ?? ""}`, DENO_DIR, HOME: dir };
    for (const line of lines) {
      if (line.startsWith("python3") && !(await run("python3", ["--version"]))) {
        skipped("python3 is not installed");
        continue;
      }
      const out = await run("sh", ["-c", line], env);
      assert.ok(out);
      assert.equal(out.code, 0, `${line}\n${out.stderr}`);
      const secret = out.stdout.trim();
      assert.ok(secret.length >= 43 && secret.length <= 44, `${line}: ${secret}`);
      // A server with it starts, and ends when its stdin does (a short secret: exit 2).
      const served = await runProgram(["--db", ":memory:"], {
        SESSION_BUDDY_SECRET: secret,
        HOME: dir,
      });
      assert.equal(served.code, 0, served.stderr);
      assert.doesNotMatch(served.stderr, /WARNING/);
    }
    const tokenLine = token.trim();
    assert.match(tokenLine, /^SESSION_BUDDY_SECRET=\.\.\. session-buddy token /);
    const out = await run("sh", ["-c", tokenLine.replace("=...", `=${SECRET}`)], env);
    assert.equal(out?.code, 0, out?.stderr);
    assert.deepEqual(await createVerifier(SECRET)(out!.stdout.trim()), {
      ok: true,
      trackedBy: "admin-shell",
    });
  } finally {
    await cleanup();
  }
});

Deno.test("docs/tools.md: the start and end shown get the results shown", async () => {
  const tools = await readPage("docs/tools.md");
  const json = blocks(tools, "json");
  const [start, started, end, ended, errors] = json as [string, string, string, string, string];
  const { dir, cleanup } = await tempDir();
  try {
    const server = await startServer({ env: { SESSION_BUDDY_DB: `${dir}/s.kv`, HOME: dir } });
    try {
      // No secret here: the token placeholders stand for any token.
      const startShown = { ...JSON.parse(start), token: null };
      assert.deepEqual(await server.call("track_session_start", startShown), JSON.parse(started));
      const endShown = { ...JSON.parse(end), token: null };
      assert.deepEqual(await server.call("track_session_end", endShown), JSON.parse(ended));
      const shown = errors.trim().split("\n").map((l) => JSON.parse(l));
      const bad = [
        null, // the token one: docs_http_test and auth_test run with a secret
        await server.call("track_session_start", { ...startShown, event_id: "abc" }),
        await server.call("track_session_start", {
          ...startShown,
          event_id: crypto.randomUUID(),
          timestamp: "2026-02-06 12:00",
        }),
        await server.call("track_session_end", { ...endShown, session_id: "nope-20260206-000000" }),
      ];
      bad.forEach((got, i) => {
        if (got) assert.deepEqual(got, shown[i], `error example ${i + 1}`);
      });
    } finally {
      await server.close();
    }
  } finally {
    await cleanup();
  }
});

Deno.test("docs/tools.md: the import shown gets the result shown, then unchanged; its errors as shown", async () => {
  const tools = await readPage("docs/tools.md");
  const json = blocks(tools, "json");
  const call = JSON.parse(
    only(json.filter((b) => b.includes('"records"')), "import_sessions call"),
  );
  const shown = JSON.parse(
    only(json.filter((b) => b.includes('"imported"') && b.includes('"outcomes"')), "import result"),
  );
  // import_history's result, shown after it, has the fields its schema publishes.
  const history = JSON.parse(only(json.filter((b) => b.includes('"conflicts"')), "history result"));
  assert.deepEqual(Object.keys(history).sort(), [
    "conflicts",
    "error",
    "status",
    "unchanged",
    "written",
  ]);
  const errors = only(json.filter((b) => b.includes("Import failed")), "import errors").trim()
    .split("\n").map((l) => JSON.parse(l));
  assert.equal(errors.length, 3);
  const { dir, cleanup } = await tempDir();
  try {
    const server = await startServer({ env: { SESSION_BUDDY_DB: `${dir}/s.kv`, HOME: dir } });
    try {
      // No secret here: the token placeholder stands for any token.
      const args = { ...call, token: null };
      const [record] = args.records;
      assert.deepEqual(
        await server.call("import_sessions", { records: [{ ...record, started_at: "no" }] }),
        errors[0],
      );
      const many = Array.from({ length: 1001 }, () => record);
      assert.deepEqual(await server.call("import_sessions", { records: many }), errors[1]);
      assert.deepEqual(await server.call("import_sessions", args), shown);
      const again = await server.call("import_sessions", args);
      assert.deepEqual(again, {
        ...shown,
        outcomes: shown.outcomes.map((o: Record<string, unknown>) => ({ ...o, kind: "unchanged" })),
      });
      const got = await server.call("get_session", { session_id: record.session_id });
      assert.deepEqual(got.session, record, "stored as it came");
    } finally {
      await server.close();
    }
    // The token error: with a secret set and no token.
    const secured = await startServer({
      env: { SESSION_BUDDY_DB: `${dir}/s.kv`, HOME: dir, SESSION_BUDDY_SECRET: SECRET },
    });
    try {
      assert.deepEqual(
        await secured.call("import_sessions", { records: call.records }),
        errors[2],
      );
    } finally {
      await secured.close();
    }
  } finally {
    await cleanup();
  }
});

/** One `$ command` of a console block and the lines the page shows after it. */
interface Example {
  command: string;
  expected: string[];
}

function consoleExamples(): Example[] {
  const out: Example[] = [];
  for (const block of blocks(COMMANDS, "console")) {
    for (const line of block.replace(/\n$/, "").split("\n")) {
      if (line.startsWith("$ ")) out.push({ command: line.slice(2), expected: [] });
      else out.at(-1)!.expected.push(line);
    }
  }
  // A blank line between two commands of one block separates them; it is not output.
  for (const example of out) {
    while (example.expected.at(-1) === "") example.expected.pop();
  }
  return out;
}

/** What of a line depends on when it was made: times, ids' dates, running durations. */
function shape(line: string): string[] {
  const normal = line
    .replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/g, "<time>")
    .replace(/-\d{8}-\d{6}/g, "-<stamp>")
    .replace(/(\d+[dhms] )?\d+[dhms]\+/g, "<running>")
    .replace(/^[A-Za-z0-9_-]{43}$/, "<secret>");
  return normal.split(/ {2,}/);
}

function assertSameOutput(example: Example, actual: string[]): void {
  const where = `$ ${example.command}\n${actual.join("\n")}`;
  assert.equal(actual.length, example.expected.length, `line count of: ${where}`);
  example.expected.forEach((want, i) => {
    const got = actual[i]!;
    // A line the page cuts short with "..." (a token) matches what begins alike.
    if (want.endsWith("...")) return assert.ok(got.startsWith(want.slice(0, -3)), where);
    assert.deepEqual(shape(got), shape(want), where);
  });
}

Deno.test("docs/commands.md: every operator example prints what the page shows", async (t) => {
  const { dir, cleanup } = await tempDir();
  const db = `${dir}/sessions.kv`;
  const env = { SESSION_BUDDY_DB: db, HOME: dir, TZ: "UTC" };
  try {
    const server = await startServer({ env: { ...env, SESSION_BUDDY_SECRET: SECRET } });
    let ids: string[];
    try {
      ids = await trackReadmeSessions(server, Date.now(), await mintToken());
    } finally {
      await server.close();
    }
    const examples = consoleExamples();
    assert.ok(examples.length >= 8, `console examples found: ${examples.length}`);
    for (const example of examples) {
      await t.step(example.command, async () => {
        const words = example.command.split(" ");
        const extra: Record<string, string> = {};
        while (/^[A-Z_]+=/.test(words[0]!)) {
          const [name, value] = words.shift()!.split("=") as [string, string];
          extra[name] = value === "..." ? SECRET : value;
        }
        assert.equal(words.shift(), "session-buddy", example.command);
        const redirect = words.indexOf(">");
        const args = (redirect >= 0 ? words.slice(0, redirect) : words)
          // The ids the page shows were made on another day.
          .map((w) => ids.find((id) => shape(id)[0] === shape(w)[0]) ?? w);
        const actual = args.join(" ") === "sessions tail"
          ? await tailExample(db, env)
          : await runExample(args, { ...env, ...extra }, ids, redirect >= 0);
        if (PRINT) console.log(`$ ${example.command}\n${actual.join("\n")}`);
        else assertSameOutput(example, actual);
      });
    }
  } finally {
    await cleanup();
  }
});

async function runExample(
  args: string[],
  env: Record<string, string>,
  ids: string[],
  redirected: boolean,
): Promise<string[]> {
  const out = await runProgram(args, env);
  assert.equal(out.code, 0, out.stderr);
  if (!redirected) return out.stdout.replace(/\n$/, "").split("\n");
  // Redirected: the file gets one exported record per line, and the terminal shows nothing.
  const exported = out.stdout.trim().split("\n").map((line) => JSON.parse(line).session_id);
  for (const id of ids) assert.ok(exported.includes(id), `${id} exported`);
  return [];
}

/** `sessions tail` while a shell starts and, three seconds of its time later, ends. */
async function tailExample(db: string, env: Record<string, string>): Promise<string[]> {
  const tail = spawnPiped(programCommand(["sessions", "tail"]), env);
  const lines: string[] = [];
  const reading = (async () => {
    const decoder = new TextDecoder();
    let text = "";
    for await (const chunk of tail.stdout) {
      text += decoder.decode(chunk, { stream: true });
      const parts = text.split("\n");
      text = parts.pop()!;
      lines.push(...parts);
      if (lines.length === 3) break;
    }
  })();
  try {
    while (lines.length === 0) await new Promise((r) => setTimeout(r, 20));
    const server = await startServer({ env: { ...env, SESSION_BUDDY_DB: db } });
    try {
      const startMs = Date.now();
      const started = await server.call(
        "track_session_start",
        startArgs({ timestamp: new Date(startMs).toISOString() }),
      );
      const id = String(started.session_id);
      await server.call(
        "track_session_end",
        endArgs(id, { timestamp: new Date(startMs + 3000).toISOString() }),
      );
    } finally {
      await server.close();
    }
    const deadline = setTimeout(() => tail.kill("SIGKILL"), 10_000);
    await reading;
    clearTimeout(deadline);
    return lines;
  } finally {
    try {
      tail.kill("SIGINT");
    } catch { /* already ended */ }
    await tail.status;
    await tail.stderr.cancel().catch(() => {});
    await tail.stdin.close().catch(() => {});
  }
}
