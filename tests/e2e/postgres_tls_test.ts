/**
 * The PostgreSQL store's TLS modes (SPEC 8.3), against a cluster of the test's own with
 * `ssl=on` and a server certificate signed by a CA made here (for 127.0.0.1 and localhost):
 * `disable` is plain, `require` is TLS without a check of the certificate, `verify-full`
 * checks it against `--db-ca` / `SESSION_BUDDY_DB_CA` (or the system's roots) and the host
 * name. What the server's backend says of each connection (pg_stat_ssl) is checked too, and
 * every refusal is one line, exit 1, without the password.
 */
import assert from "node:assert/strict";
import { pg } from "../helpers/postgres.ts";
import type { PgDatabase } from "../helpers/pg_database.ts";
import { type OwnCluster, ownClusterMissing, startOwnCluster } from "../helpers/pg_own_cluster.ts";
import {
  initializeRequest,
  runProgram,
  startArgs,
  startServer,
  tempDir,
} from "../helpers/server.ts";
import { makeTestCa, signServerCert } from "../helpers/tls.ts";
import { figure } from "../stress/raw.ts";

function ourLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.trim() !== "");
}

const REQUESTS = () =>
  [
    initializeRequest("t"),
    { jsonrpc: "2.0", method: "notifications/initialized" },
    {
      jsonrpc: "2.0",
      id: 2,
      method: "tools/call",
      params: { name: "track_session_start", arguments: startArgs() },
    },
  ].map((m) => JSON.stringify(m) + "\n").join("");

/** The database's URL on `host` with `sslmode`. */
function urlOf(database: PgDatabase, cluster: { port: number }, host: string, sslmode: string) {
  return `postgres://${database.user}:${database.password}@${host}:${cluster.port}/${database.name}?sslmode=${sslmode}`;
}

