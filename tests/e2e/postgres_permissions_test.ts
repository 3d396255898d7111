/**
 * SPEC 7 on a PostgreSQL store: the serving Worker gets net on exactly the database's
 * host:port (or read, write and `unix:` net on its socket file), no env, no sys. A Worker
 * made with workerPermissions() for a database URL opens the store with the real driver and
 * tracks through it; every other address, file, variable or program is refused by Deno.
 */
import assert from "node:assert/strict";
import { pgTest } from "../helpers/postgres.ts";
import { tempDir } from "../helpers/server.ts";
import { refused, storeProbe } from "../helpers/store_probe.ts";

pgTest(
  "a Worker with workerPermissions for a TCP database: the store works; other ports, hosts, files, env, run and sys are NotCapable",
  async (cluster) => {
    const database = await cluster.createDatabase();
    const { dir, cleanup } = await tempDir();
    try {
      await Deno.writeTextFile(`${dir}/secret.txt`, "x");
      const port = cluster.port;
      const { permissions, results, escaped } = await storeProbe(database.url, {
        elsewhere: {
          otherPort: database.url.replace(`:${port}/`, `:${port + 1}/`),
          otherHost: database.url.replace(`@${cluster.host}:`, "@127.0.0.2:"),
        },
        tcp: {
          granted: { hostname: cluster.host, port },
          otherPort: { hostname: cluster.host, port: port + 1 },
          otherLoopback: { hostname: "127.0.0.2", port },
          byName: { hostname: "localhost", port },
          otherHost: { hostname: "192.0.2.1", port: 80 },
        },
        unix: cluster.socketDir ? { socket: `${cluster.socketDir}/.s.PGSQL.${port}` } : {},
        files: { hostname: "/etc/hostname", temp: `${dir}/secret.txt` },
        env: { PGHOST: "PGHOST", PGPASSWORD: "PGPASSWORD", HOME: "HOME" },
      });
      assert.deepEqual(
        permissions.net,
        [`${cluster.host}:${port}`],
        "net: the database's host:port",
      );
      assert.equal(permissions.env, false);
      assert.equal(permissions.sys, false);
      assert.equal(permissions.read, false, "no file at all");
      assert.equal(results.store?.ok, true, `the store works: ${JSON.stringify(results.store)}`);
      assert.deepEqual(results["tcp:granted"], { ok: true });
      refused(results, [
        "store:otherPort",
        "store:otherHost",
        "tcp:otherPort",
        "tcp:otherLoopback",
        "tcp:byName",
        "tcp:otherHost",
        ...(cluster.socketDir ? ["unix:socket"] : []),
        "read:hostname",
        "read:temp",
        "env:PGHOST",
        "env:PGPASSWORD",
        "env:HOME",
        "run",
        "sys",
      ]);
      assert.deepEqual(escaped, [], "no refusal escaped as an unhandled rejection");
      // What it tracked is in the database.
      const rows = await database.query("SELECT session_id FROM session_buddy.sessions");
      assert.deepEqual(rows.map((r) => r.session_id), [(results.store as { value: string }).value]);
    } finally {
      await cleanup();
      await database.drop();
    }
  },
);

pgTest(
  "a Worker with workerPermissions for a Unix socket URL: read/write on the socket file and unix: net work; TCP and the folder's other files are NotCapable",
  async (cluster) => {
    if (!cluster.socketDir) {
      console.log(`skipped: the cluster at ${cluster.host}:${cluster.port} has no socket here`);
      return;
    }
    const database = await cluster.createDatabase();
    try {
      const socket = `${cluster.socketDir}/.s.PGSQL.${cluster.port}`;
      // Another file in the socket's folder (the helper's cluster keeps its admin URL there).
      const neighbour = [...Deno.readDirSync(cluster.socketDir)].find((e) => e.isFile)?.name;
      const { permissions, results, escaped } = await storeProbe(database.socketUrl!, {
        elsewhere: { tcp: database.url },
        tcp: { database: { hostname: cluster.host, port: cluster.port } },
        unix: { granted: socket, otherSocket: `${cluster.socketDir}/.s.PGSQL.${cluster.port + 1}` },
        files: neighbour ? { neighbour: `${cluster.socketDir}/${neighbour}` } : {},
        env: { PGHOST: "PGHOST" },
      });
      assert.deepEqual(permissions.net, [`unix:${socket}`]);
      assert.deepEqual(permissions.read, [socket]);
      assert.deepEqual(permissions.write, [socket]);
      assert.equal(permissions.env, false);
      assert.equal(permissions.sys, false);
      assert.equal(results.store?.ok, true, `the store works: ${JSON.stringify(results.store)}`);
      assert.deepEqual(results["unix:granted"], { ok: true });
      refused(results, [
        "store:tcp",
        "tcp:database",
        "unix:otherSocket",
        ...(neighbour ? ["read:neighbour"] : []),
        "env:PGHOST",
        "run",
        "sys",
      ]);
      assert.deepEqual(escaped, []);
    } finally {
      await database.drop();
    }
  },
);
