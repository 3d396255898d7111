/**
 * The README's fleet examples run as written: moving a host's store into PostgreSQL with
 * `sessions export | sessions import`, and the HTTP-mode examples, against a real
 * `serve --http` with a secret: the collector command and its refusal, the TLS section's openssl commands, the
 * systemd install commands (into a temporary root), the Claude Code configuration, the
 * Inspector CLI lines, the stdlib Python client, the Prometheus scrape job (promtool, and
 * a real Prometheus when installed), the metrics list and the status code table.
 *
 * Each example's lines run through `sh` with a `session-buddy` command on PATH that runs
 * this checkout (or SESSION_BUDDY_BIN). What a test machine cannot have is replaced, and
 * said so where it happens: the port (8080 and 8443 may be taken), the collector's host
 * name (collector.example.com is 127.0.0.1 here), the folders under /etc and /var (a
 * temporary folder), and `sudo` (needed there only to read root's files).
 *
 * A tool this machine lacks (npx, openssl, promtool, curl, systemd-analyze) is a plain
 * "skipped: ..." line, and a failure when CI=true.
 */
import assert from "node:assert/strict";
import { createVerifier } from "../../src/auth/verify.ts";
import { parseInvocation } from "../../src/config.ts";
import { connectHttp, freePort } from "../helpers/http.ts";
import { pg, skipWithoutPg } from "../helpers/postgres.ts";
import {
  compiledBinary,
  DENO_DIR,
  endArgs,
  initializeRequest,
  mintToken,
  type Output,
  programCommand,
  ROOT,
  runCommand,
  runtimeEnv,
  SECRET,
  startArgs,
  startServer,
  tempDir,
} from "../helpers/server.ts";

/**
 * The document the examples come from.
 * Examples are found by their section (a `## ` heading) and a marker in their block.
 */
const DOC = `${ROOT}README.md`;
const TEXT = await Deno.readTextFile(DOC);
const IN_CI = Deno.env.get("CI") === "true";
/** `deno task stress` also waits out the 30 s body deadline. */
const FULL = (Deno.env.get("SESSION_BUDDY_STRESS") ?? "").toLowerCase() === "full";
const HOME = Deno.env.get("HOME") ?? "/";

/** A tool this machine lacks: fails in CI (which installs it), says plainly that it skipped elsewhere. */
function skipped(what: string): void {
  if (IN_CI) assert.fail(`${what} (CI must have it)`);
  console.log(`skipped: ${what}`);
}

/** The text of the section `## title`, up to the next `## ` heading. */
function section(title: string): string {
  const start = TEXT.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `${DOC} has a section "${title}"`);
  const rest = TEXT.slice(start + 1);
  const end = rest.indexOf("\n## ");
  return end < 0 ? rest : rest.slice(0, end);
}

/** The fenced code blocks of `lang` in a section, in order. */
function blocks(title: string, lang: string): string[] {
  const fence = new RegExp("^```" + lang + "\\n([\\s\\S]*?)^```$", "gm");
  return [...section(title).matchAll(fence)].map((m) => m[1]!);
}

/** The one block of `lang` in a section that contains `marker`. */
function block(title: string, lang: string, marker: string): string {
  const found = blocks(title, lang).filter((b) => b.includes(marker));
  assert.equal(found.length, 1, `one ${lang} block with "${marker}" in "${title}"`);
  return found[0]!;
}

