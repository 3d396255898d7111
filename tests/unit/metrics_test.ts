/** The Prometheus text format of src/metrics.ts, checked by hand and by Prometheus's own parser. */
import assert from "node:assert/strict";
import {
  capComponents,
  DURATION_BUCKETS,
  escapeLabel,
  formatValue,
  MAX_COMPONENTS,
  Metrics,
  OTHER_COMPONENTS,
} from "../../src/metrics.ts";

const SNAPSHOT = { version: "0.1.0", openSessions: [], rssBytes: 1234, startSeconds: 1.5 };

function filled(): Metrics {
  const m = new Metrics();
  m.toolCall("track_session_start", "tracked", 0.0004);
  m.toolCall("track_session_start", "tracked", 0.003);
  m.toolCall("track_session_start", "error", 20);
  m.toolCall("get_session", "not_found", 0.001);
  m.authFailure();
  m.httpRequest(200);
  m.httpRequest(200);
  m.httpRequest(401);
  m.storeCommit(0.0006);
  m.storeRetry();
  return m;
}

Deno.test("label values are escaped; special values are named", () => {
  assert.equal(escapeLabel('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(0.25), "0.25");
});

Deno.test("histograms are cumulative, with +Inf, _sum and _count", () => {
  const text = filled().render(SNAPSHOT);
  const bucket = (le: string) =>
    Number(
      new RegExp(
        `^session_buddy_tool_call_duration_seconds_bucket\\{tool="track_session_start",le="${
          le.replace("+", "\\+")
        }"\\} (\\d+)$`,
        "m",
      ).exec(text)?.[1],
    );
  assert.equal(bucket("0.0005"), 1);
  assert.equal(bucket("0.005"), 2);
  assert.equal(bucket("10"), 2, "20 s lies past the last bound");
  assert.equal(bucket("+Inf"), 3);
  assert.match(
    text,
    /^session_buddy_tool_call_duration_seconds_count\{tool="track_session_start"\} 3$/m,
  );
  assert.match(
    text,
    /^session_buddy_tool_call_duration_seconds_sum\{tool="track_session_start"\} 20\.0034$/m,
  );
  assert.equal(
    text.split("\n").filter((l) =>
      l.startsWith("session_buddy_store_commit_duration_seconds_bucket")
    ).length,
    DURATION_BUCKETS.length + 1,
  );
});

Deno.test("every SPEC 8.2 metric is there, with HELP and TYPE once each", () => {
  const text = filled().render({
    ...SNAPSHOT,
    openSessions: [{ component: "mahavishnu", active: 2, stale: 1 }],
  });
  for (
    const [name, type] of [
      ["session_buddy_tool_calls_total", "counter"],
      ["session_buddy_tool_call_duration_seconds", "histogram"],
      ["session_buddy_auth_failures_total", "counter"],
      ["session_buddy_http_requests_total", "counter"],
      ["session_buddy_open_sessions", "gauge"],
      ["session_buddy_store_commit_duration_seconds", "histogram"],
      ["session_buddy_store_retries_total", "counter"],
      ["session_buddy_imported_records_total", "counter"],
      ["session_buddy_build_info", "gauge"],
      ["process_resident_memory_bytes", "gauge"],
      ["process_start_time_seconds", "gauge"],
    ]
  ) {
    assert.equal(text.split("\n").filter((l) => l === `# TYPE ${name} ${type}`).length, 1, name);
    assert.equal(text.split("\n").filter((l) => l.startsWith(`# HELP ${name} `)).length, 1, name);
  }
  assert.match(text, /^session_buddy_open_sessions\{component="mahavishnu",status="stale"\} 1$/m);
  assert.match(text, /^session_buddy_http_requests_total\{code="200"\} 2$/m);
  assert.match(text, /^process_start_time_seconds 1\.5$/m);
  assert.ok(text.endsWith("\n"));
});

Deno.test("components past the cap are summed under one label value", () => {
  const rows = Array.from({ length: MAX_COMPONENTS + 50 }, (_, i) => ({
    component: `c${String(i).padStart(3, "0")}`,
    active: i,
    stale: 1,
  }));
  const capped = capComponents(rows);
  assert.equal(capped.length, MAX_COMPONENTS);
  const other = capped.at(-1)!;
  assert.equal(other.component, OTHER_COMPONENTS);
  const total = (list: typeof rows) => list.reduce((s, r) => s + r.active + r.stale, 0);
  assert.equal(total(capped), total(rows), "nothing is lost");
  assert.equal(capped[0]!.component, `c${MAX_COMPONENTS + 49}`, "the busiest keep their own label");
  assert.deepEqual(capComponents(rows.slice(0, 3)).map((r) => r.component), [
    "c002",
    "c001",
    "c000",
  ]);
});

Deno.test("promtool check metrics accepts the output", async () => {
  const text = filled().render({
    ...SNAPSHOT,
    openSessions: [{ component: 'odd "name"\\with\nnewline', active: 1, stale: 0 }],
  });
  let child;
  try {
    child = new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    if (Deno.env.get("CI") === "true") assert.fail("promtool is missing (CI must have it)");
    console.log("skipped: promtool is not installed (Debian: apt install prometheus)");
    return;
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, said);
});

Deno.test("the oldest open session's age by component, and store errors", () => {
  const m = new Metrics();
  m.storeError();
  m.storeError();
  const text = m.render({
    ...SNAPSHOT,
    openSessions: [
      { component: "a", active: 1, stale: 1, oldestSeconds: 7200.4 },
      { component: "b", active: 0, stale: 0 },
    ],
  });
  assert.match(text, /^session_buddy_open_session_max_age_seconds\{component="a"\} 7200$/m);
  assert.match(text, /^session_buddy_open_session_max_age_seconds\{component="b"\} 0$/m);
  assert.match(text, /^session_buddy_store_errors_total 2$/m);
  const capped = capComponents(
    Array.from({ length: MAX_COMPONENTS + 5 }, (_, i) => ({
      component: `c${i}`,
      // The busiest are kept; the rest are summed, their oldest the oldest of them.
      active: i < MAX_COMPONENTS - 1 ? 2 : 1,
      stale: 0,
      oldestSeconds: i,
    })),
  );
  assert.equal(capped.at(-1)?.oldestSeconds, MAX_COMPONENTS + 4);
});

Deno.test("imported records by outcome: every outcome from the start, counted as they come", () => {
  const family = (text: string) =>
    text.split("\n").filter((l) => l.includes("session_buddy_imported_records_total"));
  assert.deepEqual(family(new Metrics().render(SNAPSHOT)), [
    "# HELP session_buddy_imported_records_total Records import_sessions brought into the store (forwarded ones), by what each did there.",
    "# TYPE session_buddy_imported_records_total counter",
    'session_buddy_imported_records_total{outcome="written"} 0',
    'session_buddy_imported_records_total{outcome="renumbered"} 0',
    'session_buddy_imported_records_total{outcome="updated"} 0',
    'session_buddy_imported_records_total{outcome="unchanged"} 0',
  ]);
  const m = new Metrics();
  for (const outcome of ["written", "written", "renumbered", "unchanged"] as const) {
    m.importedRecord(outcome);
  }
  assert.deepEqual(family(m.render(SNAPSHOT)).slice(2), [
    'session_buddy_imported_records_total{outcome="written"} 2',
    'session_buddy_imported_records_total{outcome="renumbered"} 1',
    'session_buddy_imported_records_total{outcome="updated"} 0',
    'session_buddy_imported_records_total{outcome="unchanged"} 1',
  ]);
});
