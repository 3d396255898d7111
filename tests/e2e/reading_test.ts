/**
 * SPEC 3.3: the reading tools (get_session, list_sessions, session_stats), the heartbeat,
 * the session:// resource template, and their authentication, end to end over stdio, once
 * per store ("[kv] ...", "[postgres] ...").
 */
import assert from "node:assert/strict";
import { endArgs, mintToken, type Running, SECRET, startArgs } from "../helpers/server.ts";
import { storeTest, withServer } from "../helpers/contract.ts";

const AUTH_REQUIRED = "❌ Authentication failed: Token required (SESSION_BUDDY_SECRET is set)";
const COMPONENTS = ["alpha", "beta", "gamma"] as const;
const HOSTS = ["web1", "web2", "db1"] as const;
const USERS = ["john", "mary"] as const;
const BASE_MS = Date.UTC(2025, 0, 1, 0, 0, 0);
const HOUR_MS = 3600 * 1000;

/** One seeded session as the test knows it. */
interface Seeded {
  i: number;
  id: string;
  component: string;
  host: string;
  user: string;
  startMs: number;
  /** Duration in seconds when ended, else null (still active). */
  duration: number | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const iso = (ms: number) => new Date(ms).toISOString();

async function track(server: Running, overrides: Record<string, unknown>): Promise<string> {
  const result = await server.call("track_session_start", startArgs(overrides));
  assert.equal(result.status, "tracked", JSON.stringify(result));
  return String(result.session_id);
}

async function end(server: Running, id: string, timestamp: string): Promise<void> {
  const result = await server.call("track_session_end", endArgs(id, { timestamp }));
  assert.equal(result.status, "ended", JSON.stringify(result));
}

/**
 * Thirty sessions one hour apart from 2025-01-01T00:00Z, across three components, three
 * hosts and two users, tracked in a shuffled order; every fourth one stays active, the
 * others end after a known, varied duration.
 */
async function seed(server: Running): Promise<Seeded[]> {
  const all: Seeded[] = [];
  for (let k = 0; k < 30; k++) {
    const i = (k * 7) % 30; // a permutation, so insertion order is not start order
    const s: Seeded = {
      i,
      id: "",
      component: COMPONENTS[i % 3]!,
      host: HOSTS[Math.floor(i / 3) % 3]!,
      user: USERS[i % 2]!,
      startMs: BASE_MS + i * HOUR_MS,
      duration: i % 4 === 0 ? null : 60 + ((i * 37) % 500),
    };
    s.id = await track(server, {
      component_name: s.component,
      hostname: s.host,
      user: { username: s.user, home: `/home/${s.user}` },
      timestamp: iso(s.startMs),
    });
    if (s.duration !== null) await end(server, s.id, iso(s.startMs + s.duration * 1000));
    all.push(s);
  }
  return all;
}

/** Ids of the seeded sessions passing `keep`, newest start first. */
function expectedIds(all: Seeded[], keep: (s: Seeded) => boolean): string[] {
  return all.filter(keep).sort((a, b) => b.startMs - a.startMs).map((s) => s.id);
}

type Listed = {
  status: string;
  sessions: Record<string, unknown>[];
  next_cursor: string | null;
  error: string | null;
};

async function list(server: Running, args: Record<string, unknown>): Promise<Listed> {
  return await server.call("list_sessions", args) as unknown as Listed;
}

async function listIds(server: Running, args: Record<string, unknown>): Promise<string[]> {
  const page = await list(server, { limit: 500, ...args });
  assert.equal(page.status, "ok", JSON.stringify(page));
  assert.equal(page.error, null);
  assert.equal(page.next_cursor, null, "one page holds everything");
  return page.sessions.map((s) => String(s.session_id));
}

function assertListError(page: Listed, what: string): void {
  const seen = `status=${page.status} error=${page.error} sessions=${page.sessions.length}`;
  assert.equal(page.status, "error", `${what}: ${seen}`);
  assert.equal(typeof page.error, "string", what);
  assert.ok(page.error!.length > 0, what);
  assert.deepEqual(page.sessions, [], what);
  assert.equal(page.next_cursor, null, what);
}

/** Nearest-rank percentile, computed independently of the program. */
function rank(sorted: number[], p: number): number {
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
}

type Group = {
  key: string;
  active: number;
  ended: number;
  stale: number;
  duration_seconds: { mean: number; p50: number; p95: number } | null;
};

function expectedGroups(sessions: Seeded[], keyOf: (s: Seeded) => string): Group[] {
  const groups = new Map<string, Seeded[]>();
  for (const s of sessions) groups.set(keyOf(s), [...(groups.get(keyOf(s)) ?? []), s]);
  return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, members]) => {
    const durations = members.filter((s) => s.duration !== null).map((s) => s.duration!)
      .sort((a, b) => a - b);
    return {
      key,
      active: members.filter((s) => s.duration === null).length,
      ended: durations.length,
      stale: 0,
      duration_seconds: durations.length === 0 ? null : {
        mean: durations.reduce((a, b) => a + b, 0) / durations.length,
        p50: rank(durations, 50),
        p95: rank(durations, 95),
      },
    };
  });
}

