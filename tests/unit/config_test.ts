import assert from "node:assert/strict";
import {
  absolute,
  defaultDbPath,
  type Invocation,
  parseDuration,
  parseInvocation,
  type ServeConfig,
  UsageError,
} from "../../src/config.ts";

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
    db: "/home/op/.local/share/session-buddy/sessions.kv",
    dbIsDefault: true,
    logFile: null,
    logLevel: "info",
    staleAfterMs: 12 * 3600_000,
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
  assert.equal(fromEnv.db, "/env/s.kv");
  assert.equal(fromEnv.dbIsDefault, false);
  assert.equal(fromEnv.logLevel, "error");
  assert.equal(fromEnv.staleAfterMs, 7 * 86_400_000);
  assert.equal(fromEnv.logFile, "/env/log");
  const fromFlags = serve(
    ["--db=/flag/s.kv", "--log-level", "DEBUG", "--stale-after=90m", "--log-file", "/flag/log"],
    env,
  );
  assert.equal(fromFlags.db, "/flag/s.kv");
  assert.equal(fromFlags.logLevel, "debug");
  assert.equal(fromFlags.staleAfterMs, 90 * 60_000);
  assert.equal(fromFlags.logFile, "/flag/log");
});

Deno.test("parseInvocation: relative store and log paths become absolute against cwd", () => {
  const c = serve(["--db", "data/s.kv", "--log-file", "../logs/sb.log"]);
  assert.equal(c.db, "/work/data/s.kv");
  assert.equal(c.logFile, "/logs/sb.log");
});

Deno.test("parseInvocation: :memory: is kept as is", () => {
  const c = serve(["--db", ":memory:"]);
  assert.equal(c.db, ":memory:");
  assert.equal(c.dbIsDefault, false);
});

Deno.test("parseInvocation: a KV Connect URL is refused plainly until remote stores are built", () => {
  // SPEC 2 names KV Connect URLs; they need net access the shipped flags do not hold yet.
  const url = "https://api.deno.com/databases/00000000-0000-0000-0000-000000000000/connect";
  assert.match(
    usage([], { ...HOME, SESSION_BUDDY_DB: url }),
    /remote stores are not supported yet/,
  );
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
  assert.equal(serve([], { SESSION_BUDDY_DB: "/x/s.kv" }).db, "/x/s.kv");
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
