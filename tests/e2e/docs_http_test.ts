/**
 * The HTTP examples of docs/ run as written, against a real `serve --http` with a secret:
 * docs/collector.md (the collector command and its refusal, the TLS section's openssl
 * commands and curl) and the HTTP clients of docs/clients.md (the Claude Code
 * configuration, the Inspector CLI lines, the stdlib Python client, over HTTP and HTTPS).
 *
 * Each example's lines run through `sh` with a `session-buddy` command on PATH that runs
 * this checkout (or SESSION_BUDDY_BIN). What a test machine cannot have is replaced, and
 * said so where it happens: the port (8080 and 8443 may be taken), the collector's host
 * name (collector.example.com is 127.0.0.1 here) and the listen address (loopback only).
 *
 * A tool this machine lacks (npx, openssl, curl, python3) is a plain "skipped: ..." line,
 * and a failure when CI=true.
 */
import assert from "node:assert/strict";
import { parseInvocation } from "../../src/cli/invocation.ts";
import { connectHttp, freePort } from "../helpers/http.ts";
import { fenced, type Page, readPage, section } from "../helpers/readme_store.ts";
import {
  compiledBinary,
  DENO_DIR,
  endArgs,
  mintToken,
  type Output,
  programCommand,
  runCommand,
  runtimeEnv,
  SECRET,
  startArgs,
  tempDir,
} from "../helpers/server.ts";

const COLLECTOR = await readPage("docs/collector.md");
const CLIENTS = await readPage("docs/clients.md");
const HTTP_CLIENTS = "Over HTTP, to a collector";
const IN_CI = Deno.env.get("CI") === "true";
const HOME = Deno.env.get("HOME") ?? "/";

/** A tool this machine lacks: fails in CI (which installs it), says plainly that it skipped elsewhere. */
function skipped(what: string): void {
  if (IN_CI) assert.fail(`${what} (CI must have it)`);
  console.log(`skipped: ${what}`);
}

/** The fenced code blocks of `lang` in a section of a page, in order. */
function blocks(page: Page, title: string, lang: string): string[] {
  return fenced(section(page, title), lang);
}

/** The one block of `lang` in a section that contains `marker`. */
function block(page: Page, title: string, lang: string, marker: string): string {
  const found = blocks(page, title, lang).filter((b) => b.includes(marker));
  assert.equal(found.length, 1, `one ${lang} block with "${marker}" in "${title}"`);
  return found[0]!;
}

/** The one line of a section's `sh` blocks that starts with `prefix`. */
function line(page: Page, title: string, prefix: string): string {
  const found = blocks(page, title, "sh").flatMap((b) => b.split("\n")).filter((l) =>
    l.startsWith(prefix)
  );
  assert.equal(found.length, 1, `one line starting "${prefix}" in "${title}"`);
  return found[0]!;
}

/** Runs a command to its end, with exactly `env` when one is given. */
const run = (
  command: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; stdin?: string } = {},
) => runCommand(command, args, { ...options, clearEnv: options.env !== undefined });

const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

/** The interpreter behind `python3` on PATH (a pyenv shim needs variables the shell lacks). */
const PYTHON = (await run("python3", ["-c", "import sys; print(sys.executable)"]))?.stdout.trim();

/**
 * A folder with a `session-buddy` command that runs this checkout as `deno task start`
 * does (or the compiled binary of SESSION_BUDDY_BIN), and the environment a shell running
 * the README's lines gets: that folder first on PATH, the runtime's own variables, the
 * real HOME (npx and pyenv keep their caches there).
 */
async function shellEnv(dir: string, extra: Record<string, string> = {}) {
  const bin = `${dir}/bin`;
  await Deno.mkdir(bin, { recursive: true });
  const binary = compiledBinary();
  const command = binary ? [binary] : [programCommand().command, ...programCommand().args];
  const program = `${bin}/session-buddy`;
  await Deno.writeTextFile(program, `#!/bin/sh\nexec ${command.map(quote).join(" ")} "$@"\n`, {
    mode: 0o755,
  });
  const path = [bin, PYTHON ? PYTHON.replace(/\/[^/]+$/, "") : "", Deno.env.get("PATH") ?? ""]
    .filter((p) => p !== "").join(":");
  const env: Record<string, string> = {
    ...runtimeEnv(),
    PATH: path,
    HOME,
    DENO_DIR,
    NO_COLOR: "1",
    ...extra,
  };
  return { env, program };
}

