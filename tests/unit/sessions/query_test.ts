/** Reading sessions without a store: derived status, filters, cursors, statistics. */
import assert from "node:assert/strict";
import {
  decodeCursor,
  encodeCursor,
  filterKey,
  matches,
  nearestRank,
  reportedStatus,
  type SessionFilter,
  type SessionView,
  StatsAccumulator,
  statsOf,
  statsWindow,
  viewOf,
} from "../../../src/sessions/query.ts";
import type { SessionRecord } from "../../../src/sessions/session.ts";

const STARTED = "2026-02-06T12:00:00.000Z";
const STARTED_MS = Date.parse(STARTED);
const HOUR = 3600 * 1000;

function record(overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    session_id: "mahavishnu-20260206-120000",
    event_version: "1.0",
    event_id: "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    event_type: "session_start",
    component_name: "mahavishnu",
    shell_type: "MahavishnuShell",
    timestamp: STARTED,
    pid: 12345,
    user: { username: "john", home: "/home/john" },
    hostname: "server01",
    environment: { python_version: "3.13.0", platform: "Linux", cwd: "/home/john" },
    metadata: null,
    status: "active",
    started_at: STARTED,
    ended_at: null,
    duration_seconds: null,
    end_metadata: null,
    end_source: null,
    last_seen_at: STARTED,
    tracked_by: null,
    ...overrides,
  } as SessionRecord;
}

function view(overrides: Partial<SessionView> = {}): SessionView {
  return { ...record(), ...overrides } as SessionView;
}

function ended(overrides: Partial<SessionView>, duration: number): SessionView {
  return view({ status: "ended", duration_seconds: duration, ...overrides });
}

const ALL: SessionFilter = { status: "all" };

Deno.test("reportedStatus: ended stays ended however long ago it was seen", () => {
  const r = record({ status: "ended", end_source: "client" });
  assert.equal(reportedStatus(r, STARTED_MS + 1000 * HOUR, HOUR), "ended");
  const reaped = record({ status: "ended", end_source: "reaper" });
  assert.equal(reportedStatus(reaped, STARTED_MS + 1000 * HOUR, HOUR), "ended");
});

Deno.test("reportedStatus: an active session turns stale once not seen for too long", () => {
  const r = record();
  assert.equal(reportedStatus(r, STARTED_MS, HOUR), "active");
  assert.equal(reportedStatus(r, STARTED_MS + HOUR - 1, HOUR), "active");
  assert.equal(reportedStatus(r, STARTED_MS + HOUR + 1, HOUR), "stale");
  assert.equal(reportedStatus(r, STARTED_MS + 100 * HOUR, HOUR), "stale");
  // Last seen, not the start, is what counts.
  const seen = record({ last_seen_at: new Date(STARTED_MS + 10 * HOUR).toISOString() });
  assert.equal(reportedStatus(seen, STARTED_MS + 10.5 * HOUR, HOUR), "active");
  assert.equal(reportedStatus(seen, STARTED_MS + 11.5 * HOUR, HOUR), "stale");
});

Deno.test("viewOf: the record with its status derived, never writing the record", () => {
  const r = record();
  const v = viewOf(r, STARTED_MS + 2 * HOUR, HOUR);
  assert.equal(v.status, "stale");
  assert.equal(r.status, "active", "the stored record is unchanged");
  assert.deepEqual({ ...v, status: "active" }, r);
});

Deno.test("matches: each filter, and since inclusive / until exclusive", () => {
  const v = view();
  assert.ok(matches(v, ALL));
  assert.ok(matches(v, { status: "active" }));
  assert.ok(!matches(v, { status: "ended" }));
  assert.ok(!matches(v, { status: "stale" }));
  assert.ok(matches(v, { status: "all", component_name: "mahavishnu" }));
  assert.ok(!matches(v, { status: "all", component_name: "other" }));
  assert.ok(matches(v, { status: "all", hostname: "server01" }));
  assert.ok(!matches(v, { status: "all", hostname: "server02" }));
  assert.ok(matches(v, { status: "all", username: "john" }));
  assert.ok(!matches(v, { status: "all", username: "mary" }));
  assert.ok(matches(v, { status: "all", sinceMs: STARTED_MS }));
  assert.ok(!matches(v, { status: "all", sinceMs: STARTED_MS + 1 }));
  assert.ok(!matches(v, { status: "all", untilMs: STARTED_MS }));
  assert.ok(matches(v, { status: "all", untilMs: STARTED_MS + 1 }));
  assert.ok(matches(v, { status: "active", component_name: "mahavishnu", username: "john" }));
  assert.ok(!matches(v, { status: "active", component_name: "mahavishnu", username: "mary" }));
});

