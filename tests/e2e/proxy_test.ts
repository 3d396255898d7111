/**
 * docs/proxies.md runs as written: its nginx server block (the ```nginx block) in front of
 * collectors started with its `session-buddy serve` lines, with a real nginx from the
 * distribution's packages, and its table of status codes row by row against a collector.
 *
 * What a test machine cannot have is replaced, and only that: the ports (443 and 8765 may
 * be taken or need root; nginx listens on 127.0.0.1), the certificate (a throwaway CA and a
 * certificate for collector.example.com, tests/helpers/tls.ts), the name's address (curl
 * --resolve points collector.example.com at 127.0.0.1), and the folders nginx writes
 * (tests/fixtures/proxy/nginx.conf keeps them in a temporary prefix). Each collector gets a
 * fresh store and a secret from the environment, as the page says.
 *
 * Without nginx (or curl, or openssl) the proxy test prints one plain "proxy_test: skipped:
 * ..." line; with CI=true it fails instead (.ci/run installs nginx).
 */
import assert from "node:assert/strict";
import { freePort } from "../helpers/http.ts";
import {
  compiledBinary,
  DENO_DIR,
  initializeRequest,
  mintToken,
  programCommand,
  ROOT,
  runCommand,
  runtimeEnv,
  SECRET,
  startArgs,
  tempDir,
} from "../helpers/server.ts";
import { makeTestCa, signServerCert } from "../helpers/tls.ts";
import denoJson from "../../deno.json" with { type: "json" };

const DOC = `${ROOT}docs/proxies.md`;
const TEXT = await Deno.readTextFile(DOC);
const NGINX_MAIN = `${ROOT}tests/fixtures/proxy/nginx.conf`;
const IN_CI = Deno.env.get("CI") === "true";
/** `deno task stress` also waits out the 30 s body deadline. */
const FULL = (Deno.env.get("SESSION_BUDDY_STRESS") ?? "").toLowerCase() === "full";
/** The public name of the page's examples. */
const NAME = "collector.example.com";
const MODERN = "2026-07-28";
const META = {
  "io.modelcontextprotocol/protocolVersion": MODERN,
  "io.modelcontextprotocol/clientCapabilities": {},
};

/** A tool this machine lacks: fails in CI, says plainly that it skipped elsewhere. */
function skipped(what: string): void {
  if (IN_CI) assert.fail(`proxy_test: ${what} (CI=true: .ci/run must install it)`);
  console.log(`proxy_test: skipped: ${what}`);
}

