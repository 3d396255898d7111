import assert from "node:assert/strict";
import { type Invocation, parseInvocation } from "../../src/cli/invocation.ts";
import { defaultDbPath, type ServeConfig, StartupError } from "../../src/config.ts";
import { parseDuration } from "../../src/duration.ts";
import { hostPort, isLoopback, parseListen, parseOrigin } from "../../src/net.ts";
import { absolute } from "../../src/path.ts";
import { UsageError } from "../../src/usage_error.ts";

const LINUX = { os: "linux", cwd: "/work" };
const HOME = { HOME: "/home/op" };
const SECRET32 = "a".repeat(32);

function serve(args: string[], env: Record<string, string | undefined> = HOME): ServeConfig {
  const inv: Invocation = parseInvocation(args, env, LINUX);
  assert.equal(inv.kind, "serve");
  return (inv as Extract<Invocation, { kind: "serve" }>).config;
}

function usage(args: string[], env: Record<string, string | undefined> = HOME): string {
  try {
    parseInvocation(args, env, LINUX);
  } catch (error) {
    assert.ok(error instanceof UsageError, `a UsageError, got ${error}`);
    assert.ok(!error.message.includes("\n"), "one line");
    return error.message;
  }
  assert.fail(`expected a UsageError for ${JSON.stringify(args)}`);
}

Deno.test("parseInvocation: no arguments serve with the defaults", () => {
  assert.deepEqual(serve([]), {
    secret: null,
    db: { kind: "file", path: "/home/op/.local/share/session-buddy/sessions.kv" },
    dbIsDefault: true,
    dbPassword: null,
    dbCa: null,
    logFile: null,
    logLevel: "info",
    staleAfterMs: 12 * 3600_000,
    http: null,
    seal: null,
  });
  assert.deepEqual(serve(["serve"]), serve([]));
});

Deno.test("parseInvocation: help and version", () => {
  for (const args of [["--help"], ["-h"], ["help"], ["serve", "--help"]]) {
    assert.deepEqual(parseInvocation(args, HOME, LINUX), {
      kind: "help",
      defaultDb: "/home/op/.local/share/session-buddy/sessions.kv",
    }, args.join(" "));
  }
  assert.deepEqual(parseInvocation(["--help"], {}, LINUX), { kind: "help", defaultDb: null });
  assert.deepEqual(parseInvocation(["--version"], HOME, LINUX), { kind: "version" });
  assert.deepEqual(parseInvocation(["-V"], HOME, LINUX), { kind: "version" });
});

Deno.test("parseInvocation: flags in both forms, and a flag beats its variable", () => {
  const env = {
    ...HOME,
    SESSION_BUDDY_DB: "/env/s.kv",
    SESSION_BUDDY_LOG_LEVEL: "error",
    SESSION_BUDDY_STALE_AFTER: "7d",
    SESSION_BUDDY_LOG_FILE: "/env/log",
  };
  const fromEnv = serve([], env);
  assert.deepEqual(fromEnv.db, { kind: "file", path: "/env/s.kv" });
  assert.equal(fromEnv.dbIsDefault, false);
  assert.equal(fromEnv.logLevel, "error");
  assert.equal(fromEnv.staleAfterMs, 7 * 86_400_000);
  assert.equal(fromEnv.logFile, "/env/log");
  const fromFlags = serve(
    ["--db=/flag/s.kv", "--log-level", "DEBUG", "--stale-after=90m", "--log-file", "/flag/log"],
    env,
  );
  assert.deepEqual(fromFlags.db, { kind: "file", path: "/flag/s.kv" });
  assert.equal(fromFlags.logLevel, "debug");
  assert.equal(fromFlags.staleAfterMs, 90 * 60_000);
  assert.equal(fromFlags.logFile, "/flag/log");
});

Deno.test("parseInvocation: relative store and log paths become absolute against cwd", () => {
  const c = serve(["--db", "data/s.kv", "--log-file", "../logs/sb.log"]);
  assert.deepEqual(c.db, { kind: "file", path: "/work/data/s.kv" });
  assert.equal(c.logFile, "/logs/sb.log");
});

