/**
 * SPEC 3 at its edges, once per store: text that a database cannot hold as it is (U+0000,
 * lone surrogates) and starts of one event that are in flight at the same time.
 */
import assert from "node:assert/strict";
import { endArgs, type Running, startArgs } from "../helpers/server.ts";
import { storeTest, withServer } from "../helpers/contract.ts";

type Result = Record<string, unknown>;

async function listed(server: Running, filter: Record<string, unknown>): Promise<string[]> {
  const result = await server.call("list_sessions", { ...filter, token: null });
  assert.equal(result.status, "ok", JSON.stringify(result));
  return (result.sessions as Result[]).map((s) => String(s.session_id)).sort();
}

storeTest(
  "U+0000, U+FFFD and lone surrogates are stored exactly and found by their own filters",
  async (kind) => {
    await withServer(async ({ server }) => {
      const odd = {
        hostname: "host\u0000nul",
        user: { username: "user\ud800", home: "/home/\u0000" },
        shell_type: "Shell\udc00",
        environment: { python_version: "3.13", platform: "p\u0000", cwd: "/\ud83d", x: "\u0000" },
        metadata: { "k\u0000": "v\ud800" },
      };
      // What a careless column encoding would make of the one above.
      const lookalike = { hostname: "host\uFFFDnul", user: { username: "user\uFFFD", home: "/h" } };
      // All in flight at once, so that they share a group commit.
      const [a, b, c] = await Promise.all([
        server.call("track_session_start", startArgs({ component_name: "odd", ...odd })),
        server.call("track_session_start", startArgs({ component_name: "look", ...lookalike })),
        server.call("track_session_start", startArgs({ component_name: "plain" })),
      ]);
      for (const r of [a, b, c]) assert.equal(r!.status, "tracked", JSON.stringify(r));
      const idA = String(a!.session_id);
      const idB = String(b!.session_id);

      const got = await server.call("get_session", { session_id: idA, token: null });
      const session = got.session as Result;
      assert.equal(session.hostname, odd.hostname);
      assert.deepEqual(session.user, odd.user);
      assert.equal(session.shell_type, odd.shell_type);
      assert.deepEqual(session.environment, odd.environment);
      assert.deepEqual(session.metadata, odd.metadata);

      assert.deepEqual(await listed(server, { hostname: odd.hostname }), [idA]);
      assert.deepEqual(await listed(server, { hostname: lookalike.hostname }), [idB]);
      assert.deepEqual(await listed(server, { username: "user\ud800" }), [idA]);
      assert.deepEqual(await listed(server, { username: "user\uFFFD" }), [idB]);
      assert.deepEqual(await listed(server, { username: "user\ud800", hostname: "x" }), []);
      assert.deepEqual(await listed(server, { hostname: "host" }), []);
      const stats = await server.call("session_stats", { group_by: "hostname", token: null });
      const keys = (stats.groups as Result[]).map((g) => g.key).sort();
      assert.deepEqual(keys, [odd.hostname, lookalike.hostname, "server01"].sort());

      const ended = await server.call("track_session_end", endArgs(idA, { reason: "\u0000" }));
      assert.equal(ended.status, "ended", JSON.stringify(ended));
      assert.deepEqual(await listed(server, { hostname: odd.hostname, status: "ended" }), [idA]);
    }, { store: kind });
  },
);

storeTest("ids holding U+0000 or a lone surrogate are simply not found", async (kind) => {
  await withServer(async ({ server }) => {
    for (const id of ["odd-20260206-123456\u0000", "\ud800", "a\udc00b"]) {
      assert.deepEqual(await server.call("get_session", { session_id: id, token: null }), {
        status: "not_found",
        session: null,
        error: null,
      });
      assert.deepEqual(await server.call("track_session_end", endArgs(id)), {
        session_id: id,
        status: "not_found",
        error: null,
      });
      const beat = await server.call("track_session_heartbeat", {
        session_id: id,
        timestamp: new Date().toISOString(),
        token: null,
      });
      assert.equal(beat.status, "not_found", JSON.stringify(beat));
    }
    // And the server goes on serving.
    const ok = await server.call("track_session_start", startArgs());
    assert.equal(ok.status, "tracked", JSON.stringify(ok));
  }, { store: kind });
});

/** Calls sent at once, answered in the order sent. */
function together(server: Running, calls: Result[]): Promise<Result[]> {
  return Promise.all(calls.map((args) => server.call("track_session_start", args)));
}

/** Starts of other events around `calls`, so that groups form and several commit at once. */
function crowd(calls: Result[]): Result[] {
  const crowded: Result[] = [];
  for (const call of calls) {
    for (let i = 0; i < 20; i++) crowded.push(startArgs({ component_name: "crowd" }));
    crowded.push(call);
  }
  return crowded;
}

storeTest(
  "starts of one event in flight together: the first sent is stored, the others judged by it",
  async (kind) => {
    await withServer(async ({ server, store }) => {
      for (let round = 0; round < 3; round++) {
        const ev = startArgs({ component_name: `first${round}` });
        const changed = { ...ev, pid: 999 };
        // Nothing stored yet: [ev, changed, ev] stores ev; the retry of ev replays it.
        const answers = await together(server, crowd([ev, changed, ev]));
        const [a, b, c] = answers.filter((_, i) => i % 21 === 20);
        assert.equal(a!.status, "tracked", JSON.stringify(a));
        const id = String(a!.session_id);
        assert.match(String(b!.error), new RegExp(id), JSON.stringify(b));
        assert.deepEqual(c, a);
        assert.equal((await store.readRecord(id))?.pid, 12345);
        for (const other of answers) assert.notEqual(other.status, undefined);

        // ev stored: [changed, ev, changed] answers error, tracked, error, whatever the groups.
        const again = await together(server, crowd([changed, ev, changed]));
        const [d, e, f] = again.filter((_, i) => i % 21 === 20);
        assert.match(String(d!.error), new RegExp(id), JSON.stringify(d));
        assert.deepEqual(e, a);
        assert.deepEqual(f, d);
        assert.equal((await store.readRecord(id))?.pid, 12345);
        for (const r of [...answers, ...again].filter((_, i) => i % 21 !== 20)) {
          assert.equal(r.status, "tracked", JSON.stringify(r));
        }
      }
    }, { store: kind });
  },
);