/** The text of the section headed `title` (`## ` or `### `), up to the next heading. */
function section(title: string): string {
  const m = new RegExp(`^(#{2,3}) ${title.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\n`, "m")
    .exec(TEXT);
  assert.ok(m, `${DOC} has a section "${title}"`);
  const rest = TEXT.slice(m.index + m[0].length);
  const end = rest.search(/^#{2,3} /m);
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

/** `text` with `from` replaced by `to`, which must occur exactly once. */
function replaceOnce(text: string, from: string | RegExp, to: string): string {
  const count = typeof from === "string"
    ? text.split(from).length - 1
    : [...text.matchAll(new RegExp(from, "g"))].length;
  assert.equal(count, 1, `exactly one ${from} in:\n${text}`);
  return text.replace(from, to);
}

const LOOPBACK_SECTION = "nginx in front of a loopback collector";
const NO_HOST_SECTION = "Without `--allowed-host`";
const OTHER_HOST_SECTION = "A collector on another host";
const STATUS_SECTION = "What each status code means";

/** The page's `session-buddy serve --http ...` line in a section. */
function serveLine(title: string): string {
  const lines = blocks(title, "sh").flatMap((b) => b.trim().split("\n"))
    .filter((l) => l.startsWith("session-buddy serve --http "));
  assert.equal(lines.length, 1, `one serve line in "${title}"`);
  return lines[0]!;
}

/** A collector started from one of the page's lines. */
interface Collector {
  port: number;
  origin: string;
  stderr(): string;
  /** Sends `signal` (SIGTERM by default) and returns the exit status. */
  stop(signal?: Deno.Signal): Promise<number>;
  /** Whether the process has exited. */
  exited(): boolean;
}

/**
 * Starts `session-buddy serve --http HOST:PORT ...` from a line of the page, its port
 * replaced by a free one, with a fresh store in `dir` and the test secret (both from the
 * environment, as the page leaves them to it), and waits for its "serving MCP on" line.
 */
async function startCollector(
  line: string,
  dir: string,
  env: Record<string, string> = {},
): Promise<Collector> {
  const words = line.trim().split(/\s+/);
  assert.deepEqual(words.slice(0, 3), ["session-buddy", "serve", "--http"], line);
  const port = freePort();
  const listen = words[3]!.replace(/:\d+$/, `:${port}`);
  const args = ["serve", "--http", listen, ...words.slice(4)];
  const bin = compiledBinary();
  const command = bin ? { command: bin, args } : programCommand(args);
  await Deno.mkdir(dir, { recursive: true });
  const child = new Deno.Command(command.command, {
    args: command.args,
    env: {
      ...runtimeEnv(),
      DENO_DIR,
      NO_COLOR: "1",
      HOME: dir,
      SESSION_BUDDY_SECRET: SECRET,
      SESSION_BUDDY_DB: `${dir}/sessions.kv`,
      ...env,
    },
    clearEnv: true,
    cwd: dir,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let errText = "";
  const decoder = new TextDecoder();
  const pump = (async () => {
    for await (const chunk of child.stderr) errText += decoder.decode(chunk, { stream: true });
  })();
  let done = false;
  const status = child.status.finally(() => done = true);
  const until = Date.now() + 30_000;
  while (!errText.includes("serving MCP on")) {
    if (done || Date.now() > until) {
      if (!done) child.kill("SIGKILL");
      await status;
      await pump;
      assert.fail(`${line} did not start:\n${errText}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    stderr: () => errText,
    exited: () => done,
    async stop(signal: Deno.Signal = "SIGTERM") {
      if (!done) {
        try {
          child.kill(signal);
        } catch { /* already gone */ }
      }
      const { code } = await status;
      await pump;
      return code;
    },
  };
}

/** Where nginx is: on PATH, or in the sbin folders a user's PATH may lack. */
async function findNginx(): Promise<string | null> {
  for (const candidate of ["nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx"]) {
    const out = await runCommand(candidate, ["-v"]);
    if (out && out.code === 0) return candidate;
  }
  return null;
}

/** A running nginx. */
interface Nginx {
  /** Its error log so far. */
  errors(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Runs nginx in the foreground as the current user, with the fixture's main configuration
 * around `servers`, in the temporary `prefix`, and waits until every port answers.
 */
async function startNginx(
  nginx: string,
  prefix: string,
  servers: string,
  ports: number[],
): Promise<Nginx> {
  const root = (await runCommand("id", ["-u"]))?.stdout.trim() === "0";
  const conf = (await Deno.readTextFile(NGINX_MAIN))
    .replace(/^@USER@$/m, root ? "user root;" : "")
    .replaceAll("@PREFIX@", prefix)
    .replace(/^@SERVERS@$/m, servers);
  await Deno.writeTextFile(`${prefix}/nginx.conf`, conf);
  const child = new Deno.Command(nginx, {
    args: [
      "-c",
      `${prefix}/nginx.conf`,
      "-p",
      prefix,
      "-g",
      `daemon off; pid ${prefix}/nginx.pid; error_log ${prefix}/error.log;`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  let done = false;
  output.finally(() => done = true);
  const errors = () => Deno.readTextFile(`${prefix}/error.log`).catch(() => "");
  const until = Date.now() + 15_000;
  for (const port of ports) {
    while (true) {
      if (done || Date.now() > until) {
        if (!done) child.kill("SIGKILL");
        const out = await output;
        assert.fail(
          `nginx did not start:\n${new TextDecoder().decode(out.stderr)}\n${await errors()}`,
        );
      }
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
  return {
    errors,
    async stop() {
      if (!done) child.kill("SIGTERM");
      await output;
    },
  };
}

/** An answer as curl received it. */
interface Answer {
  status: number;
  /** `1.1` or `2`. */
  version: string;
  headers: Headers;
  body: string;
  json(): Record<string, unknown>;
}

/**
 * Speaks to the proxy with curl, resolving collector.example.com to 127.0.0.1 and trusting
 * the test CA, as a client on the network would.
 */
function curlClient(dir: string, ca: string, ports: number[]) {
  let n = 0;
  const resolve = ports.flatMap((p) => ["--resolve", `${NAME}:${p}:127.0.0.1`]);
  return {
    /** The options the page's curl lines get on this machine. */
    options: [...resolve, "--cacert", ca],
    async request(
      url: string,
      options: {
        method?: string;
        headers?: Record<string, string>;
        body?: string | Uint8Array;
        http2?: boolean;
      } = {},
    ): Promise<Answer> {
      n++;
      const args = [
        "-sS",
        ...resolve,
        "--cacert",
        ca,
        options.http2 ? "--http2" : "--http1.1",
        "-D",
        `${dir}/h${n}`,
        "-o",
        `${dir}/b${n}`,
        "-w",
        "%{http_code} %{http_version}",
      ];
      if (options.method) args.push("-X", options.method);
      for (const [k, v] of Object.entries(options.headers ?? {})) args.push("-H", `${k}: ${v}`);
      if (options.body !== undefined) {
        await Deno.writeFile(
          `${dir}/q${n}`,
          typeof options.body === "string" ? new TextEncoder().encode(options.body) : options.body,
        );
        args.push("--data-binary", `@${dir}/q${n}`);
      }
      args.push(url);
      const out = await runCommand("curl", args);
      assert.ok(out, "curl runs");
      assert.equal(out.code, 0, `curl ${args.join(" ")}: ${out.stderr}`);
      const [status, version] = out.stdout.split(" ");
      // The last header block: a 100 Continue may come first.
      const head = (await Deno.readTextFile(`${dir}/h${n}`)).trim().split(/\r\n\r\n/).pop()!;
      const headers = new Headers();
      for (const line of head.split("\r\n").slice(1)) {
        const colon = line.indexOf(":");
        if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      }
      const body = await Deno.readTextFile(`${dir}/b${n}`).catch(() => "");
      return {
        status: Number(status),
        version: version!,
        headers,
        body,
        json: () => JSON.parse(body),
      };
    },
  };
}

const MCP_HEADERS = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
};

/** A `tools/call` request. */
function toolCall(id: number, name: string, args: unknown, meta?: unknown) {
  return {
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: { name, arguments: args, ...(meta ? { _meta: meta } : {}) },
  };
}

/** The structured result of a tool call's answer. */
function structured(answer: { status: number; body: string }): Record<string, unknown> {
  assert.equal(answer.status, 200, answer.body);
  const parsed = JSON.parse(answer.body);
  assert.ok(parsed.result, answer.body);
  return parsed.result.structuredContent;
}

/** The page's server block with what must change on this machine. */
function serverBlock(
  nginxBlock: string,
  proxyPort: number,
  collectorPort: number,
  cert: { certFile: string; keyFile: string },
): string {
  let text = replaceOnce(nginxBlock, /listen 443 /, `listen 127.0.0.1:${proxyPort} `);
  text = replaceOnce(text, /ssl_certificate +\S+;/, `ssl_certificate ${cert.certFile};`);
  text = replaceOnce(text, /ssl_certificate_key +\S+;/, `ssl_certificate_key ${cert.keyFile};`);
  return replaceOnce(
    text,
    "proxy_pass http://127.0.0.1:8765;",
    `proxy_pass http://127.0.0.1:${collectorPort};`,
  );
}

Deno.test("docs/proxies.md: the nginx recipe runs in front of the collector as written", async (t) => {
  // Everything the page shows is read first: a missing block fails even where nginx is not.
  const nginxBlock = block(LOOPBACK_SECTION, "nginx", "proxy_pass");
  const loopbackLine = serveLine(LOOPBACK_SECTION);
  assert.match(loopbackLine, new RegExp(`--allowed-host ${NAME.replaceAll(".", "\\.")}$`));
  const envLine = block(LOOPBACK_SECTION, "ini", "SESSION_BUDDY_ALLOWED_HOSTS").trim();
  const healthCurl = block(LOOPBACK_SECTION, "sh", "curl").trim();
  const healthShown = block(LOOPBACK_SECTION, "text", '"status"').trim();
  const refusedCurl = block(NO_HOST_SECTION, "sh", "curl").trim();
  const refusedShown = block(NO_HOST_SECTION, "text", "403").trim();
  const plainLine = serveLine(OTHER_HOST_SECTION);
  assert.match(plainLine, /--plain-http$/);

  const nginx = await findNginx();
  if (!nginx) return skipped("nginx is not installed");
  if (!(await runCommand("curl", ["--version"]))) return skipped("curl is not installed");
  const { dir, cleanup } = await tempDir();
  const collectors: Collector[] = [];
  let proxy: Nginx | null = null;
  try {
    const ca = await makeTestCa(dir);
    if (!ca) return skipped("openssl is not installed");
    const cert = await signServerCert(dir, "collector", [NAME]);

    // Four collectors, each behind its own copy of the page's server block: the page's
    // loopback line; the same without --allowed-host; the same with the name from the
    // environment file instead; and the --plain-http line on every address.
    const withoutFlag = loopbackLine.replace(/ --allowed-host \S+/, "");
    const [name, value] = envLine.split("=") as [string, string];
    const started = await Promise.all([
      startCollector(loopbackLine, `${dir}/a`),
      startCollector(withoutFlag, `${dir}/b`),
      startCollector(withoutFlag, `${dir}/c`, { [name]: value }),
      startCollector(plainLine, `${dir}/d`),
    ]);
    collectors.push(...started);
    const [allowed, refusing, fromEnv, plain] = started as [
      Collector,
      Collector,
      Collector,
      Collector,
    ];
    // A fifth copy without `proxy_set_header Host $host;`, in front of the collector without
    // --allowed-host, for what the page says of dropping that line.
    const noHostBlock = replaceOnce(nginxBlock, /\n *proxy_set_header Host \$host;/, "");
    const targets: [string, Collector][] = [
      ...started.map((c): [string, Collector] => [nginxBlock, c]),
      [noHostBlock, refusing],
    ];
    const ports = targets.map(() => freePort());
    const servers = targets.map(([text, c], i) => serverBlock(text, ports[i]!, c.port, cert))
      .join("\n");
    await Deno.mkdir(`${dir}/nginx`);
    proxy = await startNginx(nginx, `${dir}/nginx`, servers, ports);
    const client = curlClient(dir, `${dir}/ca.crt`, ports);
    const base = (i: number) => `https://${NAME}:${ports[i]}`;
    const token = await mintToken();
    const bearer = { authorization: `Bearer ${token}` };

    /** A line of the page run by sh, with the machine's curl options and the proxy's port. */
    const shLine = async (line: string, i: number) => {
      const script = replaceOnce(line, /^curl /, `curl ${client.options.join(" ")} `)
        .replace(`https://${NAME}/`, `${base(i)}/`);
      const out = await runCommand("sh", ["-ec", script]);
      assert.ok(out);
      assert.equal(out.code, 0, `${script}: ${out.stderr}`);
      return out.stdout.trim();
    };

    await t.step(
      "with --allowed-host: the seed's start is tracked, over HTTP/1.1 and HTTP/2",
      async () => {
        for (const http2 of [false, true]) {
          const init = await client.request(`${base(0)}/mcp`, {
            method: "POST",
            headers: MCP_HEADERS,
            body: JSON.stringify(initializeRequest("proxy-test")),
            http2,
          });
          assert.equal(init.status, 200, init.body);
          assert.equal(init.version, http2 ? "2" : "1.1");
          // The seed passes its token as the tool's argument...
          const seed = await client.request(`${base(0)}/mcp`, {
            method: "POST",
            headers: MCP_HEADERS,
            body: JSON.stringify(toolCall(2, "track_session_start", startArgs({ token }))),
            http2,
          });
          assert.equal(structured(seed).status, "tracked", seed.body);
          // ...and a client may send it as a bearer header, which nginx passes on.
          const viaHeader = await client.request(`${base(0)}/mcp`, {
            method: "POST",
            headers: { ...MCP_HEADERS, ...bearer },
            body: JSON.stringify(toolCall(3, "track_session_start", startArgs())),
            http2,
          });
          assert.equal(structured(viaHeader).status, "tracked", viaHeader.body);
          const refused = await client.request(`${base(0)}/mcp`, {
            method: "POST",
            headers: { ...MCP_HEADERS, authorization: "Bearer not-a-token" },
            body: JSON.stringify(toolCall(4, "track_session_start", startArgs())),
            http2,
          });
          assert.equal(refused.status, 401, refused.body);
          assert.match(refused.headers.get("www-authenticate")!, /error="invalid_token"/);
        }
      },
    );

    await t.step(
      "the page's curl line gets /healthz as shown; /metrics needs the bearer token",
      async () => {
        const shown = JSON.parse(healthShown);
        assert.deepEqual(JSON.parse(await shLine(healthCurl, 0)), {
          ...shown,
          version: denoJson.version,
        });
        const metrics = await client.request(`${base(0)}/metrics`, { headers: bearer });
        assert.equal(metrics.status, 200, metrics.body);
        assert.match(metrics.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
        assert.match(
          metrics.body,
          /^session_buddy_tool_calls_total\{tool="track_session_start",status="tracked"\} 4$/m,
        );
        assert.equal((await client.request(`${base(0)}/metrics`)).status, 401);
        const h2 = await client.request(`${base(0)}/healthz`, { http2: true });
        assert.equal(h2.status, 200, h2.body);
      },
    );

    await t.step("MCP 2026-07-28: the envelope and its headers pass the proxy", async () => {
      for (const http2 of [false, true]) {
        const modern = {
          ...MCP_HEADERS,
          ...bearer,
          "mcp-protocol-version": MODERN,
          "mcp-method": "tools/call",
          "mcp-name": "track_session_start",
        };
        const answer = await client.request(`${base(0)}/mcp`, {
          method: "POST",
          headers: modern,
          body: JSON.stringify(toolCall(7, "track_session_start", startArgs(), META)),
          http2,
        });
        assert.equal(structured(answer).status, "tracked", answer.body);
        // The collector sees the headers as sent: one that differs from the body is refused.
        const mismatch = await client.request(`${base(0)}/mcp`, {
          method: "POST",
          headers: { ...modern, "mcp-name": "list_sessions" },
          body: JSON.stringify(toolCall(8, "track_session_start", startArgs(), META)),
          http2,
        });
        assert.equal(mismatch.status, 400, mismatch.body);
        assert.equal(mismatch.json().id, 8);
        assert.equal((mismatch.json().error as { code: number }).code, -32020);
        const discover = await client.request(`${base(0)}/mcp`, {
          method: "POST",
          headers: { ...modern, "mcp-method": "server/discover" },
          body: JSON.stringify({
            jsonrpc: "2.0",
            id: 9,
            method: "server/discover",
            params: { _meta: META },
          }),
          http2,
        });
        assert.equal(discover.status, 200, discover.body);
      }
    });

    await t.step("client_max_body_size 1m is the collector's 1 MiB", async () => {
      const message = JSON.stringify(initializeRequest("proxy-test"));
      const exact = message + " ".repeat(1024 * 1024 - message.length);
      const atLimit = await client.request(`${base(0)}/mcp`, {
        method: "POST",
        headers: MCP_HEADERS,
        body: exact,
      });
      assert.equal(atLimit.status, 200, atLimit.body.slice(0, 200));
      const over = await client.request(`${base(0)}/mcp`, {
        method: "POST",
        headers: MCP_HEADERS,
        body: exact + " ",
      });
      assert.equal(over.status, 413);
      // nginx's own page: the collector never saw it.
      assert.match(over.headers.get("content-type")!, /^text\/html/);
    });

    await t.step("a request under a name not allowed gets 403 through the proxy", async () => {
      const foreign = await client.request(`${base(0)}/healthz`, {
        headers: { host: "rebound.example.net" },
      });
      assert.equal(foreign.status, 403, foreign.body);
    });

    await t.step(
      "without --allowed-host the collector answers 403, as the page shows",
      async () => {
        assert.equal(await shLine(refusedCurl, 1), refusedShown);
        for (const http2 of [false, true]) {
          const mcp = await client.request(`${base(1)}/mcp`, {
            method: "POST",
            headers: { ...MCP_HEADERS, ...bearer },
            body: JSON.stringify(toolCall(2, "track_session_start", startArgs())),
            http2,
          });
          assert.equal(mcp.status, 403, mcp.body);
          const metrics = await client.request(`${base(1)}/metrics`, { headers: bearer, http2 });
          assert.equal(metrics.status, 403, metrics.body);
          // Without the Host line nginx sends 127.0.0.1:PORT, which passes.
          const proxyHost = await client.request(`${base(4)}/healthz`, { http2 });
          assert.equal(proxyHost.status, 200, proxyHost.body);
        }
      },
    );

    await t.step(`the environment file's ${name} does what --allowed-host does`, async () => {
      const health = await client.request(`${base(2)}/healthz`);
      assert.equal(health.status, 200, health.body);
      const seed = await client.request(`${base(2)}/mcp`, {
        method: "POST",
        headers: MCP_HEADERS,
        body: JSON.stringify(toolCall(2, "track_session_start", startArgs({ token }))),
      });
      assert.equal(structured(seed).status, "tracked", seed.body);
    });

    await t.step(
      "a --plain-http collector on every address takes the public Host as it is",
      async () => {
        const seed = await client.request(`${base(3)}/mcp`, {
          method: "POST",
          headers: MCP_HEADERS,
          body: JSON.stringify(toolCall(2, "track_session_start", startArgs({ token }))),
          http2: true,
        });
        assert.equal(structured(seed).status, "tracked", seed.body);
        assert.equal((await client.request(`${base(3)}/healthz`)).status, 200);
      },
    );

    await t.step("a collector that is not running: nginx answers 502", async () => {
      assert.equal(await plain.stop(), 0, plain.stderr());
      const answer = await client.request(`${base(3)}/healthz`);
      assert.equal(answer.status, 502);
    });

    for (const c of [allowed, refusing, fromEnv]) assert.equal(await c.stop(), 0, c.stderr());
    assert.doesNotMatch(await proxy.errors(), /\[(emerg|alert|crit)\]/);
  } finally {
    await proxy?.stop();
    for (const c of collectors) if (!c.exited()) await c.stop("SIGKILL");
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

/** A row of the status table. */
interface Row {
  code: number;
  when: string;
}

/** The rows of the page's status table. */
function statusRows(): Row[] {
  return section(STATUS_SECTION).split("\n").flatMap((l) => {
    const m = /^\| (\d{3}) +\| (.+?) +\| .+\|$/.exec(l);
    return m ? [{ code: Number(m[1]), when: m[2]! }] : [];
  });
}

Deno.test("docs/proxies.md: every row of the status table is what the collector answers", async () => {
  const rows = statusRows();
  assert.ok(rows.length >= 20, `the table has its rows: ${rows.length}`);
  const { dir, cleanup } = await tempDir();
  // The collector of the page's loopback line, with a secret.
  const collector = await startCollector(serveLine(LOOPBACK_SECTION), `${dir}/c`);
  let stopped = false;
  try {
    const { port, origin } = collector;
    const mcp = `${origin}/mcp`;
    const token = await mintToken();
    const bearer = { authorization: `Bearer ${token}` };
    const post = async (body: string, headers: Record<string, string> = {}) => {
      const answer = await fetch(mcp, {
        method: "POST",
        headers: { ...MCP_HEADERS, ...headers },
        body,
      });
      const text = await answer.text();
      return { status: answer.status, headers: answer.headers, body: text };
    };
    const get = async (url: string, init: RequestInit = {}) => {
      const answer = await fetch(url, init);
      const text = await answer.text();
      return { status: answer.status, headers: answer.headers, body: text };
    };
    /** A JSON-RPC error answer of /mcp, with the `id` member (the request's, or null). */
    const rpcError = (
      answer: { status: number; headers: Headers; body: string },
      status: number,
      code: number,
      id: string | number | null,
    ) => {
      assert.equal(answer.status, status, answer.body);
      assert.equal(answer.headers.get("content-type"), "application/json");
      const parsed = JSON.parse(answer.body);
      assert.equal(parsed.jsonrpc, "2.0");
      assert.ok("id" in parsed, `an id member: ${answer.body}`);
      assert.equal(parsed.id, id, answer.body);
      assert.equal(parsed.error.code, code, answer.body);
      return parsed;
    };
    const initialize = JSON.stringify(initializeRequest("proxy-test"));
    const modern = (method: string, params: Record<string, unknown> = {}, id = 5) =>
      JSON.stringify({ jsonrpc: "2.0", id, method, params: { ...params, _meta: META } });
    const modernHeaders = (method: string, name?: string) => ({
      ...bearer,
      "mcp-protocol-version": MODERN,
      "mcp-method": method,
      ...(name ? { "mcp-name": name } : {}),
    });
    const count400 = async () => {
      const scrape = await get(`${origin}/metrics`, { headers: bearer });
      const m = /^session_buddy_http_requests_total\{code="400"\} (\d+)$/m.exec(scrape.body);
      return m ? Number(m[1]) : 0;
    };

    /**
     * How each row is provoked, found by a phrase of its "when" cell; every check can fail
     * on its own. Rows no request here can provoke say where they are covered instead.
     */
    const checks: { code: number; phrase: string; run: () => Promise<unknown> | string }[] = [
      {
        code: 200,
        phrase: "unknown tool",
        run: async () => {
          assert.equal((await post(initialize)).status, 200);
          rpcError(await post(JSON.stringify(toolCall(2, "no_such_tool", {}))), 200, -32602, 2);
          // A tool's own failure is a 200 too.
          const refused = await post(JSON.stringify(toolCall(3, "list_sessions", {})));
          assert.equal(refused.status, 200);
          assert.equal(JSON.parse(refused.body).result.structuredContent.status, "error");
        },
      },
      {
        code: 200,
        phrase: "batch (an array) with",
        run: async () => {
          const batch = JSON.stringify([
            initializeRequest("proxy-test"),
            { jsonrpc: "2.0", id: 2, method: "tools/list" },
          ]);
          const answer = await post(batch, { "mcp-protocol-version": "2025-03-26" });
          assert.equal(answer.status, 200, answer.body);
          assert.deepEqual(JSON.parse(answer.body).map((r: { id: number }) => r.id), [1, 2]);
        },
      },
      {
        code: 200,
        phrase: "`/healthz`: the store answered",
        run: async () => {
          const health = await get(`${origin}/healthz`, { headers: { authorization: "x" } });
          assert.equal(health.status, 200);
          assert.equal(JSON.parse(health.body).status, "ok");
          assert.equal((await get(`${origin}/metrics`, { headers: bearer })).status, 200);
        },
      },
      {
        code: 202,
        phrase: "notification or a response",
        run: async () => {
          const note = await post(
            JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
          );
          assert.equal(note.status, 202);
          assert.equal(note.body, "");
          const response = await post(JSON.stringify({ jsonrpc: "2.0", id: 9, result: {} }));
          assert.equal(response.status, 202);
        },
      },
      {
        code: 204,
        phrase: "preflight",
        run: async () => {
          const answer = await get(mcp, {
            method: "OPTIONS",
            headers: { origin: "http://localhost:5173" },
          });
          assert.equal(answer.status, 204);
        },
      },
      {
        code: 400,
        phrase: "not JSON (-32700)",
        run: async () => {
          rpcError(await post("{not json"), 400, -32700, null);
          const envelope = JSON.stringify({ jsonrpc: "1.0", id: 3, method: "tools/list" });
          rpcError(await post(envelope), 400, -32600, 3);
        },
      },
      {
        code: 400,
        phrase: "batch without",
        run: async () => {
          rpcError(await post(`[${initialize}]`), 400, -32600, null);
          const other = await post(`[${initialize}]`, { "mcp-protocol-version": "2025-06-18" });
          rpcError(other, 400, -32600, null);
        },
      },
      {
        code: 400,
        phrase: "(-32022)",
        run: async () => {
          const header = await post(initialize, { "mcp-protocol-version": "1999-01-01" });
          const parsed = rpcError(header, 400, -32022, 1);
          assert.ok(parsed.error.data.supported.includes(MODERN), header.body);
          const meta = JSON.stringify({
            jsonrpc: "2.0",
            id: 4,
            method: "tools/list",
            params: { _meta: { ...META, "io.modelcontextprotocol/protocolVersion": "1999-01-01" } },
          });
          rpcError(await post(meta), 400, -32022, 4);
        },
      },
      {
        code: 400,
        phrase: "(-32602)",
        run: async () => {
          const bare = JSON.stringify({ jsonrpc: "2.0", id: 6, method: "tools/list" });
          rpcError(await post(bare, modernHeaders("tools/list")), 400, -32602, 6);
          const noCapabilities = JSON.stringify({
            jsonrpc: "2.0",
            id: 7,
            method: "tools/list",
            params: { _meta: { "io.modelcontextprotocol/protocolVersion": MODERN } },
          });
          rpcError(await post(noCapabilities, modernHeaders("tools/list")), 400, -32602, 7);
        },
      },
      {
        code: 400,
        phrase: "(-32020)",
        run: async () => {
          const list = modern("tools/list");
          const { "mcp-method": _, ...noMethod } = modernHeaders("tools/list");
          rpcError(await post(list, noMethod), 400, -32020, 5);
          rpcError(await post(list, modernHeaders("tools/call")), 400, -32020, 5);
          const call = JSON.stringify(toolCall(8, "list_sessions", {}, META));
          rpcError(await post(call, modernHeaders("tools/call", "get_session")), 400, -32020, 8);
          const versions = { ...modernHeaders("tools/list"), "mcp-protocol-version": "2025-06-18" };
          rpcError(await post(list, versions), 400, -32020, 5);
          // With the headers right, the same request is answered.
          assert.equal((await post(list, modernHeaders("tools/list"))).status, 200);
        },
      },
      {
        code: 400,
        phrase: "hung up",
        run: async () => {
          const before = await count400();
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          await conn.write(new TextEncoder().encode(
            `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"js`,
          ));
          await new Promise((r) => setTimeout(r, 200));
          conn.close();
          const until = Date.now() + 5000;
          while (await count400() === before) {
            assert.ok(Date.now() < until, "the cut-off request was never counted as a 400");
            await new Promise((r) => setTimeout(r, 50));
          }
        },
      },
      {
        code: 401,
        phrase: "`Bearer <token>`",
        run: async () => {
          for (const header of ["Basic dXNlcjpwdw==", "Bearer not-a-token"]) {
            const answer = await post(initialize, { authorization: header });
            rpcError(answer, 401, -32001, null);
            assert.equal(
              answer.headers.get("www-authenticate"),
              'Bearer realm="session-buddy", error="invalid_token"',
            );
          }
          const expired = await mintToken({ exp: Math.floor(Date.now() / 1000) - 60 });
          rpcError(
            await post(initialize, { authorization: `Bearer ${expired}` }),
            401,
            -32001,
            null,
          );
        },
      },
      {
        code: 401,
        phrase: "`/metrics` without",
        run: async () => {
          const bare = await get(`${origin}/metrics`);
          assert.equal(bare.status, 401);
          assert.equal(bare.headers.get("www-authenticate"), 'Bearer realm="session-buddy"');
          assert.match(bare.headers.get("content-type")!, /^text\/plain/);
        },
      },
      {
        code: 403,
        phrase: "`Host` not loopback",
        run: async () => {
          const ask = (host: string) =>
            raw(port, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
          const foreign = await ask("evil.example.com");
          assert.equal(foreign.status, 403);
          assert.match(foreign.head, /content-type: text\/plain/);
          // The name of --allowed-host, with any port and in any case, and loopback names.
          for (const host of [NAME, `${NAME.toUpperCase()}:443`, "localhost", "[::1]:1"]) {
            assert.equal((await ask(host)).status, 200, host);
          }
        },
      },
      {
        code: 403,
        phrase: "`Origin` not in",
        run: async () => {
          const evil = await get(`${origin}/healthz`, {
            headers: { origin: "https://evil.example.com" },
          });
          assert.equal(evil.status, 403);
          const local = await get(`${origin}/healthz`, {
            headers: { origin: "http://localhost:5173" },
          });
          assert.equal(local.status, 200);
        },
      },
      {
        code: 404,
        phrase: "a path but",
        run: async () => {
          for (const path of ["/.well-known/oauth-protected-resource", "/", "/mcp/"]) {
            const answer = await get(`${origin}${path}`);
            assert.equal(answer.status, 404, path);
            assert.match(answer.headers.get("content-type")!, /^text\/plain/);
          }
        },
      },
      {
        code: 404,
        phrase: "`initialize` (-32601)",
        run: async () => {
          const params = JSON.parse(initialize).params;
          rpcError(
            await post(modern("initialize", params), modernHeaders("initialize")),
            404,
            -32601,
            5,
          );
          // What the advice names is there.
          const discover = await post(modern("server/discover"), modernHeaders("server/discover"));
          assert.equal(discover.status, 200, discover.body);
        },
      },
      {
        code: 405,
        phrase: "`Allow: POST`",
        run: async () => {
          for (const method of ["GET", "DELETE"]) {
            const answer = await get(mcp, { method });
            rpcError(answer, 405, -32600, null);
            assert.equal(answer.headers.get("allow"), "POST");
          }
          for (const path of ["/healthz", "/metrics"]) {
            assert.equal((await get(`${origin}${path}`, { method: "POST" })).status, 405);
          }
        },
      },
      {
        code: 406,
        phrase: "`Accept`",
        run: async () =>
          rpcError(await post(initialize, { accept: "text/html" }), 406, -32600, null),
      },
      {
        code: 408,
        phrase: "30 s",
        run: async () => {
          if (!FULL) {
            return "skipped: the 30 s wait for 408 runs in deno task stress (unit tests cover 408)";
          }
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          try {
            await conn.write(new TextEncoder().encode(
              `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{`,
            ));
            assert.equal((await answerOf(conn)).status, 408);
          } finally {
            conn.close();
          }
        },
      },
      {
        code: 413,
        phrase: "over 1 MiB",
        run: async () => {
          const declared = await raw(
            port,
            `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${
              1024 * 1024 + 1
            }\r\nConnection: close\r\n\r\n`,
          );
          assert.equal(declared.status, 413);
          // Sent without a length: counted as it arrives.
          const stream = new ReadableStream<Uint8Array>({
            start(controller) {
              const chunk = new TextEncoder().encode(" ".repeat(64 * 1024));
              for (let i = 0; i < 17; i++) controller.enqueue(chunk);
              controller.close();
            },
          });
          const sent = await fetch(mcp, { method: "POST", headers: MCP_HEADERS, body: stream });
          const text = await sent.text();
          rpcError({ status: sent.status, headers: sent.headers, body: text }, 413, -32600, null);
        },
      },
      {
        code: 415,
        phrase: "`Content-Type`",
        run: async () =>
          rpcError(await post(initialize, { "content-type": "text/plain" }), 415, -32600, null),
      },
      {
        code: 500,
        phrase: "failure inside",
        run: () => "not provoked: no request makes the collector fail on purpose",
      },
      {
        code: 503,
        phrase: "512 requests",
        run: async () => {
          // 512 requests whose bodies never arrive fill every place; the 513th gets 503. In
          // batches: 512 connections at once would overflow the listen backlog (511).
          const hold = async () => {
            const conn = await Deno.connect({ hostname: "127.0.0.1", port });
            await conn.write(new TextEncoder().encode(
              `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{`,
            ));
            return conn;
          };
          const holders: Deno.Conn[] = [];
          try {
            for (let i = 0; i < 512; i += 32) {
              holders.push(...await Promise.all(Array.from({ length: 32 }, hold)));
            }
            // Probed on fresh connections: each is accepted after the holders (the backlog is
            // first come, first served), where a pooled one could be answered before them.
            const probe = () =>
              raw(
                port,
                `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
              );
            const until = Date.now() + 20_000;
            let busy = await probe();
            while (busy.status !== 503) {
              assert.equal(busy.status, 200);
              assert.ok(Date.now() < until, "the collector never got busy");
              await new Promise((r) => setTimeout(r, 100));
              busy = await probe();
            }
            assert.match(busy.head, /\r\nretry-after: 1(\r\n|$)/);
            assert.match(busy.head, /\r\ncontent-type: application\/json/);
            const call = await post(initialize);
            rpcError(call, 503, -32600, null);
            assert.equal(call.headers.get("retry-after"), "1");
          } finally {
            for (const conn of holders) {
              try {
                conn.close();
              } catch { /* closed by the collector */ }
            }
          }
          // Stopping: one request in progress, then SIGTERM; new ones get 503 meanwhile.
          const until = Date.now() + 10_000;
          while ((await get(`${origin}/healthz`)).status !== 200) {
            assert.ok(Date.now() < until, "the collector stayed busy");
            await new Promise((r) => setTimeout(r, 50));
          }
          const held = await hold();
          // Its handler must be running before the signal, or there is nothing to wait for.
          await new Promise((r) => setTimeout(r, 500));
          try {
            const stopping = collector.stop();
            stopped = true;
            let answer = await get(`${origin}/healthz`);
            const deadline = Date.now() + 5000;
            while (answer.status === 200 && Date.now() < deadline) {
              answer = await get(`${origin}/healthz`);
            }
            assert.equal(answer.status, 503);
            assert.equal(answer.headers.get("retry-after"), "1");
            assert.deepEqual(JSON.parse(answer.body), {
              status: "unavailable",
              error: "the server is stopping",
            });
            rpcError(await post(initialize), 503, -32600, null);
            held.close();
            assert.equal(await stopping, 0, collector.stderr());
          } finally {
            try {
              held.close();
            } catch { /* closed above */ }
          }
        },
      },
      {
        code: 503,
        phrase: "could not read the store",
        run: () => "covered by tests/e2e/postgres_down_test.ts (a database that goes down)",
      },
    ];

    for (const row of rows) {
      const found = checks.filter((c) => c.code === row.code && row.when.includes(c.phrase));
      assert.equal(found.length, 1, `one check for the row ${row.code} | ${row.when}`);
    }
    for (const check of checks) {
      const found = rows.filter((r) => r.code === check.code && r.when.includes(check.phrase));
      assert.equal(found.length, 1, `one row for the check ${check.code} "${check.phrase}"`);
      const outcome = await Promise.resolve(check.run()).catch((error) => {
        throw new Error(`${check.code} "${check.phrase}": ${error.stack} ${error.cause ?? ""}`);
      });
      if (typeof outcome === "string") console.log(`${check.code} "${check.phrase}": ${outcome}`);
    }
    assert.ok(stopped, "the 503 check stopped the collector");
  } finally {
    if (!collector.exited()) await collector.stop("SIGKILL");
    await cleanup();
  }
});