Deno.test("parseInvocation: :memory: is kept as is", () => {
  const c = serve(["--db", ":memory:"]);
  assert.deepEqual(c.db, { kind: "memory" });
  assert.equal(c.dbIsDefault, false);
});

Deno.test("parseInvocation: a KV Connect URL, https anywhere and http only on loopback", () => {
  const deploy = "https://api.deno.com/v2/databases/00000000-0000-0000-0000-000000000000/connect";
  assert.deepEqual(serve([], { ...HOME, SESSION_BUDDY_DB: deploy }).db, {
    kind: "kv-connect",
    url: deploy,
    net: "api.deno.com:443",
  }, "kept as given");
  assert.deepEqual(serve(["--db", "http://127.0.0.1:4512/"]).db, {
    kind: "kv-connect",
    url: "http://127.0.0.1:4512/",
    net: "127.0.0.1:4512",
  });
  assert.match(
    usage(["--db", "http://denokv.example.com/"]),
    /plain http:\/\/ is only for a loopback host/,
  );
  assert.match(usage(["--db", "https://user:pw@denokv.example.com/"]), /takes no user or password/);
  assert.doesNotMatch(usage(["--db", "https://user:Secret-9@denokv.example.com/"]), /Secret-9/);
  assert.match(usage(["--db", "ftp://x/y"]), /unknown kind of store \(scheme 'ftp:'\)/);
});

Deno.test("parseInvocation: a mistyped or foreign URL is refused, quoted by its scheme only", () => {
  for (
    const db of [
      "postgresql+psycopg://sb:Secret-9@h/s",
      "postgress://sb:Secret-9@h/s",
      "pg://sb:Secret-9@h/s",
      "postgres:/sb:Secret-9@h/s",
      "postgres:sb:Secret-9@h/s",
    ]
  ) {
    const message = usage(["--db", db]);
    assert.match(message, /^unknown kind of store \(scheme '[a-z+]+:'\)/, db);
    assert.doesNotMatch(message, /Secret-9/, db);
  }
  assert.match(usage(["--db", " postgres://sb:Secret-9@h/s"]), /white space/);
  assert.doesNotMatch(usage(["--db", " postgres://sb:Secret-9@h/s"]), /Secret-9/);
  // A name with a colon is a file path when it begins with ./
  assert.deepEqual(serve(["--db", "./a:b.kv"]).db, { kind: "file", path: "/work/a:b.kv" });
});

Deno.test("parseInvocation: the secret", () => {
  assert.equal(serve([], { ...HOME, SESSION_BUDDY_SECRET: SECRET32 }).secret, SECRET32);
  assert.equal(serve([], { ...HOME, SESSION_BUDDY_SECRET: "" }).secret, null);
  const message = usage([], { ...HOME, SESSION_BUDDY_SECRET: "b".repeat(31) });
  assert.match(message, /SESSION_BUDDY_SECRET/);
  assert.ok(!message.includes("b".repeat(31)), "the secret is not quoted");
});

Deno.test("parseInvocation: usage errors", () => {
  assert.match(usage(["--bogus"]), /--bogus/);
  assert.match(usage(["frobnicate"]), /frobnicate/);
  assert.match(usage(["serve", "extra"]), /extra/);
  usage(["--db"]);
  usage(["--db", ""]);
  usage(["--log-file="]);
  assert.match(usage(["--log-level", "loud"]), /loud/);
  assert.match(usage(["--stale-after", "12x"]), /12x/);
  usage([], { ...HOME, SESSION_BUDDY_STALE_AFTER: "0h" });
  usage([], { ...HOME, SESSION_BUDDY_LOG_LEVEL: "verbose" });
});

Deno.test("parseInvocation: no HOME and no store is a usage error", () => {
  assert.match(usage([], {}), /SESSION_BUDDY_DB/);
  assert.deepEqual(serve([], { SESSION_BUDDY_DB: "/x/s.kv" }).db, {
    kind: "file",
    path: "/x/s.kv",
  });
});

