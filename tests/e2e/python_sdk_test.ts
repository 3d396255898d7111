/**
 * The official Python MCP SDK (`pip install mcp`, 2.3.x) talks to the real server, as a
 * Python admin shell would: `mcp.Client` in its default mode over stdio (the server
 * spawned with the flags of `deno task start`) and over Streamable HTTP (`serve --http`),
 * negotiates MCP 2026-07-28, tracks a start and an end with a token, is refused with the
 * server's reason when its bearer header carries an expired token, and reads the ended
 * record back from `session://<id>` with a valid bearer header.
 *
 * The client is tests/fixtures/python/sdk_client.py, run from a virtual environment made
 * once with `python3 -m venv` and `pip install` from this machine's pip configuration, and
 * kept between runs: in SESSION_BUDDY_TEST_PY_VENV when set, else in
 * `${XDG_CACHE_HOME:-~/.cache}/session-buddy/python-mcp-2.3`. Where python3, venv, pip or
 * the package cannot be had, the tests are ignored with one line
 * "python_sdk_test: skipped: <why>".
 */
import assert from "node:assert/strict";
import { startHttpServer } from "../helpers/http.ts";
import {
  DENO_DIR,
  mintToken,
  programCommand,
  ROOT,
  runtimeEnv,
  SECRET,
  tempDir,
} from "../helpers/server.ts";

/** The SDK release line these tests speak for. */
const MCP_REQUIREMENT = "mcp~=2.3.0";
const MCP_LINE = "2.3.";
/** The revision the client must negotiate. */
const REVISION = "2026-07-28";
const SCRIPT = `${ROOT}tests/fixtures/python/sdk_client.py`;
/** How long making the environment may take (pip on a cold cache: about 15 s here). */
const PROVISION_MS = 5 * 60_000;
/** How long one client run may take. */
const CLIENT_MS = 120_000;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end, or kills it after `timeoutMs`; null when it does not exist. */
async function run(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; stdin?: string; cwd?: string; timeoutMs: number },
): Promise<Ran | null> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command, {
      args,
      env: options.env,
      clearEnv: options.env !== undefined,
      cwd: options.cwd,
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, options.timeoutMs);
  try {
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(options.stdin));
      await writer.close();
    }
    const out = await child.output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** The last non-empty line of a program's output, for a one-line reason. */
function lastLine(text: string): string {
  return text.trim().split("\n").at(-1)?.trim() || "(no output)";
}

/** Where the virtual environment lives between runs. */
function venvDir(): string {
  const named = Deno.env.get("SESSION_BUDDY_TEST_PY_VENV");
  if (named) return named;
  const home = Deno.env.get("HOME");
  const cache = Deno.env.get("XDG_CACHE_HOME") ||
    (home ? `${home}/.cache` : `${Deno.env.get("TMPDIR") || "/tmp"}`);
  return `${cache}/session-buddy/python-mcp-2.3`;
}

/** The installed `mcp` version, or null when the environment lacks it (or httpx2). */
async function installedMcp(python: string): Promise<string | null> {
  const out = await run(python, [
    "-c",
    "import importlib.metadata as m, httpx2, mcp; print(m.version('mcp'))",
  ], { timeoutMs: 60_000 });
  const version = out?.code === 0 ? out.stdout.trim() : "";
  return version.startsWith(MCP_LINE) ? version : null;
}

/**
 * Makes (or finds) the virtual environment with `mcp` 2.3.x; a reason to skip when it
 * cannot be had. A lock file beside it keeps two test runs from building it at once.
 */
async function provision(): Promise<{ python: string; version: string } | { skip: string }> {
  const dir = venvDir();
  const python = `${dir}/bin/python`;
  const parent = dir.replace(/\/[^/]*\/?$/, "") || "/";
  try {
    await Deno.mkdir(parent, { recursive: true });
  } catch (error) {
    return { skip: `cannot create ${parent}: ${(error as Error).message}` };
  }
  const lock = await Deno.open(`${dir}.lock`, { create: true, write: true });
  try {
    await lock.lock(true);
    const found = await installedMcp(python);
    if (found) return { python, version: found };
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    const venv = await run("python3", ["-m", "venv", dir], { timeoutMs: PROVISION_MS });
    if (venv === null) return { skip: "python3 is not installed" };
    if (venv.code !== 0) {
      return { skip: `python3 -m venv ${dir} failed: ${lastLine(venv.stderr + venv.stdout)}` };
    }
    // --retries 0: an index this machine cannot reach is passed over at once, not retried
    // for minutes; the machine's pip configuration names the indexes.
    const pip = await run(python, [
      "-m",
      "pip",
      "install",
      "--quiet",
      "--disable-pip-version-check",
      "--retries",
      "0",
      MCP_REQUIREMENT,
    ], { timeoutMs: PROVISION_MS });
    const version = pip?.code === 0 ? await installedMcp(python) : null;
    if (!version) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      const why = pip === null
        ? "pip did not run"
        : pip.code === 0
        ? `the installed package is not ${MCP_LINE}x`
        : lastLine(pip.stderr + pip.stdout);
      return { skip: `pip install ${MCP_REQUIREMENT} failed: ${why}` };
    }
    return { python, version };
  } finally {
    lock.close();
  }
}

/** What sdk_client.py prints. */
interface Report {
  protocol_version?: unknown;
  start_args?: { timestamp: string; event_id: string };
  start?: unknown;
  end?: unknown;
  resource?: { record?: Record<string, unknown> } & Record<string, unknown>;
  expired_error?: unknown;
  raised?: string;
}

