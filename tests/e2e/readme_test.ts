/**
 * The README's examples run as written: the PyJWT snippet, the store folder command, the MCP
 * client configurations, the Inspector commands and every `console` block of the operator
 * examples, whose output is compared with the program's line by line. Times, dates in ids and
 * the running durations of active sessions depend on when the test runs and are compared by
 * shape; every figure that does not (counts, durations of ended sessions, statuses, users,
 * hosts, the stats JSON) is compared exactly.
 *
 * To see what the examples print today (to update the README), run this file with
 * SESSION_BUDDY_README_PRINT=1: the operator examples' real output goes to stdout.
 */
import assert from "node:assert/strict";
import { createVerifier } from "../../src/auth/verify.ts";
import { trackReadmeSessions } from "../helpers/readme_store.ts";
import {
  compiledBinary,
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

const README = await Deno.readTextFile(`${ROOT}README.md`);
const CHECKOUT = "/path/to/session-buddy/";
const PRINT = Deno.env.get("SESSION_BUDDY_README_PRINT") === "1";
const IN_CI = Deno.env.get("CI") === "true";

/** The fenced code blocks of `lang`, in order. */
function blocks(lang: string): string[] {
  const out: string[] = [];
  const fence = new RegExp("^```" + lang + "\\n([\\s\\S]*?)^```$", "gm");
  for (const m of README.matchAll(fence)) out.push(m[1]!);
  return out;
}

function only(found: string[], what: string): string {
  assert.equal(found.length, 1, `the README has one ${what}`);
  return found[0]!;
}

/** A tool this machine lacks: fails in CI (which installs it), says plainly that it skipped elsewhere. */
function skipped(what: string): void {
  if (IN_CI) assert.fail(`${what} (CI must have it)`);
  console.log(`skipped: ${what}`);
}

async function run(command: string, args: string[], env: Record<string, string> = {}) {
  try {
    const out = await new Deno.Command(command, { args, env, stdout: "piped", stderr: "piped" })
      .output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

Deno.test("README: the PyJWT snippet mints a token session-buddy accepts", async () => {
  const snippet = only(blocks("python").filter((b) => b.includes("jwt.encode(")), "PyJWT snippet");
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

Deno.test("README: the store folder command makes a folder only its owner can use", async () => {
  const command = only(
    blocks("sh").flatMap((b) => b.split("\n")).filter((l) => l.includes("install -d")),
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
  return blocks("json").filter((b) => b.includes('"mcpServers"')).map((b) =>
    JSON.parse(b).mcpServers["session-buddy"]
  ).filter((config) => typeof config.command === "string");
}

Deno.test("README: the MCP client configurations start the server as deno task start does", async (t) => {
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
        assert.equal(listed.tools.length, 6);
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

Deno.test("README: the Inspector CLI examples run as written", async () => {
  const lines = blocks("sh").flatMap((b) => b.split("\n"))
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

/** One `$ command` of a console block and the lines the README shows after it. */
interface Example {
  command: string;
  expected: string[];
}

function consoleExamples(): Example[] {
  const out: Example[] = [];
  for (const block of blocks("console")) {
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
    // A line the README cuts short with "..." (a token) matches what begins alike.
    if (want.endsWith("...")) return assert.ok(got.startsWith(want.slice(0, -3)), where);
    assert.deepEqual(shape(got), shape(want), where);
  });
}

Deno.test("README: every operator example prints what the README shows", async (t) => {
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
          // The ids the README shows were made on another day.
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