function assertGroups(actual: Group[], expected: Group[], what: string): void {
  const sorted = [...actual].sort((a, b) => (a.key < b.key ? -1 : 1));
  assert.deepEqual(sorted.map((g) => g.key), expected.map((g) => g.key), `${what}: keys`);
  for (const [n, want] of expected.entries()) {
    const got = sorted[n]!;
    const label = `${what}: group ${want.key}`;
    assert.equal(got.active, want.active, `${label} active`);
    assert.equal(got.ended, want.ended, `${label} ended`);
    assert.equal(got.stale, want.stale, `${label} stale`);
    if (want.duration_seconds === null) {
      assert.equal(got.duration_seconds, null, `${label} duration`);
      continue;
    }
    assert.ok(got.duration_seconds, `${label} has durations`);
    assert.ok(
      Math.abs(got.duration_seconds.mean - want.duration_seconds.mean) < 0.001,
      `${label} mean ${got.duration_seconds.mean} vs ${want.duration_seconds.mean}`,
    );
    assert.equal(got.duration_seconds.p50, want.duration_seconds.p50, `${label} p50`);
    assert.equal(got.duration_seconds.p95, want.duration_seconds.p95, `${label} p95`);
  }
}

storeTest(
  "reading a seeded store: get_session, list_sessions and session_stats",
  async (kind, t) => {
    await withServer(async ({ server }) => {
      const all = await seed(server);
      const byI = (i: number) => all.find((s) => s.i === i)!;
      const everything = expectedIds(all, () => true);

      await t.step("get_session: found returns the record without the token", async () => {
        const active = byI(8);
        const result = await server.call("get_session", { session_id: active.id, token: null });
        assert.equal(result.status, "found", JSON.stringify(result));
        assert.equal(result.error, null);
        const s = result.session as Record<string, unknown>;
        assert.equal(s.session_id, active.id);
        assert.equal(s.status, "active");
        assert.equal(s.component_name, "gamma");
        assert.equal(s.hostname, active.host);
        assert.deepEqual(s.user, { username: active.user, home: `/home/${active.user}` });
        assert.equal(s.shell_type, "MahavishnuShell");
        assert.equal(s.pid, 12345);
        assert.equal(s.event_version, "1.0");
        assert.equal(typeof s.event_id, "string");
        assert.equal(s.started_at, iso(active.startMs));
        assert.equal(s.ended_at, null);
        assert.equal(s.duration_seconds, null);
        assert.equal(s.end_source, null);
        assert.equal(typeof s.last_seen_at, "string");
        const seenAgo = Date.now() - Date.parse(String(s.last_seen_at));
        assert.ok(
          seenAgo >= 0 && seenAgo < 120_000,
          `last_seen_at is the server's clock: ${seenAgo}`,
        );
        assert.ok("tracked_by" in s, "tracked_by is part of the record");
        assert.equal(s.tracked_by, null, "no secret, no token: nobody verified");
        assert.ok(!("token" in s), "the record never holds the token");
      });

      await t.step(
        "get_session: an ended record has its end, duration and end_source",
        async () => {
          const ended = byI(9);
          const result = await server.call("get_session", { session_id: ended.id });
          assert.equal(result.status, "found");
          const s = result.session as Record<string, unknown>;
          assert.equal(s.status, "ended");
          assert.equal(s.started_at, iso(ended.startMs));
          assert.equal(s.ended_at, iso(ended.startMs + ended.duration! * 1000));
          assert.equal(s.duration_seconds, ended.duration);
          assert.equal(s.end_source, "client");
          assert.deepEqual(s.end_metadata, { exit_reason: "user_exit" });
        },
      );

      await t.step("get_session: an unknown id is not_found", async () => {
        const result = await server.call("get_session", { session_id: "nobody-20250101-000000" });
        assert.deepEqual(result, { status: "not_found", session: null, error: null });
      });

      await t.step("get_session: bad arguments are an error result", async () => {
        for (
          const args of [{}, { session_id: 123 }, { session_id: "   " }, {
            session_id: "x".repeat(201),
          }, { session_id: null }]
        ) {
          const result = await server.call("get_session", args);
          assert.equal(result.status, "error", JSON.stringify(args));
          assert.equal(result.session, null);
          assert.equal(typeof result.error, "string");
          assert.ok(String(result.error).length > 0);
        }
      });

      await t.step("list_sessions: everything, newest start first", async () => {
        const ids = await listIds(server, {});
        assert.equal(ids.length, 30);
        assert.deepEqual(ids, everything);
        const page = await list(server, { limit: 500 });
        const starts = page.sessions.map((s) => Date.parse(String(s.started_at)));
        for (let n = 1; n < starts.length; n++) assert.ok(starts[n - 1]! > starts[n]!);
        for (const s of page.sessions) assert.ok(!("token" in s));
      });

      await t.step("list_sessions: default page is 50 (all 30 fit)", async () => {
        const page = await list(server, {});
        assert.equal(page.status, "ok");
        assert.equal(page.sessions.length, 30);
        assert.equal(page.next_cursor, null);
      });

      await t.step("list_sessions: each filter alone", async () => {
        for (const c of COMPONENTS) {
          const ids = await listIds(server, { component_name: c });
          assert.ok(ids.length > 0);
          assert.deepEqual(ids, expectedIds(all, (s) => s.component === c), `component ${c}`);
        }
        for (const h of HOSTS) {
          const ids = await listIds(server, { hostname: h });
          assert.ok(ids.length > 0);
          assert.deepEqual(ids, expectedIds(all, (s) => s.host === h), `host ${h}`);
        }
        for (const u of USERS) {
          const ids = await listIds(server, { username: u });
          assert.ok(ids.length > 0);
          assert.deepEqual(ids, expectedIds(all, (s) => s.user === u), `user ${u}`);
        }
        assert.deepEqual(
          await listIds(server, { status: "ended" }),
          expectedIds(all, (s) => s.duration !== null),
        );
        assert.deepEqual(
          await listIds(server, { status: "active" }),
          expectedIds(all, (s) => s.duration === null),
        );
        assert.deepEqual(await listIds(server, { status: "stale" }), []);
        assert.deepEqual(await listIds(server, { status: "all" }), everything);
        assert.deepEqual(
          await listIds(server, { since: iso(BASE_MS + 12 * HOUR_MS) }),
          expectedIds(all, (s) => s.i >= 12),
        );
        assert.deepEqual(
          await listIds(server, { until: iso(BASE_MS + 12 * HOUR_MS) }),
          expectedIds(all, (s) => s.i < 12),
        );
        assert.deepEqual(await listIds(server, { component_name: "nothing" }), []);
        assert.deepEqual(await listIds(server, { hostname: "nowhere" }), []);
        assert.deepEqual(await listIds(server, { username: "nobody" }), []);
      });

      await t.step("list_sessions: filters combine", async () => {
        const cases: [Record<string, unknown>, (s: Seeded) => boolean][] = [
          [
            { component_name: "alpha", hostname: "web2" },
            (s) => s.component === "alpha" && s.host === "web2",
          ],
          [
            { component_name: "beta", username: "mary" },
            (s) => s.component === "beta" && s.user === "mary",
          ],
          [{ hostname: "db1", username: "john" }, (s) => s.host === "db1" && s.user === "john"],
          [
            { component_name: "gamma", status: "ended" },
            (s) => s.component === "gamma" && s.duration !== null,
          ],
          [{ username: "john", status: "active" }, (s) => s.user === "john" && s.duration === null],
          [
            {
              status: "ended",
              since: iso(BASE_MS + 5 * HOUR_MS),
              until: iso(BASE_MS + 20 * HOUR_MS),
            },
            (
              s,
            ) => s.duration !== null && s.i >= 5 && s.i < 20,
          ],
          [
            {
              component_name: "alpha",
              hostname: "web1",
              username: "mary",
              status: "ended",
              since: iso(BASE_MS + 1 * HOUR_MS),
              until: iso(BASE_MS + 29 * HOUR_MS),
            },
            (s) =>
              s.component === "alpha" && s.host === "web1" && s.user === "mary" &&
              s.duration !== null && s.i >= 1 && s.i < 29,
          ],
          [
            { component_name: "alpha", hostname: "web1", username: "john", status: "active" },
            (s) =>
              s.component === "alpha" && s.host === "web1" && s.user === "john" &&
              s.duration === null,
          ],
        ];
        let nonEmpty = 0;
        for (const [args, keep] of cases) {
          const want = expectedIds(all, keep);
          if (want.length > 0) nonEmpty++;
          assert.deepEqual(await listIds(server, args), want, JSON.stringify(args));
        }
        assert.ok(nonEmpty >= 6, "most combinations select something");
      });

      await t.step(
        "list_sessions: since is inclusive, until exclusive, to the millisecond",
        async () => {
          const at10 = BASE_MS + 10 * HOUR_MS;
          const at20 = BASE_MS + 20 * HOUR_MS;
          const range = (lo: number, hi: number) => expectedIds(all, (s) => s.i >= lo && s.i <= hi);
          assert.deepEqual(
            await listIds(server, { since: iso(at10), until: iso(at20) }),
            range(10, 19),
          );
          assert.deepEqual(
            await listIds(server, { since: "2025-01-01T10:00:00Z", until: "2025-01-01T20:00:00Z" }),
            range(10, 19),
          );
          assert.deepEqual(
            await listIds(server, { since: "2025-01-01T11:00:00+01:00", until: iso(at20) }),
            range(10, 19),
            "offsets are applied",
          );
          assert.deepEqual(
            await listIds(server, { since: iso(at10 + 1), until: iso(at20 + 1) }),
            range(11, 20),
          );
          assert.deepEqual(
            await listIds(server, { since: iso(at10 - 1), until: iso(at20 - 1) }),
            range(10, 19),
          );
          assert.deepEqual(await listIds(server, { since: iso(at10), until: iso(at10) }), []);
          assert.deepEqual(await listIds(server, { since: iso(at10), until: iso(at10 + 1) }), [
            byI(10).id,
          ]);
        },
      );

      await t.step("an inverted range (since after until) selects nothing", async () => {
        const since = iso(BASE_MS + 20 * HOUR_MS);
        const until = iso(BASE_MS + 10 * HOUR_MS);
        assert.deepEqual(await server.call("session_stats", { since, until }), {
          status: "ok",
          groups: [],
          error: null,
        });
        assert.deepEqual(await listIds(server, { since, until, component_name: "alpha" }), []);
        assert.deepEqual(await listIds(server, { since, until }), []);
      });

      await t.step("list_sessions: limit is 1-500", async () => {
        for (const limit of [0, 501, -1, 1.5, "10", null]) {
          assertListError(await list(server, { limit }), `limit ${JSON.stringify(limit)}`);
        }
        const max = await list(server, { limit: 500 });
        assert.equal(max.status, "ok");
        assert.equal(max.sessions.length, 30);
        const one = await list(server, { limit: 1 });
        assert.equal(one.status, "ok");
        assert.deepEqual(one.sessions.map((s) => s.session_id), [everything[0]]);
        assert.equal(typeof one.next_cursor, "string");
      });

      await t.step("list_sessions: bad filters are an error result", async () => {
        for (
          const args of [
            { status: "bogus" },
            { since: "yesterday" },
            { until: "2025-13-01T00:00:00Z" },
            { component_name: "a b" },
            { hostname: 7 },
            { cursor: 42 },
          ]
        ) {
          assertListError(await list(server, args), JSON.stringify(args));
        }
      });

      await t.step("list_sessions: paging by 7 yields every session once, in order", async () => {
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const page: Listed = await list(server, { limit: 7, ...(cursor ? { cursor } : {}) });
          assert.equal(page.status, "ok", JSON.stringify(page));
          assert.ok(page.sessions.length <= 7);
          seen.push(...page.sessions.map((s) => String(s.session_id)));
          cursor = page.next_cursor;
          assert.ok(++pages <= 10, "paging ends");
        } while (cursor !== null);
        assert.deepEqual(seen, everything);
        assert.equal(new Set(seen).size, 30);
        assert.ok(pages >= 5, `30 sessions by 7 take at least 5 pages, took ${pages}`);
      });

      await t.step("list_sessions: pages that end exactly at the last session", async () => {
        for (const limit of [10, 15, 30]) {
          const seen: string[] = [];
          let cursor: string | null = null;
          let pages = 0;
          do {
            const page: Listed = await list(server, { limit, cursor });
            assert.equal(page.status, "ok", JSON.stringify(page));
            seen.push(...page.sessions.map((s) => String(s.session_id)));
            cursor = page.next_cursor;
            assert.ok(++pages <= 30 / limit + 1, `limit ${limit}: at most one empty last page`);
          } while (cursor !== null);
          assert.deepEqual(seen, everything, `limit ${limit}`);
        }
      });

      await t.step("list_sessions: paging with filters keeps the filters", async () => {
        const args = { component_name: "alpha", status: "ended" };
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const page: Listed = await list(server, { ...args, limit: 2, cursor });
          assert.equal(page.status, "ok", JSON.stringify(page));
          seen.push(...page.sessions.map((s) => String(s.session_id)));
          cursor = page.next_cursor;
          assert.ok(++pages <= 10, "paging ends");
        } while (cursor !== null);
        assert.deepEqual(
          seen,
          expectedIds(all, (s) => s.component === "alpha" && s.duration !== null),
        );
      });

      await t.step("list_sessions: forged and foreign cursors are error results", async () => {
        const random = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(48))));
        const jsonLike = btoa(JSON.stringify({ v: 1, q: "[]", at: 0, id: "x" }))
          .replaceAll("=", "");
        for (const cursor of ["abc", random, jsonLike, "!!!!", "x".repeat(5000)]) {
          assertListError(await list(server, { cursor }), `cursor ${cursor.slice(0, 20)}`);
        }
        const first = await list(server, { limit: 5 });
        assert.equal(typeof first.next_cursor, "string");
        const cursor = first.next_cursor!;
        // The same cursor continues its own listing ...
        const second = await list(server, { limit: 5, cursor });
        assert.equal(second.status, "ok");
        assert.deepEqual(second.sessions.map((s) => s.session_id), everything.slice(5, 10));
        // ... and is refused for another one.
        for (
          const other of [
            { component_name: "alpha" },
            { hostname: "web1" },
            { username: "john" },
            { status: "ended" },
            { since: iso(BASE_MS) },
            { until: iso(BASE_MS + 29 * HOUR_MS) },
          ]
        ) {
          assertListError(
            await list(server, { limit: 5, cursor, ...other }),
            `cursor reused with ${JSON.stringify(other)}`,
          );
        }
        // A changed page size is the same query.
        assert.equal((await list(server, { limit: 9, cursor })).status, "ok");
        // A tampered cursor is refused.
        const flipped = cursor.slice(0, 10) + (cursor[10] === "A" ? "B" : "A") + cursor.slice(11);
        const tampered = await list(server, { limit: 5, cursor: flipped });
        if (tampered.status === "ok") {
          // A decodable change may only land inside this listing's own results.
          for (const s of tampered.sessions) assert.ok(everything.includes(String(s.session_id)));
        } else {
          assertListError(tampered, "tampered cursor");
        }
      });

      await t.step("list_sessions: a well-formed cursor the client edited is refused", async () => {
        const first = await list(server, { limit: 5 });
        const real = first.next_cursor!;
        const fromB64 = (c: string) => atob(c.replaceAll("-", "+").replaceAll("_", "/"));
        const toB64 = (t: string) =>
          btoa(t).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
        let data: Record<string, unknown> | null = null;
        try {
          data = JSON.parse(fromB64(real));
        } catch {
          return; // not decodable by a client: nothing to edit
        }
        assert.ok(data && typeof data === "object");
        // The same query, with a position the server never handed out.
        const forged = toB64(JSON.stringify({ ...data, id: "forged-by-client" }));
        assertListError(await list(server, { limit: 5, cursor: forged }), "edited id");
        const numeric = Object.entries(data).find(([k, v]) => typeof v === "number" && k !== "v");
        if (numeric) {
          const moved = toB64(JSON.stringify({ ...data, [numeric[0]]: 12345 }));
          assertListError(await list(server, { limit: 5, cursor: moved }), "edited position");
        }
      });

      await t.step("session_stats: groups over an explicit range", async () => {
        const since = iso(BASE_MS + 3 * HOUR_MS);
        const until = iso(BASE_MS + 27 * HOUR_MS);
        const inRange = all.filter((s) => s.i >= 3 && s.i < 27);
        const keyOf = {
          component: (s: Seeded) => s.component,
          hostname: (s: Seeded) => s.host,
          username: (s: Seeded) => s.user,
        };
        for (const groupBy of ["component", "hostname", "username"] as const) {
          const result = await server.call("session_stats", { since, until, group_by: groupBy });
          assert.equal(result.status, "ok", JSON.stringify(result));
          assert.equal(result.error, null);
          const expected = expectedGroups(inRange, keyOf[groupBy]);
          assertGroups(result.groups as Group[], expected, groupBy);
          const total = (result.groups as Group[]).reduce((n, g) => n + g.active + g.ended, 0);
          assert.equal(total, 24, `${groupBy}: only the sessions started in the range`);
        }
        const byDefault = await server.call("session_stats", { since, until });
        assert.equal(byDefault.status, "ok");
        assertGroups(
          byDefault.groups as Group[],
          expectedGroups(inRange, keyOf.component),
          "default",
        );
      });

      await t.step("session_stats: since inclusive, until exclusive, null durations", async () => {
        const only0 = await server.call("session_stats", {
          since: iso(BASE_MS),
          until: iso(BASE_MS + HOUR_MS),
          group_by: "component",
        });
        assert.equal(only0.status, "ok");
        assert.deepEqual(only0.groups, [{
          key: "alpha",
          active: 1,
          ended: 0,
          stale: 0,
          duration_seconds: null,
        }]);
        const one = byI(29);
        const last = await server.call("session_stats", {
          since: iso(one.startMs),
          until: iso(one.startMs + 1),
          group_by: "hostname",
        });
        assert.deepEqual(last.groups, [{
          key: one.host,
          active: 0,
          ended: 1,
          stale: 0,
          duration_seconds: { mean: one.duration, p50: one.duration, p95: one.duration },
        }]);
        const none = await server.call("session_stats", {
          since: iso(BASE_MS - 10 * HOUR_MS),
          until: iso(BASE_MS),
        });
        assert.deepEqual(none, { status: "ok", groups: [], error: null });
      });

      await t.step("session_stats: the default range is the last 24 hours", async () => {
        const result = await server.call("session_stats", {});
        assert.deepEqual(result, { status: "ok", groups: [], error: null }, "2025 is long ago");
      });

      await t.step("session_stats: bad arguments are an error result", async () => {
        for (const args of [{ group_by: "nope" }, { since: "soon" }, { until: 5 }]) {
          const result = await server.call("session_stats", args);
          assert.equal(result.status, "error", JSON.stringify(args));
          assert.deepEqual(result.groups, []);
          assert.equal(typeof result.error, "string");
        }
      });

      await t.step("every reading result is JSON text content too", async () => {
        const raw = await server.callRaw("get_session", { session_id: byI(3).id });
        const content = raw.content as { type: string; text: string }[];
        assert.equal(content[0]?.type, "text");
        assert.deepEqual(JSON.parse(content[0]!.text), raw.structuredContent);
      });
    }, { store: kind });
  },
);