Deno.test("parseDuration: units s, m, h, d", () => {
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("90m"), 5_400_000);
  assert.equal(parseDuration("12h"), 43_200_000);
  assert.equal(parseDuration("7d"), 604_800_000);
  assert.equal(parseDuration(" 12h "), 43_200_000);
});

Deno.test("parseDuration: bad durations are usage errors naming the text", () => {
  for (
    const text of ["12x", "", "12", "h", "0m", "-1h", "1.5h", "12 h", "1e3s", "99999999999999d"]
  ) {
    assert.throws(() => parseDuration(text), UsageError, JSON.stringify(text));
  }
  assert.throws(() => parseDuration("12x", "stale-after"), /stale-after.*12x/);
});

Deno.test("defaultDbPath: linux uses XDG_DATA_HOME when absolute, else ~/.local/share", () => {
  assert.equal(
    defaultDbPath({ HOME: "/home/op" }, "linux"),
    "/home/op/.local/share/session-buddy/sessions.kv",
  );
  assert.equal(
    defaultDbPath({ HOME: "/home/op", XDG_DATA_HOME: "/data" }, "linux"),
    "/data/session-buddy/sessions.kv",
  );
  // A relative XDG_DATA_HOME is invalid per the XDG spec and ignored.
  assert.equal(
    defaultDbPath({ HOME: "/home/op", XDG_DATA_HOME: "rel" }, "linux"),
    "/home/op/.local/share/session-buddy/sessions.kv",
  );
  assert.equal(defaultDbPath({}, "linux"), null);
});

Deno.test("defaultDbPath: darwin uses Application Support", () => {
  assert.equal(
    defaultDbPath({ HOME: "/Users/op" }, "darwin"),
    "/Users/op/Library/Application Support/session-buddy/sessions.kv",
  );
  assert.equal(
    defaultDbPath({ HOME: "/Users/op", XDG_DATA_HOME: "/data" }, "darwin"),
    "/Users/op/Library/Application Support/session-buddy/sessions.kv",
  );
  assert.equal(defaultDbPath({}, "darwin"), null);
});

Deno.test("absolute: resolves against cwd and normalises", () => {
  assert.equal(absolute("/a/b", "/work"), "/a/b");
  assert.equal(absolute("s.kv", "/work"), "/work/s.kv");
  assert.equal(absolute("s.kv", "/work/"), "/work/s.kv");
  assert.equal(absolute("./a/./b", "/work"), "/work/a/b");
  assert.equal(absolute("../x", "/work/sub"), "/work/x");
  assert.equal(absolute("../../../x", "/work"), "/x");
  assert.equal(absolute("s.kv", "/"), "/s.kv");
});

Deno.test("serve --http: [HOST:]PORT, HOST 127.0.0.1 by default, the variable too", () => {
  assert.deepEqual(serve(["serve", "--http", "8080"]).http, {
    host: "127.0.0.1",
    port: 8080,
    tlsCert: null,
    tlsKey: null,
    allowedOrigins: [],
    allowedHosts: [],
  });
  assert.equal(serve(["serve", "--http=localhost:9000"]).http?.host, "localhost");
  assert.deepEqual(parseListen("[::1]:8443"), { host: "::1", port: 8443 });
  assert.deepEqual(parseListen("0.0.0.0:1"), { host: "0.0.0.0", port: 1 });
  assert.equal(serve([], { ...HOME, SESSION_BUDDY_HTTP: "127.0.0.1:7000" }).http?.port, 7000);
  // The flag wins over the variable.
  assert.equal(serve(["--http", "7001"], { ...HOME, SESSION_BUDDY_HTTP: "7000" }).http?.port, 7001);
  for (const bad of ["0", "65536", "host:", ":80", "a b:80", "[::1]", "::1:80", "80x", ""]) {
    assert.match(usage(["serve", "--http", bad]), /invalid --http/, bad);
  }
});

