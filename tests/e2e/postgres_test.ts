/**
 * The PostgreSQL store at its edges (SPEC 2, 8.3), with the real program and a real cluster:
 * a schema newer than the program is refused and left alone, a reading command creates no
 * schema, every way of failing to reach or log in to the database is one line and exit 1,
 * the password (from the URL or SESSION_BUDDY_DB_PASSWORD) appears in no output on any of
 * those paths, the driver reads none of the PG* variables, and the Unix socket URL works.
 */
import assert from "node:assert/strict";
import { freePort, tarpit } from "../helpers/http.ts";
import { pgTest } from "../helpers/postgres.ts";
import { type PgCluster, type PgDatabase, withClient } from "../helpers/pg_database.ts";
import {
  initializeRequest,
  runProgram,
  startArgs,
  startServer,
  tempDir,
} from "../helpers/server.ts";
import { pgRecords } from "../helpers/stores.ts";
import { poll } from "../helpers/contract.ts";
import { figure } from "../stress/raw.ts";
import { SCHEMA_VERSION } from "../../src/store/postgres/schema.ts";

/** The non-empty stderr lines (the runtime runs with --quiet: every one is the program's). */
function ourLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.trim() !== "");
}

/** What a client sends first: initialize and a start. A refused store answers neither. */
function firstRequests(): string {
  return [
    initializeRequest("t"),
    { jsonrpc: "2.0", method: "notifications/initialized" },
    {
      jsonrpc: "2.0",
      id: 2,
      method: "tools/call",
      params: { name: "track_session_start", arguments: startArgs() },
    },
  ].map((m) => JSON.stringify(m) + "\n").join("");
}

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  /** From spawn to exit. */
  ms: number;
}

async function run(args: string[], env: Record<string, string>, stdin = ""): Promise<Outcome> {
  const began = performance.now();
  const out = await runProgram(args, env, stdin);
  return { ...out, ms: performance.now() - began };
}

/** Asserts one line on stderr and the exit status; returns the line. */
function oneLine(out: Outcome, code: number, what: string): string {
  const lines = ourLines(out.stderr);
  assert.equal(out.code, code, `${what}: exit status ${out.code}\n${out.stderr}`);
  assert.equal(lines.length, 1, `${what}: one line on stderr, got:\n${out.stderr}`);
  assert.match(lines[0]!, /^session-buddy: /, what);
  assert.doesNotMatch(out.stderr, /^\s+at /m, `${what}: no stack trace`);
  return lines[0]!;
}

/** The forms a password can take in text: as it is, and %-encoded as in a URL. */
function forms(password: string): string[] {
  return [...new Set([password, encodeURIComponent(password)])];
}

/** Asserts that no form of any password is in any of the texts. */
function noPassword(texts: Record<string, string>, passwords: string[], what: string): void {
  for (const [where, text] of Object.entries(texts)) {
    for (const password of passwords) {
      for (const form of forms(password)) {
        assert.ok(
          !text.includes(form),
          `${what}: ${where} holds the password (${form.slice(0, 4)}...)`,
        );
      }
    }
  }
}

