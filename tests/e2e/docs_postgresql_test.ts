/**
 * docs/postgresql.md runs as written against a throwaway cluster of its own
 * (tests/helpers/postgres.ts), on a port other than 5432 with its socket in its folder: the
 * role and database statements as the superuser, the grants for a database another role
 * owns and for a reader, the `pg_hba.conf` lines (the helper keeps one `local` line of its
 * own above them), and the URL forms: TCP with the password in SESSION_BUDDY_DB_PASSWORD,
 * the socket on a non-default port, and the socket on the default port (a folder whose
 * `.s.PGSQL.5432` is a link to the cluster's socket). Then the page's `export | import`
 * line moves a host's Deno KV store into a database, twice safely.
 *
 * The names the page uses (the role `session_buddy`, the database `sessions`) are used as
 * written; the cluster is this test's alone, so they collide with nothing.
 */
import assert from "node:assert/strict";
import { pg, skipWithoutPg } from "../helpers/postgres.ts";
import { query } from "../helpers/pg_database.ts";
import { type OwnCluster, ownPgTest } from "../helpers/pg_own_cluster.ts";
import { fenced, readPage, section } from "../helpers/readme_store.ts";
import {
  DENO_DIR,
  type Output,
  programCommand,
  runCommand,
  runProgram,
  runtimeEnv,
  startArgs,
  startServer,
  tempDir,
} from "../helpers/server.ts";

const PAGE = await readPage("docs/postgresql.md");

/** The SQL statements of the page's `sql` block that contains `marker`. */
function statements(marker: string): string[] {
  const found = fenced(section(PAGE, "Setting it up"), "sql").filter((b) => b.includes(marker));
  assert.equal(found.length, 1, `one sql block with "${marker}"`);
  return found[0]!.split(";").map((s) => s.trim()).filter((s) => s !== "");
}

/** The one line of a section's `sh` blocks that contains `marker`. */
function shLine(title: string, marker: string): string {
  const found = fenced(section(PAGE, title), "sh").flatMap((b) => b.split("\n"))
    .filter((l) => l.includes(marker));
  assert.equal(found.length, 1, `one line with "${marker}" in "${title}"`);
  return found[0]!;
}

/** The lines of the page's pg_hba.conf block, without comments. */
function hbaLines(): string[] {
  const hba = fenced(section(PAGE, "Setting it up"), "").filter((b) => b.includes("# TYPE"));
  assert.equal(hba.length, 1, "one pg_hba.conf block");
  return hba[0]!.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#"));
}

/** The value `export SESSION_BUDDY_DB='...'` gives. */
function exported(text: string): string {
  const m = /^export SESSION_BUDDY_DB='([^']+)'$/.exec(text);
  assert.ok(m, text);
  return m[1]!;
}

/** `session-buddy sessions list --json` on `url`: the listed ids, or the failure. */
async function listed(url: string, password: string, home: string): Promise<string[]> {
  const out = await runProgram(["sessions", "list", "--json"], {
    SESSION_BUDDY_DB: url,
    SESSION_BUDDY_DB_PASSWORD: password,
    HOME: home,
  });
  assert.equal(out.code, 0, `${url}\n${out.stderr}`);
  return out.stdout.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l).session_id);
}

/** Tracks one start through a stdio server on `url`; returns its id. */
async function track(url: string, password: string, home: string): Promise<string> {
  const server = await startServer({
    env: { SESSION_BUDDY_DB: url, SESSION_BUDDY_DB_PASSWORD: password, HOME: home },
  });
  try {
    const started = await server.call("track_session_start", startArgs());
    assert.equal(started.status, "tracked", JSON.stringify(started));
    return String(started.session_id);
  } finally {
    await server.close();
  }
}