storeTest("stale is derived at read time; a heartbeat keeps a session active", async (kind) => {
  await withServer(async ({ server }) => {
    const now = Date.now();
    const stale = await track(server, { component_name: "quiet", timestamp: iso(now) });
    const beating = await track(server, { component_name: "beating", timestamp: iso(now + 1) });
    const closed = await track(server, { component_name: "closed", timestamp: iso(now + 2) });
    await end(server, closed, iso(now + 5000));
    const fresh = await list(server, { status: "active" });
    assert.deepEqual(fresh.sessions.map((s) => s.session_id).sort(), [beating, stale].sort());

    await sleep(1500);
    const beat = await server.call("track_session_heartbeat", {
      session_id: beating,
      timestamp: new Date().toISOString(),
      token: null,
    });
    assert.deepEqual(beat, { session_id: beating, status: "alive", error: null });
    await sleep(2300); // 3.8 s since the start, 2.3 s since the heartbeat; stale after 3 s

    const ids = async (status: string) => (await listIds(server, { status })).slice().sort();
    assert.deepEqual(await ids("stale"), [stale]);
    assert.deepEqual(await ids("active"), [beating]);
    assert.deepEqual(await ids("ended"), [closed]);
    assert.deepEqual(await ids("all"), [beating, closed, stale].sort());

    const got = await server.call("get_session", { session_id: stale });
    assert.equal((got.session as Record<string, unknown>).status, "stale");
    const alive = await server.call("get_session", { session_id: beating });
    const record = alive.session as Record<string, unknown>;
    assert.equal(record.status, "active");
    assert.ok(Date.parse(String(record.last_seen_at)) >= now + 1400, "last_seen_at moved");

    const stats = await server.call("session_stats", {
      since: iso(now),
      until: iso(now + 3),
      group_by: "username",
    });
    assert.equal(stats.status, "ok");
    assert.deepEqual(stats.groups, [{
      key: "john",
      active: 1,
      ended: 1,
      stale: 1,
      duration_seconds: { mean: 4.998, p50: 4.998, p95: 4.998 },
    }]);

    // A heartbeat brings a stale session back.
    const revived = await server.call("track_session_heartbeat", {
      session_id: stale,
      timestamp: new Date().toISOString(),
    });
    assert.equal(revived.status, "alive");
    assert.deepEqual(await ids("stale"), []);
    assert.deepEqual(await ids("active"), [beating, stale].sort());
  }, { store: kind, args: ["--stale-after", "3s"] });
});