Deno.test("serve --http: a non-loopback host needs TLS or --plain-http", () => {
  assert.match(usage(["serve", "--http", "0.0.0.0:8443"]), /needs TLS .*--plain-http/);
  assert.match(usage(["serve", "--http", "[2001:db8::1]:8443"]), /\[2001:db8::1\]:8443 needs TLS/);
  const plain = serve(["serve", "--http", "0.0.0.0:8080", "--plain-http"]).http;
  assert.equal(plain?.tlsCert, null);
  const tls = serve([
    "serve",
    "--http",
    "0.0.0.0:8443",
    "--tls-cert",
    "c.pem",
    "--tls-key",
    "/k.pem",
  ]);
  assert.equal(tls.http?.tlsCert, "/work/c.pem");
  assert.equal(tls.http?.tlsKey, "/k.pem");
  const fromEnv = serve(["serve", "--http", "0.0.0.0:8443"], {
    ...HOME,
    SESSION_BUDDY_TLS_CERT: "/c.pem",
    SESSION_BUDDY_TLS_KEY: "/k.pem",
  });
  assert.equal(fromEnv.http?.tlsCert, "/c.pem");
});

Deno.test("serve --http: only one TLS flag, TLS with --plain-http, HTTP flags without --http", () => {
  assert.match(
    usage(["serve", "--http", "8443", "--tls-cert", "c.pem"]),
    /--tls-cert needs --tls-key/,
  );
  assert.match(
    usage(["serve", "--http", "8443", "--tls-key", "k.pem"]),
    /--tls-key needs --tls-cert/,
  );
  assert.match(
    usage(["serve", "--http", "8443", "--tls-cert", "c", "--tls-key", "k", "--plain-http"]),
    /opposite/,
  );
  assert.match(usage(["serve", "--tls-cert", "c.pem", "--tls-key", "k"]), /option of serve --http/);
  assert.match(usage(["serve", "--plain-http"]), /--plain-http is an option of serve --http/);
  assert.match(usage(["sessions", "--http", "8080"]), /does not take --http/);
});

Deno.test("serve --http: --allowed-origin repeats, the variable splits on commas", () => {
  const config = serve([
    "serve",
    "--http",
    "8080",
    "--allowed-origin",
    "https://console.example.com",
    "--allowed-origin=http://localhost:5173/",
  ]);
  assert.deepEqual(config.http?.allowedOrigins, [
    "https://console.example.com",
    "http://localhost:5173",
  ]);
  const env = {
    ...HOME,
    SESSION_BUDDY_ALLOWED_ORIGINS: "https://a.example, https://b.example:8443",
  };
  assert.deepEqual(serve(["serve", "--http", "8080"], env).http?.allowedOrigins, [
    "https://a.example",
    "https://b.example:8443",
  ]);
  for (
    const bad of [
      "console.example.com",
      "ftp://x.example",
      "https://x.example/path",
      "https://u@x.example",
    ]
  ) {
    assert.throws(() => parseOrigin(bad), UsageError, bad);
  }
});

Deno.test("isLoopback and hostPort", () => {
  for (const host of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"]) {
    assert.ok(isLoopback(host), host);
  }
  for (const host of ["0.0.0.0", "10.0.0.1", "::", "example.com", "128.0.0.1"]) {
    assert.ok(!isLoopback(host), host);
  }
  assert.equal(hostPort("::1", 80), "[::1]:80");
  assert.equal(hostPort("127.0.0.1", 80), "127.0.0.1:80");
});

Deno.test("parseInvocation: a postgres:// store, its password variable and --db-ca", () => {
  const url = "postgres://sb@db.example.com/sessions?sslmode=verify-full";
  const c = serve(["--db", url, "--db-ca", "ca.pem"], { ...HOME, SESSION_BUDDY_DB_PASSWORD: "pw" });
  assert.deepEqual(c.db, {
    kind: "postgres",
    url: {
      host: "db.example.com",
      port: 5432,
      socket: null,
      user: "sb",
      password: null,
      database: "sessions",
      sslmode: "verify-full",
    },
  }, "a URL is read once, into its parts");
  assert.equal(c.dbPassword, "pw");
  assert.equal(c.dbCa, "/work/ca.pem");
  assert.equal(
    serve([], { ...HOME, SESSION_BUDDY_DB: url, SESSION_BUDDY_DB_CA: "/ca.pem" }).dbCa,
    "/ca.pem",
  );
  assert.match(
    usage(["--db", "postgres://db.example.com/sessions"]),
    /invalid --db: .*names no user/,
  );
  assert.match(
    usage(["--db", "/x/s.kv", "--db-ca", "ca.pem"]),
    /--db-ca is for a postgres:\/\/ store/,
  );
  // A password given in the URL is never in the refusal.
  assert.doesNotMatch(usage(["--db", "postgres://u:Secret-9@h/s?sslmode=maybe"]), /Secret-9/);
});