/** Runs the Python client with `config` on stdin; its report, or a failure naming why. */
async function runClient(
  python: string,
  home: string,
  config: Record<string, unknown>,
): Promise<{ report: Report; stderr: string }> {
  const out = await run(python, [SCRIPT], {
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: home,
      USER: "john",
      PYTHONDONTWRITEBYTECODE: "1",
      PYTHONIOENCODING: "utf-8",
    },
    cwd: home,
    stdin: JSON.stringify(config),
    timeoutMs: CLIENT_MS,
  });
  assert.ok(out, `${python} did not run`);
  const line = out.stdout.trim().split("\n").at(-1) ?? "";
  let report: Report;
  try {
    report = JSON.parse(line);
  } catch {
    assert.fail(
      `sdk_client.py printed no report (exit ${out.code}):\nstdout:\n${out.stdout}\nstderr:\n${out.stderr}`,
    );
  }
  return { report, stderr: out.stderr };
}

/** `mahavishnu-YYYYMMDD-HHMMSS` of an ISO timestamp (UTC, as the shell sends it). */
function sessionIdOf(timestamp: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})/.exec(timestamp);
  assert.ok(m, `an ISO timestamp: ${timestamp}`);
  return `mahavishnu-${m[1]}${m[2]}${m[3]}-${m[4]}${m[5]}${m[6]}`;
}

/** Runs every check, then fails once naming each one that failed, with the report. */
function verdict(report: Report, stderr: string, checks: Record<string, () => void>): void {
  const failed: string[] = [];
  for (const [what, check] of Object.entries(checks)) {
    try {
      check();
    } catch (error) {
      failed.push(`- ${what}: ${(error as Error).message.split("\n").slice(0, 12).join("\n  ")}`);
    }
  }
  if (failed.length > 0) {
    assert.fail(
      `${failed.length} of ${Object.keys(checks).length} checks failed:\n${failed.join("\n")}\n` +
        `report: ${
          JSON.stringify(report, (k, v) => k === "token" ? "<a JWT>" : v, 2)
        }\nclient and server stderr (tail):\n${stderr.split("\n").slice(-40).join("\n")}`,
    );
  }
}

/** The checks both transports share: the revision, the start and the end. */
function trackingChecks(report: Report): Record<string, () => void> {
  const timestamp = report.start_args?.timestamp ?? "";
  return {
    [`protocol_version is ${REVISION}`]: () => assert.equal(report.protocol_version, REVISION),
    "track_session_start answers tracked with the id of its timestamp": () =>
      assert.deepEqual(report.start, {
        session_id: sessionIdOf(timestamp),
        status: "tracked",
        error: null,
      }),
    "track_session_end answers ended for that id": () =>
      assert.deepEqual(report.end, {
        session_id: sessionIdOf(timestamp),
        status: "ended",
        error: null,
      }),
  };
}

const provisioned = await provision();

if ("skip" in provisioned) {
  console.log(`python_sdk_test: skipped: ${provisioned.skip}`);
  Deno.test({
    name: `Python SDK (skipped: ${provisioned.skip})`,
    ignore: true,
    fn() {},
  });
} else {
  const { python, version } = provisioned;

  Deno.test(`Python SDK ${version} over stdio: negotiates ${REVISION}, tracks a start and its end`, async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const server = programCommand([]);
      const { report, stderr } = await runClient(python, dir, {
        transport: "stdio",
        token: await mintToken(),
        server: {
          command: server.command,
          args: server.args,
          // stdio_client passes only HOME, LOGNAME, PATH, SHELL, TERM and USER by itself.
          env: {
            NO_COLOR: "1",
            DENO_DIR,
            ...runtimeEnv(),
            HOME: dir,
            SESSION_BUDDY_DB: `${dir}/sessions.kv`,
            SESSION_BUDDY_SECRET: SECRET,
          },
          cwd: ROOT,
        },
      });
      verdict(report, stderr, {
        "the client raised nothing": () => assert.equal(report.raised, undefined),
        ...trackingChecks(report),
      });
    } finally {
      await cleanup();
    }
  });

  Deno.test(`Python SDK ${version} over Streamable HTTP: negotiates ${REVISION}, tracks, refuses an expired bearer, reads the record`, async () => {
    const { dir, cleanup } = await tempDir();
    const server = await startHttpServer({
      env: { HOME: dir, SESSION_BUDDY_DB: `${dir}/sessions.kv`, SESSION_BUDDY_SECRET: SECRET },
    });
    try {
      const { report, stderr } = await runClient(python, dir, {
        transport: "http",
        url: server.mcp,
        token: await mintToken(),
        expired_token: await mintToken({ exp: Math.floor(Date.now() / 1000) - 3600 }),
      });
      const timestamp = report.start_args?.timestamp ?? "";
      verdict(report, `${stderr}\n--- server ---\n${server.stderr()}`, {
        "the client raised nothing": () => assert.equal(report.raised, undefined),
        ...trackingChecks(report),
        "an expired bearer header is refused with 'Token expired'": () => {
          assert.equal(typeof report.expired_error, "string", "the SDK raised");
          assert.match(report.expired_error as string, /Token expired/);
        },
        "session://<id> reads back the ended record": () => {
          const record = report.resource?.record;
          assert.ok(record, "a record was read");
          assert.equal(record.session_id, sessionIdOf(timestamp));
          assert.equal(record.event_id, report.start_args?.event_id);
          assert.equal(record.status, "ended");
        },
      });
    } finally {
      await server.stop();
      await cleanup();
    }
  });
}
