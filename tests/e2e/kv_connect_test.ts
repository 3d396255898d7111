/**
 * SPEC 8.4 at the edge of a KV Connect store, on a real KV Connect server
 * (tests/helpers/kv_connect.ts): what an operator sees when the store cannot be opened (no
 * token, a refused token, nobody listening, a listener that never answers, credentials in
 * the URL), a layout newer than the program, the serving Worker's permissions, and the
 * limits of denokv's engine under a burst. The contracts of SPEC 3-6 on this store are the
 * contract suite's `[kv-connect]` runs.
 */
import assert from "node:assert/strict";
import { freePort, tarpit } from "../helpers/http.ts";
import { type KvConnectShim, kvConnectTest, startShim } from "../helpers/kv_connect.ts";
import { refused, storeProbe } from "../helpers/store_probe.ts";
import {
  initializeRequest,
  runProgram,
  startArgs,
  startServer,
  tempDir,
  withStore,
} from "../helpers/server.ts";
import { kvSessionIds } from "../helpers/stores.ts";

/** A test on a KV Connect shim of its own. */
function kvcTest(name: string, fn: (shim: KvConnectShim) => Promise<void>): void {
  kvConnectTest(name, async () => {
    const shim = await startShim();
    try {
      await fn(shim);
    } finally {
      await shim.stop();
    }
  });
}

/** The ways of opening a store an operator has: a server on stdio or HTTP, and readers. */
function openers(): { what: string; args: string[]; stdin: string }[] {
  return [
    { what: "stdio server", args: [], stdin: `${JSON.stringify(initializeRequest())}\n` },
    { what: "HTTP server", args: ["serve", "--http", `127.0.0.1:${freePort()}`], stdin: "" },
    { what: "sessions list", args: ["sessions", "list"], stdin: "" },
    { what: "stats", args: ["stats"], stdin: "" },
  ];
}

kvcTest(
  "a KV Connect store that cannot be opened: one line, exit 1 (2 for credentials in the URL), the token in none",
  async (shim) => {
    const { dir, cleanup } = await tempDir();
    const pit = tarpit();
    const wrong = `wrong-${crypto.randomUUID()}`;
    try {
      const db = shim.database().url;
      const cases: { what: string; env: Record<string, string>; code: number; reason: RegExp }[] = [
        {
          what: "no token",
          env: { SESSION_BUDDY_DB: db },
          code: 1,
          reason: /DENO_KV_ACCESS_TOKEN is not set: a KV Connect store needs its access token$/,
        },
        {
          what: "a refused token",
          env: { SESSION_BUDDY_DB: db, DENO_KV_ACCESS_TOKEN: wrong },
          code: 1,
          reason: /the KV Connect server refused the access token \(401\)$/,
        },
        {
          what: "nobody listening",
          env: {
            SESSION_BUDDY_DB: `http://127.0.0.1:${freePort()}/db/x`,
            DENO_KV_ACCESS_TOKEN: shim.token,
          },
          code: 1,
          reason: /cannot reach 127\.0\.0\.1:\d+: /,
        },
        {
          what: "a listener that never answers",
          env: {
            SESSION_BUDDY_DB: `http://127.0.0.1:${pit.port}/db/x`,
            DENO_KV_ACCESS_TOKEN: shim.token,
          },
          code: 1,
          reason: /127\.0\.0\.1:\d+ did not answer within 5 s$/,
        },
        {
          what: "credentials in the URL",
          env: {
            SESSION_BUDDY_DB: `https://admin:${wrong}@kv.example.com/db`,
            DENO_KV_ACCESS_TOKEN: shim.token,
          },
          code: 2,
          reason:
            /a KV Connect URL takes no user or password: the token goes in DENO_KV_ACCESS_TOKEN/,
        },
      ];
      for (const c of cases) {
        const outs = await Promise.all(
          openers().map((o) => runProgram(o.args, { HOME: dir, ...c.env }, o.stdin)),
        );
        outs.forEach((out, i) => {
          const what = `${c.what}, ${openers()[i]!.what}`;
          const lines = out.stderr.split("\n").filter((l) => l !== "");
          assert.equal(lines.length, 1, `${what}: one line: ${out.stderr}`);
          assert.equal(out.code, c.code, `${what}: exit status`);
          assert.match(lines[0]!, /^session-buddy: /, what);
          assert.match(lines[0]!, c.reason, what);
          assert.equal(out.stdout, "", `${what}: nothing on stdout`);
          for (const secret of [shim.token, wrong]) {
            assert.ok(
              !(out.stdout + out.stderr).includes(secret),
              `${what}: a token in the output`,
            );
          }
        });
      }
    } finally {
      pit.close();
      await cleanup();
    }
  },
);