/** Runs a tracking server on stdin, reading all of it, and checks it stopped at open. */
async function refusedServer(env: Record<string, string>, what: string, args: string[] = []) {
  const out = await run(args, env, firstRequests());
  const line = oneLine(out, 1, what);
  assert.match(line, /^session-buddy: cannot open store postgres:\/\//, what);
  assert.equal(out.stdout, "", `${what}: nothing answered`);
  return { line, out };
}

/** Runs a `sessions`/`stats` command and checks it failed at open. */
async function refusedCommand(args: string[], env: Record<string, string>, what: string) {
  const out = await run(args, env);
  const line = oneLine(out, 1, what);
  assert.match(line, /^session-buddy: cannot open store postgres:\/\//, what);
  return { line, out };
}

/** Every reading command, as run against a database. */
const READING: string[][] = [
  ["sessions", "list"],
  ["sessions", "list", "--json", "--status", "active"],
  ["sessions", "show", "nobody-20260101-000000"],
  ["stats", "--json"],
  ["sessions", "export"],
  ["sessions", "tail"],
];

/**
 * Everything of the database that a program could change: its schemas, the relations,
 * functions and rows of `session_buddy`, as one text.
 */
async function snapshot(database: PgDatabase): Promise<string> {
  const schemas = await database.query(
    `SELECT nspname FROM pg_namespace
     WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1`,
  );
  const relations = await database.query(
    `SELECT c.relname, c.relkind, n.nspname FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' ORDER BY 3, 1`,
  );
  const functions = await database.query(
    `SELECT p.proname, md5(p.prosrc) AS src FROM pg_proc p
     JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'session_buddy' ORDER BY 1`,
  );
  const rows: unknown[] = [];
  for (const r of relations) {
    if (r.nspname === "session_buddy" && r.relkind === "r") {
      rows.push(
        r.relname,
        await database.query(`SELECT * FROM session_buddy."${r.relname}" ORDER BY 1`),
      );
    }
  }
  return JSON.stringify({ schemas, relations, functions, rows });
}

/** The database URL with another password, user, database, host or port. */
function withUrl(
  database: PgDatabase,
  change: { password?: string | null; database?: string; host?: string; port?: number },
  cluster: PgCluster,
): string {
  const password = change.password === undefined
    ? encodeURIComponent(database.password)
    : change.password;
  const host = change.host ?? cluster.host;
  return `postgres://${database.user}${password === null ? "" : `:${password}`}@${host}:${
    change.port ?? cluster.port
  }/${change.database ?? database.name}?sslmode=disable`;
}

pgTest(
  "a schema newer than the program: a server and every reading command refuse it with one line, exit 1, and change nothing",
  async (cluster) => {
    const database = await cluster.createDatabase();
    const { dir, cleanup } = await tempDir();
    try {
      const env = { SESSION_BUDDY_DB: database.url, HOME: dir };
      // A store with a session in it, then a newer program's version stamp.
      const first = await run([], env, firstRequests());
      assert.equal(first.code, 0, first.stderr);
      assert.equal((await pgRecords(database)).size, 1);
      await database.query(
        "UPDATE session_buddy.meta SET value = '99' WHERE key = 'schema_version'",
      );
      const before = await snapshot(database);
      const texts: Record<string, string> = {};

      const serve = await refusedServer(env, "stdio server");
      assert.match(
        serve.line,
        new RegExp(`schema is version 99, newer than this program's ${SCHEMA_VERSION}`),
      );
      const http = await run(["serve", "--http", `127.0.0.1:${freePort()}`], env);
      assert.match(oneLine(http, 1, "HTTP server"), /schema is version 99, newer/);
      const commands = [...READING, ["sessions", "import", "-"], ["sessions", "reap"]];
      const outs = await Promise.all(commands.map((args) => run(args, env, "")));
      outs.forEach((out, i) => {
        const what = commands[i]!.join(" ");
        texts[what] = out.stdout + out.stderr;
        assert.match(oneLine(out, 1, what), /schema is version 99, newer/, what);
      });
      assert.equal(await snapshot(database), before, "the database is as it was");
      noPassword(
        { ...texts, serve: serve.out.stderr, http: http.stderr },
        [database.password],
        "refusals",
      );

      // Only the version stamp of a newer program, nothing else: a server creates nothing.
      await database.query("DROP SCHEMA session_buddy CASCADE");
      await database.query("CREATE SCHEMA session_buddy");
      await database.query(
        "CREATE TABLE session_buddy.meta (key text PRIMARY KEY, value text NOT NULL)",
      );
      await database.query("INSERT INTO session_buddy.meta VALUES ('schema_version', '99')");
      const bare = await snapshot(database);
      await refusedServer(env, "stdio server on a bare version stamp");
      await refusedCommand(["sessions", "list"], env, "sessions list on a bare version stamp");
      assert.equal(await snapshot(database), bare, "no table was created");
    } finally {
      await cleanup();
      await database.drop();
    }
  },
);

pgTest(
  "servers opening a database without the schema at the same moment all start: one creates it, the others use it",
  async (cluster) => {
    const database = await cluster.createDatabase();
    const { dir, cleanup } = await tempDir();
    try {
      const env = { SESSION_BUDDY_DB: database.url, HOME: dir };
      const outs = await Promise.all(
        Array.from({ length: 6 }, () => run([], env, firstRequests())),
      );
      for (const out of outs) {
        assert.equal(out.code, 0, out.stderr);
        assert.match(out.stdout, /"status":"tracked"/);
      }
      assert.equal((await pgRecords(database)).size, 6);
      const version = await database.query("SELECT value FROM session_buddy.meta");
      assert.deepEqual(version, [{ value: String(SCHEMA_VERSION) }]);
    } finally {
      await cleanup();
      await database.drop();
    }
  },
);

pgTest(
  "a current schema is used as it is: a role that may not create anything opens it to write; a version row changed by hand is refused",
  async (cluster) => {
    const database = await cluster.createDatabase();
    const { dir, cleanup } = await tempDir();
    const app = `${database.name}_app`;
    const appPassword = crypto.randomUUID();
    try {
      const owner = { SESSION_BUDDY_DB: database.url, HOME: dir };
      const first = await run([], owner, firstRequests());
      assert.equal(first.code, 0, first.stderr);
      // A role with the rights to use the tables and nothing else: no CREATE anywhere.
      await database.query(`CREATE ROLE "${app}" LOGIN PASSWORD '${appPassword}'`);
      for (
        const grant of [
          `GRANT USAGE ON SCHEMA session_buddy TO "${app}"`,
          `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA session_buddy TO "${app}"`,
          `GRANT USAGE ON ALL SEQUENCES IN SCHEMA session_buddy TO "${app}"`,
          `GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA session_buddy TO "${app}"`,
          `REVOKE CREATE ON DATABASE "${database.name}" FROM PUBLIC`,
        ]
      ) await database.query(grant);
      const appUrl = database.url.replace(
        `${database.user}:${database.password}@`,
        `${app}:${appPassword}@`,
      );
      const before = await snapshot(database);
      const served = await run([], { ...owner, SESSION_BUDDY_DB: appUrl }, firstRequests());
      assert.equal(served.code, 0, served.stderr);
      assert.match(served.stdout, /"status":"tracked"/);
      assert.equal((await pgRecords(database)).size, 2);
      const listed = await run(["sessions", "list", "--json"], {
        ...owner,
        SESSION_BUDDY_DB: appUrl,
      });
      assert.equal(listed.code, 0, listed.stderr);
      assert.equal(listed.stdout.trim().split("\n").length, 2);
      // The schema itself is as it was: only rows were written.
      const after = await snapshot(database);
      assert.deepEqual(JSON.parse(after).relations, JSON.parse(before).relations);
      assert.deepEqual(JSON.parse(after).functions, JSON.parse(before).functions);

      for (
        const [change, reason] of [
          [
            "UPDATE session_buddy.meta SET value = 'abc' WHERE key = 'schema_version'",
            /unreadable schema_version 'abc': the schema was changed by hand/,
          ],
          [
            "DELETE FROM session_buddy.meta WHERE key = 'schema_version'",
            /records no schema_version: the schema was changed by hand/,
          ],
        ] as const
      ) {
        await database.query(change);
        const stamped = await snapshot(database);
        const serve = await refusedServer(owner, `stdio server after ${change}`);
        assert.match(serve.line, reason);
        const list = await refusedCommand(["sessions", "list"], owner, `list after ${change}`);
        assert.match(list.line, reason);
        assert.equal(await snapshot(database), stamped, "nothing was changed");
      }
    } finally {
      await cleanup();
      await database.drop();
      await withClient(cluster.admin, (client) => client.query(`DROP ROLE IF EXISTS "${app}"`));
    }
  },
);

pgTest(
  "a reading command on a database without the schema: one line, exit 1, and it creates nothing",
  async (cluster) => {
    const database = await cluster.createDatabase();
    const { dir, cleanup } = await tempDir();
    try {
      const env = { SESSION_BUDDY_DB: database.url, HOME: dir };
      const before = await snapshot(database);
      const outcomes = await Promise.all(
        READING.map((args) => refusedCommand(args, env, args.join(" "))),
      );
      for (const { line } of outcomes) {
        assert.match(line, /no session-buddy schema in that database/);
      }
      const schema = await database.query(
        "SELECT 1 FROM pg_namespace WHERE nspname = 'session_buddy'",
      );
      assert.deepEqual(schema, [], "no session_buddy schema afterwards");
      assert.equal(await snapshot(database), before, "nothing else created either");
      noPassword(
        Object.fromEntries(
          outcomes.map(({ out }, i) => [READING[i]!.join(" "), out.stdout + out.stderr]),
        ),
        [database.password],
        "reading commands",
      );
    } finally {
      await cleanup();
      await database.drop();
    }
  },
);

pgTest(
  "open failures: wrong password, wrong database, unreachable hosts, a bad --db-ca: one line, exit 1, within 5 s, no password",
  async (cluster) => {
    const database = await cluster.createDatabase();
    const { dir, cleanup } = await tempDir();
    // A password with every character a URL treats specially, %-encoded in URLs.
    const password = `p@ss:w/rd?#&%+ é ${crypto.randomUUID()}`;
    await database.query(
      `ALTER ROLE "${database.user}" PASSWORD '${password.replaceAll("'", "''")}'`,
    );
    const special = { ...database, password };
    const wrong = `wrong-${crypto.randomUUID()}`;
    const passwords = [password, wrong];
    const log = `${dir}/server.log`;
    const texts: Record<string, string> = {};
    const pit = tarpit();
    try {
      const good = withUrl(special, { password: encodeURIComponent(password) }, cluster);
      const bare = withUrl(special, { password: null }, cluster);
      const base = { HOME: dir, SESSION_BUDDY_LOG_FILE: log };
      // The same special password works from the URL and from SESSION_BUDDY_DB_PASSWORD.
      for (
        const env of [{ SESSION_BUDDY_DB: good }, {
          SESSION_BUDDY_DB: bare,
          SESSION_BUDDY_DB_PASSWORD: password,
        }] as Record<string, string>[]
      ) {
        const out = await run([], { ...base, ...env }, firstRequests());
        assert.equal(out.code, 0, out.stderr);
        assert.match(out.stdout, /"status":"tracked"/);
        texts[`working ${Object.keys(env).join("+")}`] = out.stdout + out.stderr;
      }

      const cases: {
        what: string;
        env: Record<string, string>;
        reason: RegExp;
        args?: string[];
      }[] = [
        {
          what: "wrong password in the URL",
          env: { SESSION_BUDDY_DB: withUrl(special, { password: wrong }, cluster) },
          reason: /password authentication failed/,
        },
        {
          what: "wrong SESSION_BUDDY_DB_PASSWORD",
          env: { SESSION_BUDDY_DB: bare, SESSION_BUDDY_DB_PASSWORD: wrong },
          reason: /password authentication failed/,
        },
        {
          what: "the URL's wrong password wins over the right SESSION_BUDDY_DB_PASSWORD",
          env: {
            SESSION_BUDDY_DB: withUrl(special, { password: wrong }, cluster),
            SESSION_BUDDY_DB_PASSWORD: password,
          },
          reason: /password authentication failed/,
        },
        {
          what: "no password at all",
          env: { SESSION_BUDDY_DB: bare },
          reason:
            /the database asks for a password: set SESSION_BUDDY_DB_PASSWORD or put it in the URL$/,
        },
        {
          what: "wrong database",
          env: { SESSION_BUDDY_DB: withUrl(special, { database: "no_such_db" }, cluster) },
          reason: /does not exist/,
        },
        {
          what: "wrong database, password from SESSION_BUDDY_DB_PASSWORD",
          env: {
            SESSION_BUDDY_DB: withUrl(
              database,
              { database: "no_such_db", password: null },
              cluster,
            ),
            SESSION_BUDDY_DB_PASSWORD: password,
          },
          reason: /does not exist/,
        },
        {
          what: "a port nobody listens on",
          env: { SESSION_BUDDY_DB: withUrl(special, { port: freePort() }, cluster) },
          reason: /ECONNREFUSED|refused/i,
        },
        {
          what: "a missing --db-ca file",
          env: { SESSION_BUDDY_DB: good.replace("sslmode=disable", "sslmode=verify-full") },
          args: ["--db-ca", `${dir}/missing-ca.pem`],
          reason: /cannot read --db-ca certificate/,
        },
        {
          what: "a missing SESSION_BUDDY_DB_CA file",
          env: {
            SESSION_BUDDY_DB: bare.replace("sslmode=disable", "sslmode=verify-full"),
            SESSION_BUDDY_DB_PASSWORD: password,
            SESSION_BUDDY_DB_CA: `${dir}/missing-ca.pem`,
          },
          reason: /cannot read --db-ca certificate/,
        },
        {
          what: "a --db-ca file that is not PEM",
          env: { SESSION_BUDDY_DB: good.replace("sslmode=disable", "sslmode=verify-full") },
          args: ["--db-ca", log],
          reason: /not in PEM form/,
        },
      ];
      // Unreachable hosts fail within SPEC's 5 s: timed against a refusal that needs no wait,
      // started at the same moment (the program's own start-up is the same in both). They
      // run while the other cases do.
      const slowUrls: Record<string, string> = {
        "a listener that never answers": withUrl(special, { port: pit.port }, cluster),
        "a blackholed address (10.255.255.1)": withUrl(special, {
          host: "10.255.255.1",
          port: 5432,
        }, cluster),
      };
      const slow = Promise.all(
        [withUrl(special, { port: freePort() }, cluster), ...Object.values(slowUrls)].map((url) =>
          run([], { ...base, SESSION_BUDDY_DB: url }, firstRequests())
        ),
      );
      for (const c of cases) {
        // A server and two reading commands, side by side.
        const commands = [[], ["sessions", "list"], ["stats"]];
        const outs = await Promise.all(commands.map((command) =>
          run(
            [...command, ...(c.args ?? [])],
            { ...base, ...c.env },
            command.length ? "" : firstRequests(),
          )
        ));
        outs.forEach((out, i) => {
          const what = `${c.what} (${commands[i]!.join(" ") || "serve"})`;
          const line = oneLine(out, 1, what);
          assert.match(line, c.reason, `${what}: ${line}`);
          if (i === 0) assert.equal(out.stdout, "", `${what}: nothing answered`);
          texts[what] = out.stdout + out.stderr;
        });
      }

      const slowRuns = await slow;
      const [quick] = slowRuns;
      const timings: Record<string, number> = {};
      Object.keys(slowUrls).forEach((what, i) => {
        const out = slowRuns[i + 1]!;
        oneLine(out, 1, what);
        texts[what] = out.stdout + out.stderr;
        timings[what] = Math.round(out.ms - quick!.ms);
        assert.ok(
          out.ms - quick!.ms < 5000,
          `${what}: failed ${Math.round(out.ms - quick!.ms)} ms after a refusal would`,
        );
      });
      texts.log = await Deno.readTextFile(log).catch(() => "");
      noPassword(texts, passwords, "open failures");
      figure("pg_open_failures", {
        cases: cases.length + Object.keys(slowUrls).length,
        runs: cases.length * 3 + Object.keys(slowUrls).length,
        one_line_exit_1: "all",
        never_answering_listener_ms: timings["a listener that never answers"],
        blackholed_address_ms: timings["a blackholed address (10.255.255.1)"],
        blackholed_address_line: ourLines(texts["a blackholed address (10.255.255.1)"]!)[0]!
          .replace(/^session-buddy: cannot open store \S+: /, ""),
        outputs_scanned: Object.keys(texts).length,
        password_found: 0,
      });
    } finally {
      pit.close();
      await cleanup();
      await database.drop();
    }
  },
);

pgTest(
  "usage errors of a postgres:// URL that holds a password: one line, exit 2, no password",
  async () => {
    const password = `Pw${crypto.randomUUID().replaceAll("-", "")}`;
    const { dir, cleanup } = await tempDir();
    try {
      const urls = [
        `postgres://sb:${password}@127.0.0.1:notaport/db`,
        `postgres://sb:${password}@127.0.0.1:5432/db?sslmode=bogus`,
        `postgres://sb:${password}@127.0.0.1:5432/db?password=${password}`,
        `postgres://sb:${password}@127.0.0.1:5432/db?application_name=x`,
        `postgres://sb:${password}@127.0.0.1:5432/`,
        `postgres://sb:${password}@127.0.0.1:5432/a/b`,
        `postgres://:${password}@127.0.0.1:5432/db`,
        `postgres://sb:${password}%zz@127.0.0.1:5432/db`,
        `postgres://sb:${password}@/db`,
        `postgres://sb:${password}@127.0.0.1:5432/db?host=relative/dir`,
        `postgres://sb:${password}@127.0.0.1:5432/db?host=/run/postgresql&sslmode=require`,
        `postgres://sb:${password}@[::1/db`,
        `postgresql://sb:${password}@127.0.0.1:99999/db`,
        // A password with characters a URL takes for delimiters, not %-encoded.
        `postgres://sb:${password}/x@127.0.0.1/db`,
        `postgres://sb:${password}#x@127.0.0.1/db`,
        `postgres://sb:${password}?x@127.0.0.1/db`,
      ];
      const invocations: { args: string[]; env: Record<string, string> }[] = urls.flatMap((
        url,
      ): { args: string[]; env: Record<string, string> }[] => [
        { args: [], env: { SESSION_BUDDY_DB: url } },
        { args: ["--db", url, "sessions", "list"], env: {} },
        { args: ["stats", `--db=${url}`], env: {} },
      ]);
      // The password from the variable, with a malformed URL or a bad flag beside it.
      invocations.push(
        {
          args: [],
          env: {
            SESSION_BUDDY_DB: "postgres://sb@127.0.0.1:5432/",
            SESSION_BUDDY_DB_PASSWORD: password,
          },
        },
        {
          args: ["--bogus"],
          env: {
            SESSION_BUDDY_DB: `postgres://sb:${password}@127.0.0.1/db`,
            SESSION_BUDDY_DB_PASSWORD: password,
          },
        },
        {
          args: ["sessions", "list", "--limit", "0"],
          env: { SESSION_BUDDY_DB: `postgres://sb:${password}@127.0.0.1/db` },
        },
        {
          args: ["sessions", "nope"],
          env: { SESSION_BUDDY_DB: `postgres://sb:${password}@127.0.0.1/db` },
        },
        {
          args: ["--log-level", "loud"],
          env: { SESSION_BUDDY_DB: `postgres://sb:${password}@127.0.0.1/db` },
        },
      );
      const outcomes = await Promise.all(
        invocations.map(({ args, env }) => run(args, { HOME: dir, ...env })),
      );
      outcomes.forEach((out, i) => {
        const what = JSON.stringify(invocations[i]);
        oneLine(out, 2, what);
        noPassword({ stdout: out.stdout, stderr: out.stderr }, [password], what);
      });
      figure("pg_usage_errors", {
        malformed_urls: urls.length,
        runs: outcomes.length,
        one_line_exit_2: outcomes.length,
        password_found: 0,
      });
    } finally {
      await cleanup();
    }
  },
);

// A location with a scheme the program does not know is refused quoting its scheme only:
// `postgresql+psycopg://` (the SQLAlchemy spelling Python shops use), `postgress://`,
// `pg://`, `mysql://` all carry `user:PASSWORD` after it. (`https://` with a password is
// refused without quoting it.)
pgTest(
  "an almost-PostgreSQL URL (a typo'd or foreign scheme) never quotes its password",
  async () => {
    const password = `Pw${crypto.randomUUID().replaceAll("-", "")}`;
    const { dir, cleanup } = await tempDir();
    try {
      for (const scheme of ["postgresql+psycopg", "postgress", "pg", "mysql", "https"]) {
        const url = `${scheme}://sb:${password}@db.example.test:5432/sessions`;
        for (const args of [[], ["sessions", "list"]]) {
          const out = await run(args, { HOME: dir, SESSION_BUDDY_DB: url }, "");
          oneLine(out, 2, url);
          noPassword(
            { stdout: out.stdout, stderr: out.stderr },
            [password],
            `${url} ${args.join(" ")}`,
          );
        }
      }
    } finally {
      await cleanup();
    }
  },
);

// A PostgreSQL URL with a leading space, or with one slash (`postgres:/`, `postgres:`), is
// not a file path to open (whose error would quote it, password included): it is refused.
pgTest(
  "a PostgreSQL URL mistyped into a file path (a leading space, one slash) never quotes its password",
  async () => {
    const password = `Pw${crypto.randomUUID().replaceAll("-", "")}`;
    const { dir, cleanup } = await tempDir();
    try {
      for (
        const url of [
          ` postgres://sb:${password}@127.0.0.1:5432/db`,
          `postgres:/sb:${password}@127.0.0.1:5432/db`,
          `postgres:sb:${password}@127.0.0.1:5432/db`,
        ]
      ) {
        const out = await run([], { HOME: dir, SESSION_BUDDY_DB: url }, firstRequests());
        oneLine(out, 2, url);
        noPassword({ stdout: out.stdout, stderr: out.stderr }, [password], JSON.stringify(url));
      }
    } finally {
      await cleanup();
    }
  },
);

pgTest(
  "--help and --version with a password in SESSION_BUDDY_DB and SESSION_BUDDY_DB_PASSWORD: no password",
  async (cluster) => {
    const database = await cluster.createDatabase();
    const { dir, cleanup } = await tempDir();
    try {
      const envs: Record<string, string>[] = [
        { SESSION_BUDDY_DB: database.url },
        {
          SESSION_BUDDY_DB: database.urlWithoutPassword,
          SESSION_BUDDY_DB_PASSWORD: database.password,
        },
      ];
      for (const env of envs) {
        for (
          const args of [["--help"], ["-h"], ["help"], ["serve", "--help"], [
            "sessions",
            "list",
            "--help",
          ], ["--version"]]
        ) {
          const out = await run(args, { HOME: dir, ...env });
          assert.equal(out.code, 0, `${args.join(" ")}: ${out.stderr}`);
          assert.notEqual(out.stdout, "");
          noPassword(
            { stdout: out.stdout, stderr: out.stderr },
            [database.password],
            args.join(" "),
          );
        }
      }
    } finally {
      await cleanup();
      await database.drop();
    }
  },
);

pgTest(
  "the driver reads no PG* variable: wrong ones are ignored, a right PGPASSWORD or ~/.pgpass is not used",
  async (cluster) => {
    const database = await cluster.createDatabase();
    const { dir, cleanup } = await tempDir();
    const wrong = {
      PGHOST: "10.255.255.1",
      PGHOSTADDR: "10.255.255.1",
      PGPORT: "1",
      PGUSER: "nobody",
      PGPASSWORD: `wrong-${crypto.randomUUID()}`,
      PGDATABASE: "no_such_db",
      PGSSLMODE: "verify-full",
      PGSSLROOTCERT: "/nonexistent/root.crt",
      PGAPPNAME: "read-from-PGAPPNAME",
      PGOPTIONS: "-c search_path=nowhere -c statement_timeout=1",
      PGCONNECT_TIMEOUT: "1",
      PGCLIENTENCODING: "LATIN1",
      PGTZ: "Pacific/Kiritimati",
      PGBINARY: "true",
      PGPASSFILE: "/nonexistent/pgpass",
      NODE_PG_FORCE_NATIVE: "1",
    };
    try {
      // Wrong values everywhere: the server works on the URL alone.
      const server = await startServer({
        env: { ...wrong, SESSION_BUDDY_DB: database.url, HOME: dir },
      });
      try {
        const started = await server.call("track_session_start", startArgs());
        assert.equal(started.status, "tracked", JSON.stringify(started));
        const id = String(started.session_id);
        assert.equal((await server.call("get_session", { session_id: id })).status, "found");
        const sessions = await database.query(
          "SELECT application_name FROM pg_stat_activity WHERE datname = $1 AND usename = $2",
          [database.name, database.user],
        );
        assert.ok(sessions.length > 0, "the server holds a connection");
        for (const s of sessions) assert.equal(s.application_name, "session-buddy");
        noPassword(
          { stderr: server.stderr() },
          [database.password, wrong.PGPASSWORD],
          "PG* ignored",
        );
      } finally {
        await server.close();
      }

      // The right password where only PG* or libpq's password file would find it: not used.
      await Deno.writeTextFile(
        `${dir}/.pgpass`,
        `*:*:*:*:${database.password}\n${cluster.host}:${cluster.port}:${database.name}:${database.user}:${database.password}\n`,
        { mode: 0o600 },
      );
      const unused: Record<string, string>[] = [
        { PGPASSWORD: database.password },
        { PGPASSFILE: `${dir}/.pgpass` },
        {},
      ];
      for (const extra of unused) {
        const what = `URL without a password, ${Object.keys(extra).join(", ") || "~/.pgpass"}`;
        const { line, out } = await refusedServer({
          ...extra,
          SESSION_BUDDY_DB: database.urlWithoutPassword,
          HOME: dir,
        }, what);
        assert.match(line, /password/i, what);
        noPassword({ stdout: out.stdout, stderr: out.stderr }, [database.password], what);
      }
      assert.equal((await pgRecords(database)).size, 1, "only the one start was stored");
    } finally {
      await cleanup();
      await database.drop();
    }
  },
);

pgTest(
  "the Unix socket URL: a server tracks, ends and lists over the socket, and so do the commands",
  async (cluster) => {
    if (!cluster.socketDir) {
      console.log(`skipped: the cluster at ${cluster.host}:${cluster.port} has no socket here`);
      return;
    }
    const database = await cluster.createDatabase();
    const { dir, cleanup } = await tempDir();
    try {
      const socketUrl = database.socketUrl!;
      assert.match(socketUrl, /\?host=\//);
      const withoutPassword = socketUrl.replace(`:${database.password}@`, "@");
      for (
        const env of [{ SESSION_BUDDY_DB: socketUrl }, {
          SESSION_BUDDY_DB: withoutPassword,
          SESSION_BUDDY_DB_PASSWORD: database.password,
        }] as Record<string, string>[]
      ) {
        const server = await startServer({ env: { ...env, HOME: dir } });
        try {
          const started = await server.call("track_session_start", startArgs());
          assert.equal(started.status, "tracked", JSON.stringify(started));
          const id = String(started.session_id);
          const ended = await server.call("track_session_end", {
            session_id: id,
            timestamp: new Date().toISOString(),
          });
          assert.equal(ended.status, "ended");
          const listed = await server.call("list_sessions", { status: "ended" });
          assert.ok((listed.sessions as { session_id: string }[]).some((s) => s.session_id === id));
          // The store names the socket in its log line, never the password.
          await poll(() => server.stderr().includes("serving MCP"), 5000);
          assert.match(
            server.stderr(),
            new RegExp(
              `store postgres://${database.user}@${cluster.socketDir}/\\.s\\.PGSQL\\.${cluster.port}/`,
            ),
          );
          noPassword({ stderr: server.stderr() }, [database.password], "socket server");
        } finally {
          await server.close();
        }
        const cli = await run(["sessions", "list", "--json"], { ...env, HOME: dir });
        assert.equal(cli.code, 0, cli.stderr);
        assert.ok(cli.stdout.trim().split("\n").length >= 1);
      }
      // Over the socket a connection is not over TCP: PostgreSQL sees no client address.
      const server = await startServer({ env: { SESSION_BUDDY_DB: socketUrl, HOME: dir } });
      try {
        await server.call("list_sessions", {});
        const rows = await database.query(
          "SELECT client_addr::text AS addr FROM pg_stat_activity WHERE datname = $1 AND application_name = 'session-buddy'",
          [database.name],
        );
        assert.ok(rows.length > 0, "the server holds a connection");
        for (const r of rows) assert.equal(r.addr, null, "a Unix socket connection");
      } finally {
        await server.close();
      }
      assert.equal((await pgRecords(database)).size, 2);
    } finally {
      await cleanup();
      await database.drop();
    }
  },
);
