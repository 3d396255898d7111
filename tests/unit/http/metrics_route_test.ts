import assert from "node:assert/strict";
import { countOpen, metricsRoute, tokenRequired } from "../../../src/http/metrics_route.ts";
import type { Snapshot } from "../../../src/metrics.ts";
import type { SessionRecord } from "../../../src/sessions/session.ts";
import { collectLog, request } from "../../helpers/steps.ts";

const NOW = Date.parse("2026-12-07T12:00:00Z");
const HOUR = 3600_000;

/** An open session of `component` started and last seen `hoursAgo` before NOW. */
function open(component: string, hoursAgo: number): SessionRecord {
  const at = new Date(NOW - hoursAgo * HOUR).toISOString();
  return {
    component_name: component,
    status: "active",
    started_at: at,
    last_seen_at: at,
    ended_at: null,
  } as SessionRecord;
}

async function* records(list: SessionRecord[], fail?: Error): AsyncIterable<SessionRecord> {
  yield* list;
  if (fail) throw fail;
}

function setup(
  active: () => AsyncIterable<SessionRecord>,
  forwardBacklog?: () => Promise<{ waiting: number; oldestAt: number | null } | null>,
) {
  const snapshots: Snapshot[] = [];
  const log = collectLog();
  const route = metricsRoute({
    metrics: { render: (s) => (snapshots.push(s), "# metrics\n") },
    store: { active, forwardBacklog },
    log,
    now: () => new Date(NOW),
    staleAfterMs: 12 * HOUR,
    version: "9.9.9",
    startSeconds: 1_700_000_000,
    rssBytes: () => 42,
  });
  return { snapshots, log, answer: () => route({ request: request("/metrics") }) };
}

Deno.test("metricsRoute renders the counters with the open sessions read at scrape time", async () => {
  const { answer, snapshots } = setup(() => records([open("web", 1), open("web", 13)]));
  const response = await answer();
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  assert.equal(await response.text(), "# metrics\n");
  assert.deepEqual(snapshots, [{
    version: "9.9.9",
    openSessions: [{ component: "web", active: 1, stale: 1, oldestSeconds: 13 * 3600 }],
    rssBytes: 42,
    startSeconds: 1_700_000_000,
    forward: null,
  }]);
});

Deno.test("metricsRoute: what waits for the forwarder, once the store is forwarded from", async () => {
  const never = setup(() => records([]), () => Promise.resolve(null));
  await never.answer();
  assert.equal(never.snapshots[0]!.forward, null);
  const waiting = setup(
    () => records([]),
    () => Promise.resolve({ waiting: 7, oldestAt: NOW - 90_000 }),
  );
  await waiting.answer();
  assert.deepEqual(waiting.snapshots[0]!.forward, { waiting: 7, oldestAgeSeconds: 90 });
  const empty = setup(() => records([]), () => Promise.resolve({ waiting: 0, oldestAt: null }));
  await empty.answer();
  assert.deepEqual(empty.snapshots[0]!.forward, { waiting: 0, oldestAgeSeconds: 0 });
});

Deno.test("metricsRoute: 503 when the store walk fails, logged as an error", async () => {
  const { answer, log, snapshots } = setup(() => records([open("a", 1)], new Error("gone")));
  const response = await answer();
  assert.equal(response.status, 503);
  assert.equal(await response.text(), "store unavailable: gone\n");
  assert.deepEqual(log.lines, ["ERROR Metrics scrape failed: store error: gone"]);
  assert.equal(snapshots.length, 0);
});

Deno.test("countOpen counts per component, active and stale apart", async () => {
  const counts = await countOpen(
    { active: () => records([open("a", 1), open("b", 20), open("a", 2)]) },
    NOW,
    12 * HOUR,
  );
  assert.deepEqual(counts, [
    { component: "a", active: 2, stale: 0, oldestSeconds: 7200 },
    { component: "b", active: 0, stale: 1, oldestSeconds: 72000 },
  ]);
});

Deno.test("tokenRequired is a 401 with the bare challenge", async () => {
  const response = tokenRequired();
  assert.equal(response.status, 401);
  assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="session-buddy"');
  assert.match(await response.text(), /a bearer token is required/);
});