Deno.test("parseInvocation: sessions import reads a file or stdin", () => {
  const of = (args: string[]) => {
    const inv = parseInvocation(args, HOME, LINUX);
    assert.equal(inv.kind, "store");
    return (inv as Extract<Invocation, { kind: "store" }>).command;
  };
  assert.deepEqual(of(["sessions", "import"]), { name: "import", file: null });
  assert.deepEqual(of(["sessions", "import", "-"]), { name: "import", file: null });
  assert.deepEqual(of(["sessions", "import", "old.ndjson"]), {
    name: "import",
    file: "/work/old.ndjson",
  });
  assert.match(usage(["sessions", "import", "a", "b"]), /unexpected argument 'b'/);
  assert.match(usage(["sessions", "import", "--since", "1d"]), /does not take --since/);
});

Deno.test("parseInvocation: --secret-file and SESSION_BUDDY_SECRET_FILE give the file's first line", async (t) => {
  const files: Record<string, string> = {
    "/work/s": `${SECRET32}\n`,
    "/etc/sb/crlf": `${"b".repeat(40)}\r\nsecond line\n`,
    "/work/short": "tooshort\n",
    "/work/empty": "\n",
  };
  const platform = {
    ...LINUX,
    readTextFile(path: string) {
      if (path in files) return files[path]!;
      throw new Deno.errors.NotFound(`No such file or directory: ${path}`);
    },
  };
  const config = (args: string[], env: Record<string, string | undefined> = HOME) => {
    const inv = parseInvocation(args, env, platform);
    assert.equal(inv.kind, "serve");
    return (inv as Extract<Invocation, { kind: "serve" }>).config;
  };
  await t.step("the flag, relative to cwd, and the variable", () => {
    assert.equal(config(["--secret-file", "s"]).secret, SECRET32);
    assert.equal(
      config([], { ...HOME, SESSION_BUDDY_SECRET_FILE: "/etc/sb/crlf" }).secret,
      "b".repeat(40),
    );
  });
  await t.step("a token is signed with it too", () => {
    const inv = parseInvocation(["token", "--secret-file=/work/s"], HOME, platform);
    assert.equal(inv.kind === "token" && inv.secret, SECRET32);
  });
  await t.step("both a secret and a file, a short or empty one: usage errors", () => {
    const usageOf = (args: string[], env: Record<string, string | undefined>) => {
      try {
        parseInvocation(args, env, platform);
      } catch (error) {
        assert.ok(error instanceof UsageError, String(error));
        return error.message;
      }
      assert.fail("expected a usage error");
    };
    assert.match(
      usageOf(["--secret-file", "s"], { ...HOME, SESSION_BUDDY_SECRET: SECRET32 }),
      /both set: use one/,
    );
    const short = usageOf(["--secret-file", "short"], HOME);
    assert.match(short, /the secret file \/work\/short is too short/);
    assert.ok(!short.includes("tooshort"), "the secret is never quoted");
    assert.match(usageOf(["--secret-file", "empty"], HOME), /is empty/);
  });
  await t.step("an unreadable file is a start-up failure (exit 1), not a usage error", () => {
    assert.throws(
      () => parseInvocation(["--secret-file", "/nope"], HOME, platform),
      (error: Error) =>
        error instanceof StartupError && error.message ===
          "cannot read the secret file /nope: NotFound",
    );
  });
});