Deno.test("nearestRank: p = sorted[ceil(p/100*n) - 1]", () => {
  const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  assert.equal(nearestRank(ten, 50), 5);
  assert.equal(nearestRank(ten, 95), 10);
  assert.equal(nearestRank(ten, 90), 9);
  assert.equal(nearestRank(ten, 100), 10);
  assert.equal(nearestRank(ten, 0), 1);
  const twenty = Array.from({ length: 20 }, (_, i) => (i + 1) * 10);
  assert.equal(nearestRank(twenty, 95), 190);
  assert.equal(nearestRank(twenty, 50), 100);
  assert.equal(nearestRank([7], 50), 7);
  assert.equal(nearestRank([7], 95), 7);
  assert.equal(nearestRank([3, 9], 50), 3);
  assert.equal(nearestRank([3, 9], 51), 9);
  assert.throws(() => nearestRank([], 50), RangeError);
});

Deno.test("StatsAccumulator: counts and durations per component, ordered by key", () => {
  const stats = new StatsAccumulator("component");
  const durations = [30, 10, 20, 40, 1000];
  for (const d of durations) stats.add(ended({ component_name: "beta" }, d));
  stats.add(view({ component_name: "beta" }));
  stats.add(view({ component_name: "beta", status: "stale" }));
  stats.add(view({ component_name: "alpha" }));
  stats.add(view({ component_name: "alpha", status: "stale" }));
  stats.add(view({ component_name: "alpha", status: "stale" }));
  assert.deepEqual(stats.result(), [
    { key: "alpha", active: 1, ended: 0, stale: 2, duration_seconds: null },
    {
      key: "beta",
      active: 1,
      ended: 5,
      stale: 1,
      duration_seconds: { mean: 220, p50: 30, p95: 1000 },
    },
  ]);
});

Deno.test("StatsAccumulator: groups by hostname and by username", () => {
  const byHost = new StatsAccumulator("hostname");
  const byUser = new StatsAccumulator("username");
  const views = [
    ended({ hostname: "web1", user: { username: "mary", home: "/m" } }, 1),
    ended({ hostname: "web1", user: { username: "john", home: "/j" } }, 2),
    ended({ hostname: "db1", user: { username: "mary", home: "/m" } }, 4),
    view({ hostname: "db1", user: { username: "zed", home: "/z" } }),
  ];
  for (const v of views) {
    byHost.add(v);
    byUser.add(v);
  }
  assert.deepEqual(byHost.result(), [
    { key: "db1", active: 1, ended: 1, stale: 0, duration_seconds: { mean: 4, p50: 4, p95: 4 } },
    {
      key: "web1",
      active: 0,
      ended: 2,
      stale: 0,
      duration_seconds: { mean: 1.5, p50: 1, p95: 2 },
    },
  ]);
  assert.deepEqual(byUser.result().map((g) => [g.key, g.ended, g.active]), [
    ["john", 1, 0],
    ["mary", 2, 0],
    ["zed", 0, 1],
  ]);
});

Deno.test("StatsAccumulator: the mean of fractional durations, percentiles by nearest rank", () => {
  const stats = new StatsAccumulator("component");
  const durations = Array.from({ length: 21 }, (_, i) => 0.5 + i); // 0.5 .. 20.5
  for (const d of [...durations].reverse()) stats.add(ended({}, d));
  const [group] = stats.result();
  assert.ok(group);
  assert.equal(group.ended, 21);
  const mean = durations.reduce((a, b) => a + b, 0) / 21;
  assert.ok(Math.abs(group.duration_seconds!.mean - mean) < 0.001);
  assert.equal(group.duration_seconds!.p50, durations[Math.ceil(0.5 * 21) - 1]);
  assert.equal(group.duration_seconds!.p95, durations[Math.ceil(0.95 * 21) - 1]);
  assert.deepEqual(new StatsAccumulator("username").result(), []);
});