/** Runs shell text as written, in `cwd`. */
async function sh(script: string, env: Record<string, string>, cwd: string): Promise<Output> {
  const out = await run("sh", ["-ec", script], { env, cwd });
  assert.ok(out, "sh ran");
  return out;
}

/** A `serve --http` process started from a README line. */
interface Collector {
  origin: string;
  port: number;
  stderr(): string;
  /** Sends SIGTERM (as systemctl stop does) and returns the exit status. */
  stop(): Promise<number>;
}

/**
 * Starts `session-buddy serve --http HOST:PORT ...` from a README line, in `cwd`, with its
 * port replaced by a free one, and waits for its "serving MCP on" line.
 */
async function startFrom(
  text: string,
  cwd: string,
  env: Record<string, string>,
  replace: (words: string[]) => string[] = (w) => w,
): Promise<Collector> {
  const words = text.trim().split(/\s+/);
  assert.deepEqual(words.slice(0, 3), ["session-buddy", "serve", "--http"], text);
  const port = freePort();
  const listen = words[3]!.replace(/\d+$/, String(port));
  const args = replace(["serve", "--http", listen, ...words.slice(4)]);
  const bin = compiledBinary();
  const command = bin ? { command: bin, args } : programCommand(args);
  const child = new Deno.Command(command.command, {
    args: command.args,
    env: { ...runtimeEnv(), DENO_DIR, NO_COLOR: "1", HOME: cwd, ...env },
    clearEnv: true,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let errText = "";
  const decoder = new TextDecoder();
  const pumps = [
    (async () => {
      for await (const chunk of child.stderr) errText += decoder.decode(chunk, { stream: true });
    })(),
    child.stdout.cancel(),
  ];
  let exited = false;
  const status = child.status.finally(() => exited = true);
  const until = Date.now() + 30_000;
  while (!errText.includes("serving MCP on")) {
    if (exited || Date.now() > until) {
      if (!exited) child.kill("SIGKILL");
      await status;
      await Promise.all(pumps);
      assert.fail(`${text} did not start:\n${errText}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const scheme = args.includes("--tls-cert") ? "https" : "http";
  // The address as served, after `replace`.
  const host = args[2]!.replace(/:\d+$/, "");
  return {
    origin: `${scheme}://${host}:${port}`,
    port,
    stderr: () => errText,
    async stop() {
      if (!exited) child.kill("SIGTERM");
      const { code } = await status;
      await Promise.all(pumps);
      return code;
    },
  };
}

/** A collector on 127.0.0.1 with the test secret, for the client examples. */
async function withCollector(
  fn: (collector: Collector, dir: string, token: string) => Promise<void>,
): Promise<void> {
  const { dir, cleanup } = await tempDir();
  const collector = await startFrom(
    "session-buddy serve --http 127.0.0.1:8080 --db ./sessions.kv",
    dir,
    { SESSION_BUDDY_SECRET: SECRET },
  );
  let code: number;
  try {
    await fn(collector, dir, await mintToken());
  } finally {
    code = await collector.stop();
    await cleanup();
  }
  assert.equal(code, 0, collector.stderr());
}

Deno.test("docs/collector.md: the collector starts as shown, and refuses a non-loopback address without TLS", async (t) => {
  const title = "Running a collector";
  const { dir, cleanup } = await tempDir();
  try {
    const { env } = await shellEnv(dir);
    const [exportLine, serveLine] = block(COLLECTOR, title, "sh", "serve --http 127.0.0.1").trim()
      .split(
        "\n",
      ) as [string, string];
    let secret = "";

    await t.step("the export line sets a secret session-buddy starts with", async () => {
      assert.match(exportLine, /^export SESSION_BUDDY_SECRET=/);
      const out = await sh(`${exportLine}\nprintf %s "$SESSION_BUDDY_SECRET"`, env, dir);
      assert.equal(out.code, 0, out.stderr);
      secret = out.stdout;
      assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    });

    await t.step("the serve line serves MCP, and logs the line shown", async () => {
      const collector = await startFrom(serveLine, dir, { SESSION_BUDDY_SECRET: secret });
      let code: number;
      try {
        const shown = blocks(COLLECTOR, title, "text").find((b) => b.includes("serving MCP on"))!
          .trim();
        const pattern = shown
          .replace(/^\S+ /, "")
          .replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
          .replace("0\\.1\\.0", "\\S+")
          .replace(":8080", `:${collector.port}`)
          .replace("/home/ana/sessions\\.kv", `${dir}/sessions\\.kv`);
        const logged = collector.stderr().split("\n").find((l) => l.includes("serving MCP on"))!;
        assert.match(logged, new RegExp(`^\\S+Z ${pattern}$`));
        const client = await connectHttp(`${collector.origin}/mcp`);
        try {
          const listed = await client.client.listTools();
          assert.equal(listed.tools.length, 8);
        } finally {
          await client.close();
        }
        // "HTTP/2 for clients that start with it (h2c with prior knowledge)".
        const curl = await run("curl", [
          "-s",
          "--http2-prior-knowledge",
          "-o",
          "/dev/null",
          "-w",
          "%{http_version}",
          `${collector.origin}/healthz`,
        ]);
        if (!curl) skipped("curl is not installed");
        else assert.equal(curl.stdout, "2", curl.stderr);
      } finally {
        code = await collector.stop();
      }
      // "On SIGTERM ... exits with status 0".
      assert.equal(code, 0, collector.stderr());
    });

    await t.step("a non-loopback address without TLS is refused with the line shown", async () => {
      const refused = line(COLLECTOR, title, "session-buddy serve --http 0.0.0.0");
      const shown = blocks(COLLECTOR, title, "text").find((b) => b.includes("needs TLS"))!.trim();
      const out = await sh(refused, { ...env, SESSION_BUDDY_SECRET: secret }, dir);
      assert.equal(out.code, 2);
      assert.equal(out.stderr.trim(), shown);
    });

    await t.step("a start that fails is one line with the exit status the text gives", async () => {
      assert.match(
        section(COLLECTOR, title),
        /cannot be read, or an address\s+already in use, gives one line and exit status 1/,
      );
      const busy = Deno.listen({ hostname: "127.0.0.1", port: freePort() });
      try {
        const port = (busy.addr as Deno.NetAddr).port;
        const cases = [
          `session-buddy serve --http 127.0.0.1:${port} --db :memory:`,
          `session-buddy serve --http 127.0.0.1:${freePort()} --db :memory: --tls-cert missing.crt --tls-key missing.key`,
        ];
        for (const text of cases) {
          const out = await sh(text, { ...env, SESSION_BUDDY_SECRET: secret }, dir);
          assert.equal(out.code, 1, `${text}\n${out.stderr}`);
          assert.equal(out.stderr.trim().split("\n").length, 1, out.stderr);
        }
      } finally {
        busy.close();
      }
    });

    await t.step("the addresses the text names mean what it says", () => {
      const http = (listen: string) => {
        const invocation = parseInvocation(["serve", "--http", listen], {
          SESSION_BUDDY_DB: ":memory:",
        }, { os: "linux", cwd: "/" });
        assert.equal(invocation.kind, "serve");
        return invocation.kind === "serve" ? invocation.config.http : null;
      };
      assert.match(section(COLLECTOR, title), /`--http 8080` listens on `127\.0\.0\.1:8080`/);
      assert.deepEqual([http("8080")?.host, http("8080")?.port], ["127.0.0.1", 8080]);
      assert.equal(http("[::1]:8080")?.host, "::1");
      assert.throws(() => http("0.0.0.0:8443"), /needs TLS/);
    });
  } finally {
    await cleanup();
  }
});

/** Whether `openssl` is OpenSSL 3 or later, which the TLS section asks for. */
async function openssl3(): Promise<boolean> {
  const out = await run("openssl", ["version"]);
  if (!out) {
    skipped("openssl is not installed");
    return false;
  }
  if (!/^OpenSSL [3-9]\./.test(out.stdout)) {
    skipped(`the TLS section needs OpenSSL 3 or later, this is ${out.stdout.trim()}`);
    return false;
  }
  return true;
}

Deno.test("docs/collector.md: TLS with the openssl commands, and the Python client over HTTPS", async (t) => {
  if (!(await openssl3())) return;
  const { dir, cleanup } = await tempDir();
  try {
    const { env } = await shellEnv(dir, { SESSION_BUDDY_SECRET: SECRET });
    const [makeCert, serveAndCheck] = blocks(COLLECTOR, "TLS", "sh") as [string, string];

    await t.step(
      "the openssl commands make a CA and a key readable by their owner only",
      async () => {
        assert.match(makeCert, /^openssl req -x509/);
        const out = await sh(makeCert, env, dir);
        assert.equal(out.code, 0, out.stderr);
        for (const key of ["ca.key", "tls.key"]) {
          assert.equal((await Deno.stat(`${dir}/${key}`)).mode! & 0o777, 0o600, key);
        }
      },
    );

    const [serveLine, curlLine] = serveAndCheck.trim().split("\n") as [string, string];
    // collector.example.com is this machine, and the test listens on loopback only.
    const collector = await startFrom(
      serveLine,
      dir,
      { SESSION_BUDDY_SECRET: SECRET, SESSION_BUDDY_DB: `${dir}/sessions.kv` },
      (args) => args.map((a) => a.replace("0.0.0.0", "127.0.0.1")),
    );
    let code: number;
    const ca = await Deno.readTextFile(`${dir}/ca.crt`);
    const client = Deno.createHttpClient({ caCerts: [ca] });
    try {
      await t.step("the collector serves HTTPS with them, verified by ca.crt", async () => {
        const health = await fetch(`${collector.origin}/healthz`, { client });
        assert.equal(health.status, 200);
        assert.deepEqual((await health.json()).status, "ok");
        const local =
          curlLine.replace("collector.example.com:8443", `127.0.0.1:${collector.port}`) +
          " -w ' %{http_version}'";
        const curl = await run("curl", ["--version"]);
        if (!curl) return skipped("curl is not installed");
        const out = await sh(local, env, dir);
        assert.equal(out.code, 0, out.stderr);
        // "Over TLS, clients may speak HTTP/2 (negotiated by ALPN)": curl does.
        assert.match(out.stdout, /^\{"status":"ok","version":"[^"]+"\} 2$/);
      });

      await t.step("the Python client reaches it with SESSION_BUDDY_CA", async () => {
        if (!PYTHON) return skipped("python3 is not installed");
        const source = block(CLIENTS, HTTP_CLIENTS, "python", "def call_tool");
        await Deno.writeTextFile(`${dir}/session_buddy_client.py`, source);
        const runLine = line(CLIENTS, HTTP_CLIENTS, "SESSION_BUDDY_URL=")
          .replace("http://127.0.0.1:8080", collector.origin);
        const out = await sh(`SESSION_BUDDY_CA=ca.crt ${runLine}`, env, dir);
        assert.equal(out.code, 0, out.stderr);
        const [started, ended] = out.stdout.trim().split("\n").map((l) => JSON.parse(l));
        assert.equal(started.status, "tracked", out.stdout);
        assert.deepEqual(ended, { session_id: started.session_id, status: "ended", error: null });
      });
    } finally {
      client.close();
      code = await collector.stop();
    }
    assert.equal(code, 0, collector.stderr());
  } finally {
    await cleanup();
  }
});

Deno.test("docs/clients.md: the Python client tracks a shell's start and end", async (t) => {
  const title = HTTP_CLIENTS;
  const source = block(CLIENTS, title, "python", "def call_tool");
  // Nothing but the standard library.
  for (const m of source.matchAll(/^\s*(?:import|from) ([a-z_.]+)/gm)) {
    assert.ok(
      [
        "asyncio",
        "json",
        "os",
        "ssl",
        "urllib.error",
        "urllib.request",
        "platform",
        "sys",
        "uuid",
        "datetime",
      ]
        .includes(m[1]!),
      `imports only the standard library: ${m[1]}`,
    );
  }
  if (!PYTHON) return skipped("python3 is not installed");
  await withCollector(async (collector, dir, token) => {
    await Deno.writeTextFile(`${dir}/session_buddy_client.py`, source);
    const { env } = await shellEnv(dir, { SESSION_BUDDY_SECRET: SECRET });
    const runLine = line(CLIENTS, title, "SESSION_BUDDY_URL=").replace(
      "http://127.0.0.1:8080",
      collector.origin,
    );
    let sessionId = "";

    await t.step("run as shown, it prints a tracked start and its end", async () => {
      const out = await sh(runLine, env, dir);
      assert.equal(out.code, 0, out.stderr);
      const printed = out.stdout.trim().split("\n");
      const shown = blocks(CLIENTS, title, "text").find((b) => b.includes('"status": "tracked"'))!
        .trim()
        .split("\n");
      assert.equal(printed.length, shown.length);
      const [started, ended] = printed.map((l) => JSON.parse(l));
      sessionId = started.session_id;
      // The lines shown, but for the time in the id.
      const stamp = (text: string) => text.replace(/-\d{8}-\d{6}/g, "-<stamp>");
      assert.deepEqual(printed.map(stamp), shown.map(stamp));
      assert.deepEqual(ended, { session_id: sessionId, status: "ended", error: null });
    });

    await t.step("the collector stored it, tracked by the bearer token's user", async () => {
      const client = await connectHttp(`${collector.origin}/mcp`, {
        headers: { authorization: `Bearer ${token}` },
      });
      try {
        const found = await client.call("get_session", { session_id: sessionId });
        assert.equal(found.status, "found");
        const session = found.session as Record<string, unknown>;
        assert.equal(session.status, "ended");
        assert.equal(session.tracked_by, "admin-shell");
        assert.equal(session.shell_type, "MahavishnuShell");
        assert.deepEqual(session.end_metadata, { exit_reason: "user_exit" });
      } finally {
        await client.close();
      }
    });

    const python = async (code: string, extra: Record<string, string> = {}) => {
      const out = await run(PYTHON, ["-c", code], { env: { ...env, ...extra }, cwd: dir });
      assert.ok(out);
      return out;
    };

    await t.step("call_tool is a coroutine returning the result object", async () => {
      const out = await python(
        [
          "import asyncio, json, os, session_buddy_client as m",
          "c = m.SessionBuddyClient(os.environ['URL'], token=os.environ['TOKEN'])",
          "print(json.dumps(asyncio.run(c.call_tool('list_sessions', {'status': 'ended'}))))",
        ].join("\n"),
        { URL: `${collector.origin}/mcp`, TOKEN: token },
      );
      assert.equal(out.code, 0, out.stderr);
      const listed = JSON.parse(out.stdout);
      assert.equal(listed.status, "ok");
      assert.deepEqual(listed.sessions.map((s: { session_id: string }) => s.session_id), [
        sessionId,
      ]);
    });

    await t.step("a refused bearer token raises RuntimeError with HTTP 401", async () => {
      const out = await python(
        [
          "import os, session_buddy_client as m",
          "m.SessionBuddyClient(os.environ['URL'], token='not-a-token').call_tool_sync('list_sessions', {})",
        ].join("\n"),
        { URL: `${collector.origin}/mcp` },
      );
      assert.notEqual(out.code, 0);
      assert.match(
        out.stderr,
        /RuntimeError: session-buddy answered HTTP 401: .*Authentication failed/,
      );
    });

    await t.step("without a token, the result has status error, as over stdio", async () => {
      const out = await sh(runLine.replace(/SESSION_BUDDY_TOKEN="[^"]*" /, ""), env, dir);
      assert.equal(out.code, 0, out.stderr);
      const started = JSON.parse(out.stdout.split("\n")[0]!);
      assert.deepEqual(started, {
        session_id: null,
        status: "error",
        error: "❌ Authentication failed: Token required (SESSION_BUDDY_SECRET is set)",
      });
    });
  });
});

Deno.test("docs/clients.md: the Inspector CLI lines list tools and call one with the bearer header", async () => {
  const lines = blocks(CLIENTS, HTTP_CLIENTS, "sh").flatMap((b) => b.split("\n"))
    .filter((l) => l.startsWith("npx -y @modelcontextprotocol/inspector@1.0.3 --cli http"));
  assert.equal(lines.length, 2, "tools/list and tools/call");
  if (!(await run("npx", ["--version"]))) return skipped("npx is not installed");
  await withCollector(async (collector, dir, token) => {
    const { env } = await shellEnv(dir, { TOKEN: token });
    const inspect = async (text: string) => {
      const out = await sh(text.replace("http://127.0.0.1:8080", collector.origin), env, dir);
      // The answer alone on stdout; the deprecation notice goes to stderr.
      return { ...out, answer: out.code === 0 ? JSON.parse(out.stdout) : null };
    };
    const list = lines.find((l) => l.includes("--method tools/list"))!;
    const call = lines.find((l) => l.includes("--method tools/call"))!;
    const listed = await inspect(list);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(listed.answer.tools.map((tool: { name: string }) => tool.name).sort(), [
      "get_session",
      "import_history",
      "import_sessions",
      "list_sessions",
      "session_stats",
      "track_session_end",
      "track_session_heartbeat",
      "track_session_start",
    ]);
    const called = await inspect(call);
    assert.equal(called.code, 0, called.stderr);
    assert.deepEqual(called.answer.structuredContent, {
      status: "ok",
      sessions: [],
      next_cursor: null,
      error: null,
    });
    // The header is what authenticated the call: without it the tool asks for a token.
    const bare = await inspect(call.replace(/ --header "[^"]*"/, ""));
    assert.equal(bare.code, 0, bare.stderr);
    assert.match(bare.answer.structuredContent.error, /Token required/);
    // "a refused token ends it with Failed to connect to MCP server: ... and exit status 1".
    const refused = await sh(
      call.replace("http://127.0.0.1:8080", collector.origin).replace("$TOKEN", "not-a-token"),
      env,
      dir,
    );
    assert.equal(refused.code, 1);
    assert.match(
      refused.stdout + refused.stderr,
      /Failed to connect to MCP server: .*Authentication failed/,
    );
  });
});

Deno.test("docs/clients.md: the Claude Code configuration reaches the collector with its header", async () => {
  const config = JSON.parse(block(CLIENTS, HTTP_CLIENTS, "json", '"mcpServers"')).mcpServers[
    "session-buddy"
  ];
  assert.equal(config.type, "http");
  const url = new URL(config.url);
  assert.equal(url.pathname, "/mcp");
  assert.deepEqual(Object.keys(config.headers), ["Authorization"]);
  // The token's variable, never a token in the file.
  assert.equal(config.headers.Authorization, "Bearer ${SESSION_BUDDY_TOKEN}");
  // `claude mcp add` says the same as the JSON, quoted so that the shell keeps the name.
  const add = line(CLIENTS, HTTP_CLIENTS, "claude mcp add");
  assert.equal(
    add,
    `claude mcp add --transport http session-buddy ${config.url} --header 'Authorization: ${config.headers.Authorization}'`,
  );
  const printed = await runCommand("sh", ["-c", `printf '%s' ${add.split(" --header ")[1]}`], {
    env: { SESSION_BUDDY_TOKEN: "a-token" },
  });
  assert.equal(
    printed?.stdout,
    `Authorization: ${config.headers.Authorization}`,
    "the shell passes the name on",
  );
  await withCollector(async (collector, _dir, token) => {
    // collector.example.com:8443 over TLS is, here, the plain collector on loopback; the
    // header as Claude Code sends it once it has expanded SESSION_BUDDY_TOKEN.
    const local = config.url.replace(url.origin, collector.origin);
    const client = await connectHttp(local, {
      headers: {
        Authorization: config.headers.Authorization.replace("${SESSION_BUDDY_TOKEN}", token),
      },
    });
    try {
      assert.equal((await client.client.listTools()).tools.length, 8);
      const started = await client.call("track_session_start", startArgs({ token: null }));
      assert.equal(started.status, "tracked", JSON.stringify(started));
      const ended = await client.call("track_session_end", endArgs(String(started.session_id)));
      assert.equal(ended.status, "ended");
    } finally {
      await client.close();
    }
    // No OAuth metadata that would make Claude Code drop the static header.
    for (const path of ["oauth-protected-resource", "oauth-authorization-server"]) {
      const answer = await fetch(`${collector.origin}/.well-known/${path}`);
      await answer.body?.cancel();
      assert.equal(answer.status, 404, path);
    }
  });
});

Deno.test("docs/protocol.md: the curl line of MCP 2026-07-28 gets a complete result", async () => {
  const protocol = await readPage("docs/protocol.md");
  const curl = block(protocol, "MCP 2026-07-28", "sh", "curl -s http://127.0.0.1:8080/mcp");
  if (!(await run("curl", ["--version"]))) return skipped("curl is not installed");
  const { dir, cleanup } = await tempDir();
  const collector = await startFrom(
    "session-buddy serve --http 127.0.0.1:8080 --db ./sessions.kv",
    dir,
    {},
  );
  let code: number;
  try {
    const { env } = await shellEnv(dir);
    const out = await sh(
      curl.replaceAll("127.0.0.1:8080", `127.0.0.1:${collector.port}`),
      env,
      dir,
    );
    assert.equal(out.code, 0, out.stderr);
    const answer = JSON.parse(out.stdout);
    assert.equal(answer.id, 1);
    assert.equal(answer.result.resultType, "complete");
    assert.deepEqual(answer.result.structuredContent, {
      status: "ok",
      sessions: [],
      next_cursor: null,
      error: null,
    });
    assert.equal(answer.result._meta["io.modelcontextprotocol/serverInfo"].name, "session-buddy");
  } finally {
    code = await collector.stop();
    await cleanup();
  }
  assert.equal(code, 0, collector.stderr());
});