/** Runs a server on stdin: it either tracks the start (true) or fails with one line, exit 1. */
async function serves(
  env: Record<string, string>,
  password: string,
  what: string,
): Promise<boolean> {
  const out = await runProgram([], env, REQUESTS());
  for (const text of [out.stdout, out.stderr]) {
    assert.ok(!text.includes(password), `${what}: the password is in the output`);
  }
  if (out.code === 0 && out.stdout.includes('"status":"tracked"')) return true;
  assert.equal(out.code, 1, `${what}: exit status\n${out.stderr}`);
  assert.equal(ourLines(out.stderr).length, 1, `${what}: one line\n${out.stderr}`);
  assert.match(out.stderr, /^session-buddy: cannot open store postgres:\/\//, what);
  assert.equal(out.stdout, "", `${what}: nothing answered`);
  refusals[what] = ourLines(out.stderr)[0]!;
  return false;
}

/** What each refusal said, for the report. */
const refusals: Record<string, string> = {};

/** Whether the backend of a live server's connection speaks TLS, and which version. */
async function backendTls(
  database: PgDatabase,
  env: Record<string, string>,
): Promise<{ ssl: boolean; version: string | null }[]> {
  const server = await startServer({ env });
  try {
    const started = await server.call("track_session_start", startArgs());
    assert.equal(started.status, "tracked", JSON.stringify(started));
    const rows = await database.query(
      `SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
       WHERE a.datname = $1 AND a.application_name = 'session-buddy'`,
      [database.name],
    );
    assert.ok(rows.length > 0, "the server holds a connection");
    return rows.map((r) => ({
      ssl: r.ssl === true,
      version: r.version === null ? null : String(r.version),
    }));
  } finally {
    await server.close();
  }
}

interface TlsSetup {
  cluster: OwnCluster;
  database: PgDatabase;
  dir: string;
  caFile: string;
  otherCaFile: string;
  done: () => Promise<void>;
}

/** A TLS cluster (plain connections allowed too), its CA file, and another CA's. */
async function tlsCluster(): Promise<TlsSetup | null> {
  const { dir, cleanup } = await tempDir();
  const other = await tempDir();
  const ca = await makeTestCa(dir);
  const otherCa = await makeTestCa(other.dir);
  if (!ca || !otherCa) {
    await cleanup();
    await other.cleanup();
    return null;
  }
  const cluster = await startOwnCluster({
    files: [
      { name: "server.crt", text: await Deno.readTextFile(ca.certFile), mode: 0o644 },
      { name: "server.key", text: await Deno.readTextFile(ca.keyFile), mode: 0o600 },
    ],
    settings: (d) => ({
      ssl: "on",
      ssl_cert_file: `${d}/server.crt`,
      ssl_key_file: `${d}/server.key`,
    }),
    hba: ["hostssl all all 127.0.0.1/32 scram-sha-256", "host all all 127.0.0.1/32 scram-sha-256"],
  });
  if (!cluster) {
    await cleanup();
    await other.cleanup();
    return null;
  }
  const database = await cluster.createDatabase();
  const caFile = `${dir}/ca.crt`;
  return {
    cluster,
    database,
    dir,
    caFile,
    otherCaFile: `${other.dir}/ca.crt`,
    async done() {
      await cluster.close();
      await cleanup();
      await other.cleanup();
    },
  };
}

function skip(what: string): void {
  const why = ownClusterMissing() ?? "no openssl";
  if (Deno.env.get("CI") === "true") throw new Error(`${why}: ${what} (CI must have it)`);
  console.log(`skipped: ${why}: ${what}`);
}

Deno.test("PostgreSQL TLS: disable, require and verify-full (--db-ca, SESSION_BUDDY_DB_CA) connect as they say; an unknown CA, the system roots or another host name are refused", async (t) => {
  const setup = await tlsCluster();
  if (!setup) return skip("the TLS modes");
  const { cluster, database, dir, caFile, otherCaFile } = setup;
  const pw = database.password;
  try {
    await t.step("disable: plain, against a server that allows plain connections", async () => {
      const env = { SESSION_BUDDY_DB: urlOf(database, cluster, "127.0.0.1", "disable"), HOME: dir };
      assert.ok(await serves(env, pw, "disable"));
      assert.deepEqual(await backendTls(database, env), [{ ssl: false, version: null }]);
      // Without sslmode a loopback host is disable too.
      const implicit = {
        SESSION_BUDDY_DB: urlOf(database, cluster, "127.0.0.1", "x").replace("?sslmode=x", ""),
        HOME: dir,
      };
      assert.deepEqual(await backendTls(database, implicit), [{ ssl: false, version: null }]);
    });

    await t.step("require: TLS, the certificate not checked", async () => {
      const env = { SESSION_BUDDY_DB: urlOf(database, cluster, "127.0.0.1", "require"), HOME: dir };
      assert.ok(await serves(env, pw, "require"));
      const tls = await backendTls(database, env);
      assert.ok(
        tls.every((c) => c.ssl && /^TLSv1\.[23]$/.test(c.version ?? "")),
        JSON.stringify(tls),
      );
      // Another CA's roots change nothing for require.
      assert.ok(
        await serves({ ...env, SESSION_BUDDY_DB_CA: otherCaFile }, pw, "require, another CA"),
      );
    });

    await t.step(
      "verify-full with --db-ca and with SESSION_BUDDY_DB_CA, host localhost",
      async () => {
        const url = urlOf(database, cluster, "localhost", "verify-full");
        const flag = await runProgram(
          ["--db-ca", caFile],
          { SESSION_BUDDY_DB: url, HOME: dir },
          REQUESTS(),
        );
        assert.equal(flag.code, 0, flag.stderr);
        assert.match(flag.stdout, /"status":"tracked"/);
        assert.ok(!flag.stderr.includes(pw));
        const env = { SESSION_BUDDY_DB: url, SESSION_BUDDY_DB_CA: caFile, HOME: dir };
        assert.ok(await serves(env, pw, "verify-full, SESSION_BUDDY_DB_CA"));
        const tls = await backendTls(database, env);
        assert.ok(tls.every((c) => c.ssl), JSON.stringify(tls));
        // The commands take the CA the same way.
        const listed = await runProgram(["sessions", "list", "--json", "--db-ca", caFile], {
          SESSION_BUDDY_DB: url,
          HOME: dir,
        });
        assert.equal(listed.code, 0, listed.stderr);
        assert.ok(listed.stdout.trim().split("\n").length >= 3);
      },
    );

    await t.step(
      "verify-full without the CA (the system's roots), or with another CA: refused",
      async () => {
        const url = urlOf(database, cluster, "localhost", "verify-full");
        assert.equal(
          await serves({ SESSION_BUDDY_DB: url, HOME: dir }, pw, "verify-full, system roots"),
          false,
        );
        assert.equal(
          await serves(
            { SESSION_BUDDY_DB: url, SESSION_BUDDY_DB_CA: otherCaFile, HOME: dir },
            pw,
            "verify-full, another CA",
          ),
          false,
        );
        assert.match(refusals["verify-full, system roots"]!, /certificate|self.signed|verify/i);
      },
    );

    await t.step("verify-full when the certificate names another host: refused", async () => {
      const wrong = await signServerCert(dir, "other", ["db.example.test"]);
      await cluster.replaceFile("server.crt", await Deno.readTextFile(wrong.certFile));
      await cluster.replaceFile("server.key", await Deno.readTextFile(wrong.keyFile));
      const url = urlOf(database, cluster, "localhost", "verify-full");
      assert.equal(
        await serves(
          { SESSION_BUDDY_DB: url, SESSION_BUDDY_DB_CA: caFile, HOME: dir },
          pw,
          "verify-full, another host's certificate",
        ),
        false,
      );
      assert.match(
        refusals["verify-full, another host's certificate"]!,
        /altnames|host ?name|does not match/i,
      );
      // The same certificate passes require, which does not check it.
      assert.ok(
        await serves(
          { SESSION_BUDDY_DB: urlOf(database, cluster, "127.0.0.1", "require"), HOME: dir },
          pw,
          "require, another host's certificate",
        ),
      );
      const original = await signServerCert(dir, "again", ["IP:127.0.0.1", "localhost"]);
      await cluster.replaceFile("server.crt", await Deno.readTextFile(original.certFile));
      await cluster.replaceFile("server.key", await Deno.readTextFile(original.keyFile));
    });

    await t.step(
      "a cluster whose pg_hba.conf has only hostssl lines: disable refused, require connects",
      async () => {
        await cluster.setHba(["hostssl all all 127.0.0.1/32 scram-sha-256"]);
        assert.equal(
          await serves(
            { SESSION_BUDDY_DB: urlOf(database, cluster, "127.0.0.1", "disable"), HOME: dir },
            pw,
            "disable, hostssl only",
          ),
          false,
        );
        assert.match(refusals["disable, hostssl only"]!, /no pg_hba\.conf entry|no encryption/);
        assert.ok(
          await serves(
            { SESSION_BUDDY_DB: urlOf(database, cluster, "127.0.0.1", "require"), HOME: dir },
            pw,
            "require, hostssl only",
          ),
        );
        assert.ok(
          await serves(
            {
              SESSION_BUDDY_DB: urlOf(database, cluster, "localhost", "verify-full"),
              SESSION_BUDDY_DB_CA: caFile,
              HOME: dir,
            },
            pw,
            "verify-full, hostssl only",
          ),
        );
      },
    );
    figure("pg_tls", {
      connected: "disable (plain), require (TLS), verify-full with --db-ca and SESSION_BUDDY_DB_CA",
      refused: Object.fromEntries(
        Object.entries(refusals).map((
          [k, v],
        ) => [k, v.replace(/^session-buddy: cannot open store \S+: /, "")]),
      ),
    });
  } finally {
    await setup.done();
  }
});

// verify-full to an IP address: no server name is sent (node:tls refuses an address as
// one); the certificate's IP entry is what is checked. verify-full is the default for any
// host but loopback, so `postgres://sb@10.0.0.5/db` must work as configured.
Deno.test({
  name: "PostgreSQL TLS: verify-full to an IP address its certificate names connects",
  async fn() {
    const setup = await tlsCluster();
    if (!setup) return skip("verify-full by IP");
    const { cluster, database, dir, caFile } = setup;
    try {
      const url = urlOf(database, cluster, "127.0.0.1", "verify-full");
      const env = { SESSION_BUDDY_DB: url, SESSION_BUDDY_DB_CA: caFile, HOME: dir };
      assert.ok(await serves(env, database.password, "verify-full by IP"));
      // The address is still checked: a certificate naming only `localhost` is refused.
      const named = await signServerCert(dir, "named", ["localhost"]);
      await cluster.replaceFile("server.crt", await Deno.readTextFile(named.certFile));
      await cluster.replaceFile("server.key", await Deno.readTextFile(named.keyFile));
      assert.equal(
        await serves(env, database.password, "verify-full by IP, a name-only certificate"),
        false,
      );
      assert.match(
        refusals["verify-full by IP, a name-only certificate"]!,
        /altnames|IP|does not match/i,
      );
    } finally {
      await setup.done();
    }
  },
});

Deno.test("PostgreSQL TLS: require against a server without TLS is refused with one line, exit 1", async () => {
  const shared = await pg();
  if (!shared) return skip("require without TLS");
  const database = await shared.createDatabase();
  const { dir, cleanup } = await tempDir();
  try {
    const [setting] = await database.query("SELECT current_setting('ssl') AS ssl");
    if (setting?.ssl === "on") return console.log("skipped: the shared cluster speaks TLS");
    const url = urlOf(database, shared, shared.host, "require");
    assert.equal(
      await serves({ SESSION_BUDDY_DB: url, HOME: dir }, database.password, "require, no TLS"),
      false,
    );
    assert.match(refusals["require, no TLS"]!, /SSL|TLS/);
  } finally {
    await cleanup();
    await database.drop();
  }
});