Deno.test("encodeCursor/decodeCursor: a round trip for the same filter", () => {
  const filters: SessionFilter[] = [
    ALL,
    { status: "ended", component_name: "alpha" },
    {
      status: "active",
      component_name: "a",
      hostname: "h",
      username: "u",
      sinceMs: 0,
      untilMs: STARTED_MS,
    },
  ];
  for (const f of filters) {
    const position = { at: STARTED_MS, id: "alpha-20260206-120000-2" };
    const cursor = encodeCursor(position, f);
    assert.match(cursor, /^[A-Za-z0-9_-]+$/, "URL-safe and opaque");
    assert.deepEqual(decodeCursor(cursor, { ...f }), position);
  }
  const unicode = { at: -5, id: "ünïcode-✓" };
  assert.deepEqual(decodeCursor(encodeCursor(unicode, ALL), ALL), unicode);
});

Deno.test("decodeCursor: forged, tampered and foreign cursors are refused with a reason", () => {
  const f: SessionFilter = { status: "all", component_name: "alpha", sinceMs: 1000 };
  const cursor = encodeCursor({ at: STARTED_MS, id: "alpha-20260206-120000" }, f);
  const refused = (c: string, g: SessionFilter = f) => {
    const out = decodeCursor(c, g);
    assert.equal(typeof out, "string", `refused: ${c.slice(0, 40)}`);
    assert.ok((out as string).length > 0);
  };
  refused("abc");
  refused("");
  refused("not a cursor!");
  refused("x".repeat(3000));
  refused(btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(40)))));
  refused(btoa("null").replaceAll("=", ""));
  refused(btoa("[1,2]").replaceAll("=", ""));
  // Another query's cursor.
  for (
    const other of [
      ALL,
      { ...f, component_name: "beta" },
      { ...f, status: "ended" as const },
      { ...f, hostname: "h" },
      { ...f, username: "u" },
      { ...f, sinceMs: 1001 },
      { ...f, untilMs: 5000 },
    ]
  ) {
    refused(cursor, other);
  }
  // Altered content re-encoded: another version, a damaged position.
  const data = JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/")));
  const reencode = (o: unknown) =>
    btoa(JSON.stringify(o)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  assert.deepEqual(decodeCursor(reencode(data), f), { at: STARTED_MS, id: data.id });
  refused(reencode({ ...data, v: 2 }));
  refused(reencode({ ...data, v: undefined }));
  refused(reencode({ ...data, at: "12" }));
  refused(reencode({ ...data, at: null }));
  refused(reencode({ ...data, id: 7 }));
  refused(reencode({ ...data, q: filterKey(ALL) }));
});

Deno.test("filterKey: equal filters agree, different ones differ", () => {
  assert.equal(filterKey({ status: "all" }), filterKey({ status: "all", hostname: undefined }));
  const keys = new Set([
    filterKey({ status: "all" }),
    filterKey({ status: "active" }),
    filterKey({ status: "all", component_name: "a" }),
    filterKey({ status: "all", hostname: "a" }),
    filterKey({ status: "all", username: "a" }),
    filterKey({ status: "all", sinceMs: 0 }),
    filterKey({ status: "all", untilMs: 0 }),
  ]);
  assert.equal(keys.size, 7);
});

Deno.test("statsWindow: until defaults to just after now, since to 24 hours before until", () => {
  const now = STARTED_MS;
  assert.deepEqual(statsWindow(undefined, undefined, now), {
    sinceMs: now + 1 - 24 * HOUR,
    untilMs: now + 1,
  });
  assert.deepEqual(statsWindow(undefined, now - HOUR, now), {
    sinceMs: now - 25 * HOUR,
    untilMs: now - HOUR,
  });
  assert.deepEqual(statsWindow(now - 2 * HOUR, undefined, now), {
    sinceMs: now - 2 * HOUR,
    untilMs: now + 1,
  });
  assert.deepEqual(statsWindow(0, 5, now), { sinceMs: 0, untilMs: 5 });
});

Deno.test("statsOf: groups the records it walks, and stops once the signal aborts", async () => {
  const records = (async function* () {
    yield record({ component_name: "alpha" });
    yield record({ component_name: "beta" });
  })();
  const groups = await statsOf(records, "component", STARTED_MS, HOUR);
  assert.deepEqual(groups.map((g) => [g.key, g.active]), [["alpha", 1], ["beta", 1]]);
  const aborted = AbortSignal.abort();
  const none = await statsOf(
    (async function* () {
      yield record({});
    })(),
    "component",
    STARTED_MS,
    HOUR,
    aborted,
  );
  assert.deepEqual(none, []);
});