Deno.test("parseInvocation: --require-auth refuses to serve without a secret", () => {
  assert.match(usage(["--require-auth"]), /authentication is required .* no secret is set/);
  assert.match(usage([], { ...HOME, SESSION_BUDDY_REQUIRE_AUTH: "1" }), /no secret is set/);
  assert.match(usage([], { ...HOME, SESSION_BUDDY_REQUIRE_AUTH: "maybe" }), /use 1/);
  assert.equal(
    serve(["--require-auth"], { ...HOME, SESSION_BUDDY_SECRET: SECRET32 }).secret,
    SECRET32,
  );
  assert.equal(serve([], { ...HOME, SESSION_BUDDY_REQUIRE_AUTH: "0" }).secret, null);
  // The operator commands never get the secret: they check no tokens.
  const inv = parseInvocation(
    ["sessions", "list"],
    { ...HOME, SESSION_BUDDY_SECRET: SECRET32 },
    LINUX,
  );
  assert.equal(inv.kind === "store" && inv.config.secret, null);
});

Deno.test("serve --http: --allowed-host repeats, the variable splits on commas, names are checked", () => {
  assert.deepEqual(
    serve([
      "serve",
      "--http",
      "8080",
      "--allowed-host",
      "Collector.Example.com",
      "--allowed-host=[::1]",
    ])
      .http?.allowedHosts,
    ["collector.example.com", "[::1]"],
  );
  assert.deepEqual(
    serve(["serve", "--http", "8080"], {
      ...HOME,
      SESSION_BUDDY_ALLOWED_HOSTS: "a.example, b.example.",
    })
      .http?.allowedHosts,
    ["a.example", "b.example"],
  );
  for (const bad of ["https://a.example", "a.example:443", "a.example/mcp", "a b", "-a.example"]) {
    assert.match(
      usage(["serve", "--http", "8080", "--allowed-host", bad]),
      /invalid --allowed-host/,
    );
  }
  assert.match(
    usage(["--allowed-host", "a.example"]),
    /--allowed-host is an option of serve --http/,
  );
});

Deno.test("parseInvocation: sealing options, seal init and the history commands", () => {
  assert.deepEqual(serve(["serve", "--seal-key-file", "k"]).seal, {
    keyFile: "/work/k",
    everyMs: 15 * 60_000,
  });
  assert.deepEqual(
    serve([], { ...HOME, SESSION_BUDDY_SEAL_KEY_FILE: "/k", SESSION_BUDDY_SEAL_EVERY: "1h" }).seal,
    { keyFile: "/k", everyMs: 3600_000 },
  );
  assert.match(usage(["serve", "--seal-every", "5m"]), /--seal-key-file/);
  assert.match(usage(["serve", "--seal-key-file", "k", "--seal-every", "500ms"]), /--seal-every/);
  assert.match(usage(["serve", "--seal-key-file", "k", "--seal-every", "2d"]), /1s to 24h/);
  assert.deepEqual(parseInvocation(["seal", "init", "--key-file", "k"], HOME, LINUX), {
    kind: "seal-init",
    keyFile: "/work/k",
  });
  assert.match(usage(["seal", "init"]), /--key-file/);
  assert.match(usage(["seal"]), /seal init/);
  assert.match(usage(["seal", "open"]), /unknown command 'seal open'/);
  assert.match(usage(["sessions", "prune"]), /--before/);
  const key = "zz" + "0".repeat(60);
  const refused = usage([
    "sessions",
    "verify",
    "--verification-key",
    `sbvk1.0123456789abcdef.${key}`,
  ]);
  assert.ok(!refused.includes(key), refused);
  assert.match(usage(["sessions", "verify", "--seal-every", "1m"]), /does not take --seal-every/);
  const inv = parseInvocation(
    [
      "sessions",
      "verify",
      "--file",
      "x.ndjson",
      "--verification-key",
      `sbvk1.${"a".repeat(16)}.${"b".repeat(64)}`,
    ],
    HOME,
    LINUX,
  );
  assert.equal(inv.kind, "store");
  assert.deepEqual((inv as Extract<Invocation, { kind: "store" }>).command, {
    name: "verify",
    keys: [`sbvk1.${"a".repeat(16)}.${"b".repeat(64)}`],
    file: "/work/x.ndjson",
  });
});