ownPgTest(
  "docs/postgresql.md: role, database, grants, pg_hba lines and every URL form, as written",
  async (cluster: OwnCluster, t) => {
    const { dir, cleanup } = await tempDir();
    try {
      const setup = statements("CREATE ROLE session_buddy");
      const password = /PASSWORD '([^']+)'/.exec(setup[0]!)![1]!;
      let id = "";

      await t.step(
        "the superuser's statements make the role and the database it owns",
        async () => {
          for (const statement of setup) await query(cluster.admin, statement);
          const owner = await query(
            cluster.admin,
            "SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = 'sessions'",
          );
          assert.deepEqual(owner, [{ owner: "session_buddy" }]);
        },
      );

      await t.step("the pg_hba lines let the role in over TCP with its password", async () => {
        const lines = hbaLines();
        assert.ok(lines.some((l) => l.startsWith("host ")), lines.join("\n"));
        await cluster.setHba(lines);
        const url = `postgres://session_buddy@127.0.0.1:${cluster.port}/sessions`;
        id = await track(url, password, dir);
        assert.deepEqual(await listed(url, password, dir), [id]);
        // The first writable open made the schema, as the role that owns the database.
        const schema = await query(
          cluster.admin.replace("/postgres?", "/sessions?"),
          "SELECT nspname FROM pg_namespace WHERE nspname = 'session_buddy'",
        );
        assert.equal(schema.length, 1);
      });

      await t.step("the socket on a non-default port: localhost:PORT and ?host=", async () => {
        const shown = exported(shLine("The URL", "localhost:5433"));
        const url = shown.replace(":5433", `:${cluster.port}`)
          .replace("host=/run/postgresql", `host=${cluster.socketDir}`);
        assert.deepEqual(await listed(url, password, dir), [id]);
      });

      await t.step("the socket on the default port: no host, no port", async () => {
        const shown = exported(shLine("The URL", "@/sessions"));
        // A folder whose .s.PGSQL.5432 is the cluster's socket stands for /run/postgresql.
        const sockets = `${dir}/run`;
        await Deno.mkdir(sockets);
        await Deno.symlink(
          `${cluster.socketDir}/.s.PGSQL.${cluster.port}`,
          `${sockets}/.s.PGSQL.5432`,
        );
        const url = shown.replace("host=/run/postgresql", `host=${sockets}`);
        assert.deepEqual(await listed(url, password, dir), [id]);
      });

      await t.step("a database another role owns, with the grants shown", async () => {
        const [grant] = statements("GRANT CONNECT, CREATE ON DATABASE");
        await query(cluster.admin, "CREATE DATABASE sessions_other");
        await query(cluster.admin, "REVOKE ALL ON DATABASE sessions_other FROM PUBLIC");
        const url = `postgres://session_buddy@127.0.0.1:${cluster.port}/sessions_other`;
        await cluster.setHba([
          ...hbaLines(),
          "host sessions_other session_buddy 127.0.0.1/32 scram-sha-256",
        ]);
        const refused = await runProgram(["sessions", "reap"], {
          SESSION_BUDDY_DB: url,
          SESSION_BUDDY_DB_PASSWORD: password,
          HOME: dir,
        });
        assert.equal(refused.code, 1, "without the grants the role cannot connect");
        await query(
          cluster.admin,
          grant!.replace("DATABASE sessions ", "DATABASE sessions_other "),
        );
        const other = await track(url, password, dir);
        assert.deepEqual(await listed(url, password, dir), [other]);
      });

      await t.step("the reader's grants let it list, and nothing more", async () => {
        const reader = statements("CREATE ROLE auditor");
        const readerPassword = /PASSWORD '([^']+)'/.exec(reader[0]!)![1]!;
        // GRANT ... ON SCHEMA runs in the database; the rest in any.
        const inSessions = cluster.admin.replace("/postgres?", "/sessions?");
        for (const statement of reader) await query(inSessions, statement);
        await cluster.setHba([
          ...hbaLines(),
          "host sessions auditor 127.0.0.1/32 scram-sha-256",
        ]);
        const url = `postgres://auditor@127.0.0.1:${cluster.port}/sessions`;
        assert.deepEqual(await listed(url, readerPassword, dir), [id]);
        const server = await startServer({
          env: { SESSION_BUDDY_DB: url, SESSION_BUDDY_DB_PASSWORD: readerPassword, HOME: dir },
        }).catch((error: Error) => error);
        if (server instanceof Error) return; // refused at start: writing is not allowed
        try {
          const started = await server.call("track_session_start", startArgs());
          assert.equal(started.status, "error", JSON.stringify(started));
        } finally {
          await server.close();
        }
      });
    } finally {
      await cleanup();
    }
  },
);

/** A folder with a `session-buddy` command that runs this checkout, first on PATH. */
async function shellEnv(dir: string, extra: Record<string, string>) {
  const bin = `${dir}/bin`;
  await Deno.mkdir(bin, { recursive: true });
  const program = programCommand();
  const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
  await Deno.writeTextFile(
    `${bin}/session-buddy`,
    `#!/bin/sh\nexec ${[program.command, ...program.args].map(quote).join(" ")} "$@"\n`,
    { mode: 0o755 },
  );
  return {
    ...runtimeEnv(),
    PATH: `${bin}:${Deno.env.get("PATH") ?? ""}`,
    DENO_DIR,
    NO_COLOR: "1",
    ...extra,
  };
}

async function sh(script: string, env: Record<string, string>, cwd: string): Promise<Output> {
  const out = await runCommand("sh", ["-ec", script], { env, clearEnv: true, cwd });
  assert.ok(out, "sh ran");
  return out;
}

Deno.test("docs/postgresql.md: export | import moves a host's Deno KV store into PostgreSQL, twice safely", async () => {
  const cluster = await pg();
  if (!cluster) return skipWithoutPg("docs/postgresql.md's export | import line");
  const pipeline = shLine("Moving a host's store into it", "session-buddy sessions export --db ");
  const database = await cluster.createDatabase();
  const { dir, cleanup } = await tempDir();
  try {
    // The host's store where the line looks for it: the default store under HOME.
    const env = await shellEnv(dir, { HOME: dir, SESSION_BUDDY_DB: database.url });
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
    assert.equal(
      first.stdout.trim(),
      "Imported 3 sessions: 3 written, 0 renumbered, 0 updated, 0 unchanged",
    );
    const again = await sh(pipeline, env, dir);
    assert.equal(
      again.stdout.trim(),
      "Imported 3 sessions: 0 written, 0 renumbered, 0 updated, 3 unchanged",
    );
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