kvcTest(
  "a KV Connect store of a newer layout is refused with one line, exit 1, and left as it was",
  async (shim) => {
    const { dir, cleanup } = await tempDir();
    try {
      const { url, path } = shim.database();
      const env = { HOME: dir, SESSION_BUDDY_DB: url, DENO_KV_ACCESS_TOKEN: shim.token };
      const server = await startServer({ env });
      try {
        assert.equal((await server.call("track_session_start", startArgs())).status, "tracked");
      } finally {
        await server.close();
      }
      await withStore(path, (kv) => kv.set(["meta", "layout"], 99));
      for (const o of openers()) {
        const out = await runProgram(o.args, env, o.stdin);
        const lines = out.stderr.split("\n").filter((l) => l !== "");
        assert.equal(lines.length, 1, `${o.what}: ${out.stderr}`);
        assert.equal(out.code, 1, o.what);
        assert.match(lines[0]!, /store layout 99 is not one this program knows/, o.what);
      }
      assert.equal(
        await withStore(path, async (kv) => (await kv.get(["meta", "layout"])).value),
        99,
      );
      assert.equal((await kvSessionIds(path)).length, 1, "the session is still there");
    } finally {
      await cleanup();
    }
  },
);

kvcTest(
  "a Worker with workerPermissions for a KV Connect store: the store works; other ports, hosts, files, env, run and sys are NotCapable",
  async (shim) => {
    const { dir, cleanup } = await tempDir();
    const before = Deno.env.get("DENO_KV_ACCESS_TOKEN");
    // Deno's KV client reads the token from the (process-wide) environment.
    Deno.env.set("DENO_KV_ACCESS_TOKEN", shim.token);
    try {
      await Deno.writeTextFile(`${dir}/secret.txt`, "x");
      const { url, path } = shim.database();
      const other = freePort();
      const { permissions, results, escaped } = await storeProbe(url, {
        elsewhere: {
          otherPort: url.replace(`:${shim.port}/`, `:${other}/`),
          otherHost: url.replace("//127.0.0.1:", "//127.0.0.2:"),
        },
        tcp: {
          granted: { hostname: "127.0.0.1", port: shim.port },
          otherPort: { hostname: "127.0.0.1", port: other },
          otherLoopback: { hostname: "127.0.0.2", port: shim.port },
          byName: { hostname: "localhost", port: shim.port },
        },
        unix: {},
        files: { hostname: "/etc/hostname", temp: `${dir}/secret.txt`, store: path },
        env: { token: "DENO_KV_ACCESS_TOKEN", HOME: "HOME", PATH: "PATH" },
      }, [`127.0.0.1:${shim.port}`]);
      assert.deepEqual(permissions.net, [`127.0.0.1:${shim.port}`], "net: the store's host");
      assert.deepEqual(permissions.env, ["DENO_KV_ACCESS_TOKEN"], "env: the token only");
      assert.equal(permissions.read, false, "no file at all");
      assert.equal(permissions.write, false, "no file at all");
      assert.equal(permissions.ffi, false);
      assert.equal(permissions.sys, false);
      assert.equal(results.store?.ok, true, `the store works: ${JSON.stringify(results.store)}`);
      assert.deepEqual(results["tcp:granted"], { ok: true });
      assert.deepEqual(results["env:token"], { ok: true, value: shim.token });
      refused(results, [
        "store:otherPort",
        "store:otherHost",
        "tcp:otherPort",
        "tcp:otherLoopback",
        "tcp:byName",
        "read:hostname",
        "read:temp",
        "read:store",
        "env:HOME",
        "env:PATH",
        "run",
        "sys",
      ]);
      assert.deepEqual(escaped, [], "no refusal escaped as an unhandled rejection");
      const id = (results.store as { value: string }).value;
      assert.deepEqual(await kvSessionIds(path), [id], "what it tracked is in the store");
    } finally {
      if (before === undefined) Deno.env.delete("DENO_KV_ACCESS_TOKEN");
      else Deno.env.set("DENO_KV_ACCESS_TOKEN", before);
      await cleanup();
    }
  },
);

kvcTest(
  "bursts of starts stay within denokv's limits: all tracked, none refused by the store's engine",
  async (shim) => {
    const { dir, cleanup } = await tempDir();
    try {
      const { url, path } = shim.database();
      const server = await startServer({
        env: { HOME: dir, SESSION_BUDDY_DB: url, DENO_KV_ACCESS_TOKEN: shim.token },
      });
      const ids: string[] = [];
      try {
        const at = new Date().toISOString();
        const bursts = [
          // One id base (one component, one second): -2, -3, ... in every group.
          Array.from({ length: 40 }, () => startArgs({ component_name: "burst", timestamp: at })),
          // Forty bases.
          Array.from(
            { length: 40 },
            (_, i) => startArgs({ component_name: `burst${i}`, timestamp: at }),
          ),
        ];
        for (const burst of bursts) {
          const results = await Promise.all(
            burst.map((args) => server.call("track_session_start", args)),
          );
          for (const r of results) {
            assert.equal(r.status, "tracked", JSON.stringify(r));
            ids.push(String(r.session_id));
          }
        }
        // Listed, so every index entry is written (the index writer's commits too).
        const listed = await server.call("list_sessions", { limit: 500 });
        assert.equal((listed.sessions as unknown[]).length, 80);
      } finally {
        await server.close();
      }
      assert.equal(new Set(ids).size, 80);
      assert.deepEqual((await kvSessionIds(path)).sort(), ids.toSorted());
      const refusals = shim.output().split("\n").filter((l) => l.startsWith("refused"));
      assert.deepEqual(refusals, [], "denokv refused none of the commits");
    } finally {
      await cleanup();
    }
  },
);