storeTest("SESSION_BUDDY_STALE_AFTER turns quiet sessions stale too", async (kind) => {
  await withServer(async ({ server }) => {
    const id = await track(server, { component_name: "envstale" });
    assert.deepEqual(await listIds(server, { status: "active" }), [id]);
    await sleep(1500);
    assert.deepEqual(await listIds(server, { status: "stale" }), [id]);
    assert.deepEqual(await listIds(server, { status: "active" }), []);
  }, { store: kind, env: { SESSION_BUDDY_STALE_AFTER: "1s" } });
});

storeTest("track_session_heartbeat: not_found and error results", async (kind) => {
  await withServer(async ({ server }) => {
    const id = await track(server, { component_name: "hb" });
    assert.deepEqual(
      await server.call("track_session_heartbeat", {
        session_id: "ghost-20250101-000000",
        timestamp: new Date().toISOString(),
      }),
      { session_id: "ghost-20250101-000000", status: "not_found", error: null },
    );
    const bad = await server.call("track_session_heartbeat", {
      session_id: id,
      timestamp: "2026-02-06 12:00",
    });
    assert.equal(bad.status, "error");
    assert.equal(bad.session_id, id, "the given id is echoed");
    assert.equal(typeof bad.error, "string");
    assert.ok(String(bad.error).includes("2026-02-06 12:00"), String(bad.error));
    const missing = await server.call("track_session_heartbeat", { session_id: id });
    assert.equal(missing.status, "error");
    assert.equal(missing.session_id, id);
    const noId = await server.call("track_session_heartbeat", {
      session_id: 5,
      timestamp: new Date().toISOString(),
    });
    assert.equal(noId.status, "error");
    assert.equal(noId.session_id, null, "a non-string id is not echoed");
  }, { store: kind });
});