/** The one line of a section's `sh` blocks that starts with `prefix`. */
function line(title: string, prefix: string): string {
  const found = blocks(title, "sh").flatMap((b) => b.split("\n")).filter((l) =>
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

Deno.test("README HTTP: the collector starts as shown, and refuses a non-loopback address without TLS", async (t) => {
  const title = "Running a collector (Streamable HTTP)";
  const { dir, cleanup } = await tempDir();
  try {
    const { env } = await shellEnv(dir);
    const [exportLine, serveLine] = block(title, "sh", "serve --http 127.0.0.1").trim().split(
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
        const shown = blocks(title, "text").find((b) => b.includes("serving MCP on"))!.trim();
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
          assert.equal(listed.tools.length, 6);
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
      const refused = line(title, "session-buddy serve --http 0.0.0.0");
      const shown = blocks(title, "text").find((b) => b.includes("needs TLS"))!.trim();
      const out = await sh(refused, { ...env, SESSION_BUDDY_SECRET: secret }, dir);
      assert.equal(out.code, 2);
      assert.equal(out.stderr.trim(), shown);
    });

    await t.step("a start that fails is one line with the exit status the text gives", async () => {
      assert.match(
        section(title),
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
      assert.match(section(title), /`--http 8080` listens on `127\.0\.0\.1:8080`/);
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

/** The `# TYPE name type` lines of a scrape, as name to type. */
function metricTypes(scrape: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const m of scrape.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
  return types;
}

/** The metrics table of "Monitoring": name to type. */
function documentedMetrics(): Map<string, string> {
  const rows = section("Monitoring").split("\n").filter((l) => /^\| `[a-z_]+` /.test(l));
  return new Map(rows.map((row) => {
    const cells = row.split("|").map((c) => c.trim());
    return [cells[1]!.replaceAll("`", ""), cells[2]!];
  }));
}

Deno.test("README HTTP: TLS, the Python client over HTTPS, and Prometheus scraping it", async (t) => {
  if (!(await openssl3())) return;
  const { dir, cleanup } = await tempDir();
  try {
    const { env } = await shellEnv(dir, { SESSION_BUDDY_SECRET: SECRET });
    const [makeCert, serveAndCheck] = blocks("TLS", "sh") as [string, string];

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
        const source = block("Pointing clients at it", "python", "def call_tool");
        await Deno.writeTextFile(`${dir}/session_buddy_client.py`, source);
        const runLine = line("Pointing clients at it", "SESSION_BUDDY_URL=")
          .replace("http://127.0.0.1:8080", collector.origin);
        const out = await sh(`SESSION_BUDDY_CA=ca.crt ${runLine}`, env, dir);
        assert.equal(out.code, 0, out.stderr);
        const [started, ended] = out.stdout.trim().split("\n").map((l) => JSON.parse(l));
        assert.equal(started.status, "tracked", out.stdout);
        assert.deepEqual(ended, { session_id: started.session_id, status: "ended", error: null });
      });

      const job = block("Monitoring", "yaml", "scrape_configs");
      const token = await mintToken({ user_id: "prometheus" });
      const scrape = async () => {
        const answer = await fetch(`${collector.origin}/metrics`, {
          client,
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(answer.status, 200);
        return await answer.text();
      };
      // The job as written, with its files in the test's folder and the collector here.
      const configFor = (tokenFile: string) =>
        job.replace("/etc/prometheus/session-buddy.token", tokenFile)
          .replace("/etc/prometheus/session-buddy-ca.crt", `${dir}/ca.crt`)
          .replace("collector.example.com:8443", `127.0.0.1:${collector.port}`);

      await t.step("the metrics table lists what /metrics serves", async () => {
        const served = metricTypes(await scrape());
        assert.deepEqual(
          [...documentedMetrics()].sort(),
          [...served].sort(),
          "name and type of every metric",
        );
      });

      await t.step("promtool accepts the scrape job and what /metrics writes", async () => {
        if (!(await run("promtool", ["--version"]))) {
          return skipped("promtool is not installed (Debian/Ubuntu: prometheus)");
        }
        await Deno.writeTextFile(`${dir}/prometheus.token`, token);
        await Deno.writeTextFile(`${dir}/prometheus.yml`, configFor(`${dir}/prometheus.token`));
        const config = await run("promtool", ["check", "config", `${dir}/prometheus.yml`]);
        assert.equal(config?.code, 0, `${config?.stdout}${config?.stderr}`);
        assert.match(config!.stdout, /SUCCESS/);
        const metrics = await run("promtool", ["check", "metrics"], { stdin: await scrape() });
        assert.equal(metrics?.code, 0, `${metrics?.stdout}${metrics?.stderr}`);
        assert.equal(`${metrics?.stdout}${metrics?.stderr}`.trim(), "", "no lint problems");
      });

      await t.step("Prometheus scrapes it, reading credentials_file at every scrape", async () => {
        if (!(await run("prometheus", ["--version"]))) {
          return skipped("prometheus is not installed (Debian/Ubuntu: prometheus)");
        }
        const tokenFile = `${dir}/scrape.token`;
        // First a token the collector refuses; the right one replaces it, without a reload.
        await Deno.writeTextFile(tokenFile, await mintToken({}, "another-secret-".repeat(3)));
        // Scraping every second instead of the default minute, so the test need not wait.
        await Deno.writeTextFile(
          `${dir}/scrape.yml`,
          `global:\n  scrape_interval: 1s\n${configFor(tokenFile)}`,
        );
        const web = `127.0.0.1:${freePort()}`;
        const prometheus = new Deno.Command("prometheus", {
          args: [
            `--config.file=${dir}/scrape.yml`,
            `--storage.tsdb.path=${dir}/tsdb`,
            `--web.listen-address=${web}`,
          ],
          stdin: "null",
          stdout: "null",
          stderr: "piped",
        }).spawn();
        let log = "";
        const pump = (async () => {
          const decoder = new TextDecoder();
          for await (const chunk of prometheus.stderr) log += decoder.decode(chunk);
        })();
        const target = async (): Promise<{ health: string; lastError: string } | null> => {
          try {
            const answer = await fetch(`http://${web}/api/v1/targets`);
            const body = await answer.json();
            return body.data.activeTargets[0] ?? null;
          } catch {
            return null;
          }
        };
        const until = async (wanted: string) => {
          const deadline = Date.now() + 60_000;
          let seen = await target();
          while (seen?.health !== wanted) {
            assert.ok(
              Date.now() < deadline,
              `target not ${wanted}: ${JSON.stringify(seen)}\n${log}`,
            );
            await new Promise((r) => setTimeout(r, 250));
            seen = await target();
          }
          return seen;
        };
        try {
          const down = await until("down");
          assert.match(down.lastError, /401/);
          await Deno.writeTextFile(tokenFile, token);
          const up = await until("up");
          assert.equal(up.lastError, "");
        } finally {
          prometheus.kill("SIGTERM");
          await prometheus.status;
          await pump;
        }
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

Deno.test("README HTTP: the Python client tracks a shell's start and end", async (t) => {
  const title = "Pointing clients at it";
  const source = block(title, "python", "def call_tool");
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
    const runLine = line(title, "SESSION_BUDDY_URL=").replace(
      "http://127.0.0.1:8080",
      collector.origin,
    );
    let sessionId = "";

    await t.step("run as shown, it prints a tracked start and its end", async () => {
      const out = await sh(runLine, env, dir);
      assert.equal(out.code, 0, out.stderr);
      const printed = out.stdout.trim().split("\n");
      const shown = blocks(title, "text").find((b) => b.includes('"status": "tracked"'))!.trim()
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

Deno.test("README HTTP: the Inspector CLI lines list tools and call one with the bearer header", async () => {
  const lines = blocks("Pointing clients at it", "sh").flatMap((b) => b.split("\n"))
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

Deno.test("README HTTP: the Claude Code configuration reaches the collector with its header", async () => {
  const title = "Pointing clients at it";
  const config = JSON.parse(block(title, "json", '"mcpServers"')).mcpServers["session-buddy"];
  assert.equal(config.type, "http");
  const url = new URL(config.url);
  assert.equal(url.pathname, "/mcp");
  assert.deepEqual(Object.keys(config.headers), ["Authorization"]);
  assert.equal(config.headers.Authorization, "Bearer <token>");
  // `claude mcp add` says the same as the JSON.
  const add = line(title, "claude mcp add");
  assert.equal(
    add,
    `claude mcp add --transport http session-buddy ${config.url} --header "Authorization: ${config.headers.Authorization}"`,
  );
  await withCollector(async (collector, _dir, token) => {
    // collector.example.com:8443 over TLS is, here, the plain collector on loopback.
    const local = config.url.replace(url.origin, collector.origin);
    const client = await connectHttp(local, {
      headers: { Authorization: config.headers.Authorization.replace("<token>", token) },
    });
    try {
      assert.equal((await client.client.listTools()).tools.length, 6);
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

const STUB = "#!/bin/sh\nexit 0\n";

Deno.test("README HTTP: the systemd install commands put each file in place with its mode", async (t) => {
  const title = "Installing as a systemd service";
  const { dir, cleanup } = await tempDir();
  try {
    const root = `${dir}/root`;
    const checkout = `${dir}/checkout`;
    await Deno.mkdir(`${checkout}/contrib`, { recursive: true });
    await Deno.symlink(`${ROOT}contrib/systemd`, `${checkout}/contrib/systemd`);
    await Deno.writeTextFile(`${checkout}/tls.crt`, "certificate\n");
    await Deno.writeTextFile(`${checkout}/tls.key`, "key\n");
    const { env, program } = await shellEnv(dir, { SESSION_BUDDY_SECRET: SECRET });

    await t.step("every contrib/systemd file the section names exists", async () => {
      const named = new Set(section(title).match(/contrib\/systemd\/[A-Za-z0-9._-]+/g));
      for (
        const name of section(title).matchAll(
          /^\| `(session-buddy[A-Za-z0-9.-]*)`(?:, `([^`]+)`)? /gm,
        )
      ) {
        named.add(`contrib/systemd/${name[1]}`);
        if (name[2]) named.add(`contrib/systemd/${name[2]}`);
      }
      assert.ok(named.size >= 5, [...named].join(", "));
      for (const path of named) await Deno.stat(`${ROOT}${path}`);
    });

    await t.step("the install lines, under a temporary root", async () => {
      const install = block(title, "sh", "install -m 0600");
      // Folders a real machine has; systemd-sysusers would write the machine's own users
      // (tests/e2e/systemd_test.ts runs it on a temporary root).
      await Deno.mkdir(`${root}/etc/sysusers.d`, { recursive: true });
      await Deno.mkdir(`${root}/etc/systemd/system`, { recursive: true });
      const script = install.split("\n").filter((l) => l !== "sudo systemd-sysusers")
        .map((l) => l.replace(/^sudo /, "").replaceAll(" /etc/", ` ${root}/etc/`)).join("\n");
      const out = await sh(script, env, checkout);
      assert.equal(out.code, 0, out.stderr);
      const mode = async (path: string) => (await Deno.stat(`${root}${path}`)).mode! & 0o777;
      assert.equal(await mode("/etc/session-buddy"), 0o700);
      for (const path of ["session-buddy.env", "tls.crt", "tls.key"]) {
        assert.equal(await mode(`/etc/session-buddy/${path}`), 0o600, path);
      }
      assert.equal(await mode("/etc/sysusers.d/session-buddy.conf"), 0o644);
      for (
        const unit of [
          "session-buddy.service",
          "session-buddy-reap.service",
          "session-buddy-reap.timer",
        ]
      ) {
        assert.equal(await mode(`/etc/systemd/system/${unit}`), 0o644, unit);
      }
    });

    const envFile = `${root}/etc/session-buddy/session-buddy.env`;
    await t.step("the installed environment file is refused until a secret is put in", async () => {
      const text = await Deno.readTextFile(envFile);
      assert.match(section(title), /replace `replace-me` with the output of/);
      assert.match(text, /^SESSION_BUDDY_SECRET=replace-me$/m);
      const out = await sh(
        `set -a; . ${
          quote(envFile)
        }; exec session-buddy serve --http 127.0.0.1:${freePort()} --db :memory:`,
        env,
        dir,
      );
      assert.equal(out.code, 2);
      assert.match(out.stderr, /SESSION_BUDDY_SECRET is too short/);
      await Deno.writeTextFile(
        envFile,
        text.replace("SESSION_BUDDY_SECRET=replace-me", `SESSION_BUDDY_SECRET=${SECRET}`),
      );
    });

    await t.step("the token and sessions lines, with the service's secret and store", async () => {
      const tokenLine = line(title, "sudo sh -c 'set -a;");
      const out = await sh(
        tokenLine.replace(/^sudo /, "").replace("/etc/session-buddy/", `${root}/etc/session-buddy/`)
          .replace("/usr/local/bin/session-buddy", program),
        { ...env, SESSION_BUDDY_SECRET: "" },
        dir,
      );
      assert.equal(out.code, 0, out.stderr);
      assert.deepEqual(await createVerifier(SECRET)(out.stdout.trim()), {
        ok: true,
        trackedBy: "admin-shell",
      });

      const store = `${root}/var/lib/session-buddy`;
      await Deno.mkdir(store, { recursive: true, mode: 0o700 });
      const server = await startServer({
        env: { SESSION_BUDDY_DB: `${store}/sessions.kv`, HOME: dir },
      });
      let id: string;
      try {
        id = String((await server.call("track_session_start", startArgs())).session_id);
      } finally {
        await server.close();
      }
      // sudo -u session-buddy: the user that owns the store; here, this test's own.
      const sessionsLine = line(title, "sudo -u session-buddy");
      const listed = await sh(
        sessionsLine.replace(/^sudo -u session-buddy /, "")
          .replace("/usr/local/bin/session-buddy", program)
          .replace("/var/lib/session-buddy/", `${store}/`),
        env,
        dir,
      );
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, new RegExp(`^${id} +active `, "m"));
    });

    await t.step("the proxy drop-in passes systemd-analyze verify with the unit", async () => {
      const dropIn = block(title, "ini", "ExecStart=");
      if (!(await run("systemd-analyze", ["--version"]))) {
        if (Deno.build.os === "linux") return skipped("systemd-analyze is not installed");
        return console.log("skipped: systemd units are verified on Linux only");
      }
      // verify checks that ExecStart's program exists: a stub stands for the binary.
      const units = `${dir}/units`;
      await Deno.mkdir(`${units}/session-buddy.service.d`, { recursive: true });
      const stub = `${units}/session-buddy`;
      await Deno.writeTextFile(stub, STUB, { mode: 0o755 });
      const unit = await Deno.readTextFile(`${ROOT}contrib/systemd/session-buddy.service`);
      const binary = "/usr/local/bin/session-buddy";
      await Deno.writeTextFile(`${units}/session-buddy.service`, unit.replaceAll(binary, stub));
      await Deno.writeTextFile(
        `${units}/session-buddy.service.d/override.conf`,
        dropIn.replaceAll(binary, stub),
      );
      const out = await run("systemd-analyze", ["verify", "./session-buddy.service"], {
        cwd: units,
        env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
      });
      assert.ok(out);
      const ours = `${out.stdout}${out.stderr}`.split("\n").filter((l) =>
        l.includes("session-buddy")
      );
      assert.deepEqual(ours, []);
      assert.equal(out.code, 0, out.stderr);
      // The drop-in's command line: plain HTTP on loopback, which needs no --plain-http.
      const listen = /^Environment=SESSION_BUDDY_HTTP=(\S+)$/m.exec(dropIn)![1]!;
      const exec = dropIn.split("\n").filter((l) => l.startsWith("ExecStart="));
      assert.deepEqual(exec[0], "ExecStart=", "the unit's ExecStart is cleared first");
      const words = exec[1]!.replace("ExecStart=", "").replace("${SESSION_BUDDY_HTTP}", listen)
        .split(" ");
      assert.equal(words[0], binary);
      const invocation = parseInvocation(words.slice(1), {
        SESSION_BUDDY_DB: "/var/lib/session-buddy/sessions.kv",
      }, { os: "linux", cwd: "/" });
      assert.equal(invocation.kind, "serve");
      if (invocation.kind === "serve") {
        assert.deepEqual(
          [
            invocation.config.http?.host,
            invocation.config.http?.port,
            invocation.config.http?.tlsCert,
          ],
          ["127.0.0.1", 8080, null],
        );
      }
    });
  } finally {
    await cleanup();
  }
});

/** One HTTP/1.1 exchange on a raw connection, for what fetch will not send. */
async function raw(port: number, request: string): Promise<{ status: number; head: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(request));
    return await answerOf(conn);
  } finally {
    conn.close();
  }
}

/** The status line and headers of the answer read from a connection. */
async function answerOf(conn: Deno.Conn): Promise<{ status: number; head: string }> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(65536);
  let text = "";
  while (!text.includes("\r\n\r\n")) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`the connection closed without an answer: ${text}`);
    text += decoder.decode(buffer.subarray(0, n), { stream: true });
  }
  const head = text.slice(0, text.indexOf("\r\n\r\n"));
  return { status: Number(head.split(" ")[1]), head: head.toLowerCase() };
}

Deno.test("README HTTP: every status code of the table is what the collector answers", async () => {
  const rows = section("What each status code means").split("\n")
    .map((l) => /^\| (\d{3}) +\|/.exec(l)?.[1]).filter((c) => c !== undefined).map(Number);
  assert.ok(rows.length >= 13, rows.join(", "));
  await withCollector(async (collector, _dir, token) => {
    const port = collector.port;
    const mcp = `${collector.origin}/mcp`;
    const json = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    };
    const initialize = JSON.stringify(initializeRequest("t"));
    const post = async (body: string, headers: Record<string, string> = {}) => {
      const answer = await fetch(mcp, { method: "POST", headers: { ...json, ...headers }, body });
      const text = await answer.text();
      return { status: answer.status, headers: answer.headers, parsed: () => JSON.parse(text) };
    };
    const call = (name: string, args: unknown) =>
      JSON.stringify({
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name, arguments: args },
      });
    const get = async (url: string, init: RequestInit = {}) => {
      const answer = await fetch(url, init);
      await answer.body?.cancel();
      return answer;
    };
    /** How each code of the table is provoked; every check can fail on its own. */
    const provoke: Record<number, () => Promise<void>> = {
      200: async () => {
        assert.equal((await post(initialize)).status, 200);
        // A JSON-RPC error, and a tool result whose status is error, are 200s too.
        const unknown = await post(call("no_such_tool", {}));
        assert.equal(unknown.status, 200);
        assert.equal(unknown.parsed().error.code, -32602);
        const refused = await post(call("list_sessions", {}));
        assert.equal(refused.status, 200);
        assert.equal(refused.parsed().result.structuredContent.status, "error");
        assert.equal((await get(`${collector.origin}/healthz`)).status, 200);
        const metrics = await get(`${collector.origin}/metrics`, {
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(metrics.status, 200);
      },
      202: async () => {
        const answer = await post(
          JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
        );
        assert.equal(answer.status, 202);
      },
      204: async () => {
        const answer = await get(mcp, {
          method: "OPTIONS",
          headers: { origin: "http://localhost:3000" },
        });
        assert.equal(answer.status, 204);
      },
      400: async () => {
        assert.equal((await post("{not json")).status, 400);
        assert.equal((await post(`[${initialize}]`)).status, 400);
        assert.equal(
          (await post(initialize, { "mcp-protocol-version": "1999-01-01" })).status,
          400,
        );
      },
      401: async () => {
        const bad = await post(initialize, { authorization: "Bearer not-a-token" });
        assert.equal(bad.status, 401);
        // The error answers of /mcp are JSON-RPC error objects without an id.
        assert.equal(bad.headers.get("content-type"), "application/json");
        assert.deepEqual(Object.keys(bad.parsed()), ["jsonrpc", "error"]);
        assert.equal(
          bad.headers.get("www-authenticate"),
          'Bearer realm="session-buddy", error="invalid_token"',
        );
        const bare = await get(`${collector.origin}/metrics`);
        assert.equal(bare.status, 401);
        assert.equal(bare.headers.get("www-authenticate"), 'Bearer realm="session-buddy"');
        assert.match(bare.headers.get("content-type")!, /^text\/plain/);
      },
      403: async () => {
        const host = await raw(
          port,
          "GET /healthz HTTP/1.1\r\nHost: evil.example.com\r\nConnection: close\r\n\r\n",
        );
        assert.equal(host.status, 403);
        assert.match(host.head, /content-type: text\/plain/);
        const origin = await raw(
          port,
          `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: https://evil.example.com\r\nConnection: close\r\n\r\n`,
        );
        assert.equal(origin.status, 403);
      },
      404: async () => {
        assert.equal(
          (await get(`${collector.origin}/.well-known/oauth-protected-resource`)).status,
          404,
        );
        assert.equal((await get(`${collector.origin}/`)).status, 404);
      },
      405: async () => {
        const answer = await get(mcp);
        assert.equal(answer.status, 405);
        assert.equal(answer.headers.get("allow"), "POST");
        const health = await get(`${collector.origin}/healthz`, { method: "POST" });
        assert.equal(health.status, 405);
      },
      406: async () => {
        assert.equal((await post(initialize, { accept: "text/html" })).status, 406);
      },
      413: async () => {
        const answer = await raw(
          port,
          `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${
            1024 * 1024 + 1
          }\r\nConnection: close\r\n\r\n`,
        );
        assert.equal(answer.status, 413);
      },
      415: async () => {
        assert.equal((await post(initialize, { "content-type": "text/plain" })).status, 415);
      },
    };
    for (const [code, check] of Object.entries(provoke)) {
      await check().catch((error) => {
        throw new Error(`status ${code}: ${error.message}`);
      });
    }

    // 503 and 408 together: 512 requests whose bodies never arrive fill every place; a
    // 513th gets 503, and each of the 512 gets 408 when its 30 s are up.
    const hold = async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(new TextEncoder().encode(
        `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{`,
      ));
      return conn;
    };
    // In batches: 512 connections at once would overflow the listen backlog (511), and a
    // dropped connection attempt is retried only a second or more later.
    const holders: Deno.Conn[] = [];
    for (let i = 0; i < 512; i += 32) {
      holders.push(...await Promise.all(Array.from({ length: 32 }, hold)));
    }
    try {
      let busy: Response | null = null;
      const deadline = Date.now() + 20_000;
      while (!busy) {
        const answer = await get(`${collector.origin}/healthz`);
        if (answer.status === 503) busy = answer;
        else {
          assert.equal(answer.status, 200);
          assert.ok(Date.now() < deadline, "the collector never got busy");
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      assert.equal(busy.headers.get("retry-after"), "1");
      assert.equal(busy.headers.get("content-type"), "application/json");
      if (FULL) {
        // Each is answered, none left to be cut off.
        const answers = await Promise.all(holders.map(answerOf));
        assert.deepEqual([...new Set(answers.map((a) => a.status))], [408]);
      } else {
        console.log(
          "skipped: the 30 s wait for 408 runs in deno task stress (unit tests cover 408)",
        );
      }
    } finally {
      for (const conn of holders) {
        try {
          conn.close();
        } catch { /* closed by the collector */ }
      }
    }
    const covered = [...Object.keys(provoke).map(Number), 408, 503];
    if (!FULL) covered.splice(covered.indexOf(408), 1);
    // 500 is a failure inside the collector, which no request can provoke on purpose.
    assert.deepEqual(rows.filter((c) => c !== 500 && (FULL || c !== 408)).sort(), covered.sort());
  });
});

Deno.test("README fleet: export | import moves a host's Deno KV store into PostgreSQL, twice safely", async () => {
  const cluster = await pg();
  if (!cluster) return skipWithoutPg("the README's export | import line");
  const pipeline = line("A fleet on PostgreSQL", "session-buddy sessions export --db ");
  const database = await cluster.createDatabase();
  const { dir, cleanup } = await tempDir();
  try {
    // The host's store where the line looks for it: the default store under HOME.
    const { env } = await shellEnv(dir, { HOME: dir, SESSION_BUDDY_DB: database.url });
    const host = await startServer({ env: { HOME: dir } });
    const ids: string[] = [];
    try {
      for (const component of ["mahavishnu", "oneiric", "mahavishnu"]) {
        const r = await host.call("track_session_start", startArgs({ component_name: component }));
        ids.push(String(r.session_id));
      }
    } finally {
      await host.close();
    }
    const first = await sh(pipeline, env, dir);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout.trim(), "Imported 3 sessions; skipped 0 already in the store.");
    const again = await sh(pipeline, env, dir);
    assert.equal(again.stdout.trim(), "Imported 0 sessions; skipped 3 already in the store.");
    const rows = await database.query("SELECT session_id FROM session_buddy.sessions ORDER BY 1");
    assert.deepEqual(rows.map((r) => r.session_id), [...ids].sort());
    // A start after the move continues the id counters the imported sessions used.
    const fleet = await startServer({ env: { HOME: dir, SESSION_BUDDY_DB: database.url } });
    try {
      const stored = JSON.parse(String(
        (await database.query(
          "SELECT record FROM session_buddy.sessions WHERE session_id = $1",
          [ids[0]],
        ))[0]!.record,
      ));
      const next = await fleet.call(
        "track_session_start",
        startArgs({ component_name: "mahavishnu", timestamp: stored.timestamp }),
      );
      assert.match(String(next.session_id), /-[2-9]$/, JSON.stringify(next));
      assert.ok(!ids.includes(String(next.session_id)));
    } finally {
      await fleet.close();
    }
  } finally {
    await cleanup();
    await database.drop();
  }
});