storeTest("resource template session://{session_id} returns the record JSON", async (kind) => {
  await withServer(async ({ server }) => {
    const id = await track(server, { component_name: "res" });
    const templates = await server.client.listResourceTemplates();
    const template = templates.resourceTemplates.find((r) =>
      r.uriTemplate === "session://{session_id}"
    );
    assert.ok(template, JSON.stringify(templates));
    const read = await server.client.readResource({ uri: `session://${id}` });
    assert.equal(read.contents.length, 1);
    const content = read.contents[0]! as { uri: string; text?: string; mimeType?: string };
    assert.equal(content.uri, `session://${id}`);
    assert.equal(content.mimeType, "application/json");
    const viaTool = await server.call("get_session", { session_id: id });
    assert.deepEqual(JSON.parse(String(content.text)), viaTool.session);
    await assert.rejects(() => server.client.readResource({ uri: "session://no-such-id" }));
    // The server keeps serving after a failed read.
    assert.equal((await server.call("get_session", { session_id: id })).status, "found");
  }, { store: kind });
});

storeTest("with SESSION_BUDDY_SECRET every reading tool needs a token", async (kind) => {
  await withServer(async ({ server }) => {
    const token = await mintToken({ user_id: "reader" });
    const id = await track(server, { component_name: "authd", token });
    const calls: [string, Record<string, unknown>][] = [
      ["get_session", { session_id: id }],
      ["list_sessions", {}],
      ["session_stats", {}],
      ["track_session_heartbeat", { session_id: id, timestamp: new Date().toISOString() }],
    ];
    for (const [name, args] of calls) {
      for (const missing of [{}, { token: null }, { token: "" }]) {
        const result = await server.call(name, { ...args, ...missing });
        assert.equal(result.status, "error", `${name} ${JSON.stringify(missing)}`);
        if (missing.token === "") {
          assert.ok(String(result.error).startsWith("❌ Authentication failed: "));
        } else {
          assert.equal(result.error, AUTH_REQUIRED, name);
        }
        if (name === "get_session") assert.equal(result.session, null);
        if (name === "list_sessions") {
          assert.deepEqual(result.sessions, []);
          assert.equal(result.next_cursor, null);
        }
        if (name === "session_stats") assert.deepEqual(result.groups, []);
        if (name === "track_session_heartbeat") assert.equal(result.session_id, null);
      }
      const forged = await server.call(name, {
        ...args,
        token: await mintToken({}, "another-secret-0123456789-abcdefghijklmnop"),
      });
      assert.equal(forged.status, "error", `${name} with a wrong signature`);
      assert.ok(String(forged.error).startsWith("❌ Authentication failed: "));
    }
    const found = await server.call("get_session", { session_id: id, token });
    assert.equal(found.status, "found");
    assert.equal((found.session as Record<string, unknown>).tracked_by, "reader");
    assert.ok(!JSON.stringify(found).includes(token), "the token is not echoed");
    const listed = await server.call("list_sessions", { token });
    assert.equal(listed.status, "ok");
    assert.deepEqual((listed.sessions as { session_id: string }[]).map((s) => s.session_id), [id]);
    const stats = await server.call("session_stats", { token });
    assert.equal(stats.status, "ok");
    assert.equal((stats.groups as Group[])[0]?.key, "authd");
    const beat = await server.call("track_session_heartbeat", {
      session_id: id,
      timestamp: new Date().toISOString(),
      token,
    });
    assert.deepEqual(beat, { session_id: id, status: "alive", error: null });
    // The token is checked before the arguments.
    const badArgs = await server.call("list_sessions", { limit: 0 });
    assert.equal(badArgs.error, AUTH_REQUIRED);
  }, { store: kind, env: { SESSION_BUDDY_SECRET: SECRET } });
});

storeTest(
  "tools/list: the three readers are read-only, the heartbeat and the import are not",
  async (kind) => {
    await withServer(async ({ server }) => {
      const { tools } = await server.client.listTools();
      const byName = new Map(tools.map((tool) => [tool.name, tool]));
      for (const name of ["get_session", "list_sessions", "session_stats"]) {
        const tool = byName.get(name);
        assert.ok(tool, `${name} is listed`);
        assert.equal(tool.annotations?.readOnlyHint, true, name);
        assert.ok(tool.outputSchema, `${name} has an output schema`);
      }
      const heartbeat = byName.get("track_session_heartbeat");
      assert.ok(heartbeat, "track_session_heartbeat is listed");
      assert.notEqual(heartbeat.annotations?.readOnlyHint, true);
      const writers = [
        "track_session_start",
        "track_session_end",
        "import_sessions",
        "import_history",
      ];
      for (const name of writers) {
        assert.notEqual(byName.get(name)?.annotations?.readOnlyHint, true, name);
      }
      // Sending the same records again changes nothing.
      assert.equal(byName.get("import_sessions")?.annotations?.idempotentHint, true);
    }, { store: kind });
  },
);
