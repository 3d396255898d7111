/** defineTool: what every tool does around its work, tried on a probe tool. */
import assert from "node:assert/strict";
import type { Verifier } from "../../../src/auth/verifier.ts";
import { defineTool, READ_ONLY } from "../../../src/mcp/define_tool.ts";
import { HeartbeatResultSchema, publishedSchema } from "../../../src/mcp/results.ts";
import type { RequestContext } from "../../../src/mcp/rpc.ts";
import { givenSessionId, type ServerDeps } from "../../../src/mcp/tool.ts";
import { trackSessionHeartbeat } from "../../../src/mcp/tools/track_session_heartbeat.ts";
import { Metrics } from "../../../src/metrics.ts";
import { GetSessionSchema } from "../../../src/sessions/query_args.ts";
import { StoreError, type StoreErrorKind } from "../../../src/store/errors.ts";
import { StoreTimeoutError } from "../../../src/store/kv/deadline.ts";
import { StoreBusyError } from "../../../src/store/kv/retry.ts";
import { storeErrorOf } from "../../../src/store/postgres/connection.ts";
import type { SessionStore } from "../../../src/store/port.ts";
import { collectingLog } from "../../helpers/log.ts";

/** What the probe's work does (a string: fail with that reason), and what it was handed. */
interface Script {
  work: () => string | void;
  calls: { id: string; trackedBy: string | null }[];
}

const probe = (script: Script, cancellable = false) =>
  defineTool({
    name: "probe",
    title: "Probe",
    description: "A tool for the test.",
    annotations: READ_ONLY,
    input: GetSessionSchema,
    output: HeartbeatResultSchema,
    errorPrefix: "Probe failed",
    errorResult: (error, args) => ({ session_id: givenSessionId(args), status: "error", error }),
    cancellable,
    async run({ session_id }, { trackedBy, fail }) {
      script.calls.push({ id: session_id, trackedBy });
      const reason = await Promise.resolve().then(script.work);
      if (reason) return fail(reason);
      return { session_id, status: "alive", error: null };
    },
  });

function setup(work: Script["work"] = () => {}, cancellable = false) {
  const { log, lines } = collectingLog();
  const verify: Verifier = (token) =>
    Promise.resolve(
      token === "good"
        ? { ok: true, trackedBy: "mary" }
        : { ok: false, reason: "Token required (SESSION_BUDDY_SECRET is set)" },
    );
  const metrics = new Metrics();
  const deps: ServerDeps = {
    store: {} as SessionStore,
    verify,
    log,
    now: () => new Date(0),
    staleAfterMs: 1000,
    authRequired: true,
    version: "0",
    metrics,
  };
  const script: Script = { work, calls: [] };
  const tool = probe(script, cancellable);
  const call = (args: unknown, context: RequestContext = {}) => tool.call(deps, args, context);
  const counters = () =>
    metrics.render({ version: "0", openSessions: [], rssBytes: 0, startSeconds: 0 })
      .split("\n")
      .filter((l) => /^session_buddy_(tool_calls|store_errors|auth_failures)_total/.test(l));
  return { call, lines, script, counters };
}

Deno.test("defineTool: a refused token gives the error shape with the section 4 text and no work", async () => {
  const { call, lines, script, counters } = setup();
  const result = await call({ session_id: "s-1", token: "bad" });
  assert.deepEqual(result, {
    session_id: null,
    status: "error",
    error: "❌ Authentication failed: Token required (SESSION_BUDDY_SECRET is set)",
  });
  assert.deepEqual(script.calls, []);
  assert.deepEqual(lines, [
    "WARNING Authentication failed on probe: Token required (SESSION_BUDDY_SECRET is set)",
  ]);
  assert.deepEqual(counters(), [
    'session_buddy_tool_calls_total{tool="probe",status="error"} 1',
    "session_buddy_auth_failures_total 1",
    "session_buddy_store_errors_total 0",
  ]);
});

Deno.test("defineTool: a request's verified bearer token stands for the argument", async () => {
  const { call, script } = setup();
  const result = await call({ session_id: "s-1", token: "bad" }, {
    auth: { ok: true, trackedBy: "bearer" },
  });
  assert.equal(result.status, "alive");
  assert.deepEqual(script.calls, [{ id: "s-1", trackedBy: "bearer" }]);
});

Deno.test("defineTool: malformed arguments give the tool's error with the parse reason", async (t) => {
  for (
    const [args, reason] of [
      [{ session_id: 5, token: "good" }, "Invalid session_id: expected a string, got number"],
      [{ token: "good" }, "Missing required field: session_id"],
      [
        { session_id: " ".repeat(3), token: "good" },
        "Invalid session_id '': must be 1-200 characters",
      ],
    ] as const
  ) {
    await t.step(reason, async () => {
      const { call, lines, script } = setup();
      const result = await call(args);
      assert.deepEqual(result, {
        session_id: givenSessionId(args),
        status: "error",
        error: `Probe failed: ${reason}`,
      });
      assert.deepEqual(lines, [`WARNING Probe failed: ${reason}`]);
      assert.deepEqual(script.calls, []);
    });
  }
  // Arguments that are not an object at all (a bearer token let them past): nothing to echo.
  const { call } = setup();
  assert.deepEqual(await call("nope", { auth: { ok: true, trackedBy: null } }), {
    session_id: null,
    status: "error",
    error: "Probe failed: Invalid arguments: expected an object, got string",
  });
});

Deno.test("defineTool: the work gets the parsed arguments and may fail in its own words", async () => {
  const { call, lines, script, counters } = setup(() => "session s-1 has already ended");
  assert.deepEqual(await call({ session_id: " s-1 ", token: "good" }), {
    session_id: " s-1 ",
    status: "error",
    error: "Probe failed: session s-1 has already ended",
  });
  assert.deepEqual(script.calls, [{ id: "s-1", trackedBy: "mary" }]);
  assert.deepEqual(lines, ["WARNING Probe failed: session s-1 has already ended"]);
  assert.ok(counters().includes("session_buddy_store_errors_total 0"));
});

Deno.test("defineTool: a store failure of each kind reads as its store text, logged as an ERROR", async (t) => {
  const kinds: StoreErrorKind[] = [
    "busy",
    "timeout",
    "unavailable",
    "conflict",
    "closed",
    "failed",
  ];
  const cases: [Error, string][] = [
    ...kinds.map((kind): [Error, string] => [
      new StoreError(kind, `the store said ${kind}`),
      `${kind === "busy" ? "store is busy" : "store error"}: the store said ${kind}`,
    ]),
    [
      new StoreBusyError(8),
      "store is busy: store stayed locked by other writers after 8 attempts",
    ],
    [
      new StoreTimeoutError("a start", 4500),
      "store error: the store did not answer a start within 4.5 s",
    ],
    [
      storeErrorOf(Object.assign(new Error("connection refused"), { code: "ECONNREFUSED" })),
      "store error: connection refused",
    ],
  ];
  for (const [thrown, reason] of cases) {
    await t.step(`${thrown.name}: ${reason}`, async () => {
      const { call, lines, counters } = setup(() => {
        throw thrown;
      });
      const result = await call({ session_id: " s-1 ", token: "good" });
      // The error shape echoes the id as given.
      assert.deepEqual(result, {
        session_id: " s-1 ",
        status: "error",
        error: `Probe failed: ${reason}`,
      });
      assert.deepEqual(lines, [`ERROR Probe failed: ${reason}`]);
      assert.deepEqual(counters(), [
        'session_buddy_tool_calls_total{tool="probe",status="error"} 1',
        "session_buddy_auth_failures_total 0",
        "session_buddy_store_errors_total 1",
      ]);
    });
  }
});

Deno.test("defineTool: an unexpected error is logged and answered as a store error", async () => {
  for (const thrown of [new TypeError("x is not a function"), "a string"]) {
    const { call, lines } = setup(() => {
      throw thrown;
    });
    const text = `Probe failed: store error: ${thrown instanceof Error ? thrown.message : thrown}`;
    assert.deepEqual(await call({ session_id: "s-1", token: "good" }), {
      session_id: "s-1",
      status: "error",
      error: text,
    });
    assert.deepEqual(lines, [`ERROR ${text}`]);
  }
});

Deno.test("defineTool: a cancellable tool's failure after the client cancelled is no failure", async () => {
  const signal = AbortSignal.abort();
  const fails = () => {
    throw new StoreError("unavailable", "connection reset");
  };
  const quiet = setup(fails, true);
  const result = await quiet.call({ session_id: "s-1", token: "good" }, { signal });
  assert.equal(result.error, "Probe failed: cancelled by the client");
  assert.deepEqual(quiet.lines, ["DEBUG Probe failed: cancelled by the client"]);
  assert.ok(quiet.counters().includes("session_buddy_store_errors_total 0"));
  // Without `cancellable`, the same failure is the store's.
  const loud = setup(fails);
  await loud.call({ session_id: "s-1", token: "good" }, { signal });
  assert.deepEqual(loud.lines, ["ERROR Probe failed: store error: connection reset"]);
});

Deno.test("defineTool: a success is counted under its status", async () => {
  const { call, lines, counters } = setup();
  assert.deepEqual(await call({ session_id: "s-1", token: "good" }), {
    session_id: "s-1",
    status: "alive",
    error: null,
  });
  assert.deepEqual(lines, []);
  assert.ok(counters().includes('session_buddy_tool_calls_total{tool="probe",status="alive"} 1'));
});

Deno.test("defineTool: the definition publishes the schemas.json schemas, titled annotations first", () => {
  const d = trackSessionHeartbeat.definition;
  assert.deepEqual(Object.keys(d), [
    "name",
    "title",
    "description",
    "inputSchema",
    "outputSchema",
    "annotations",
  ]);
  assert.equal(d.inputSchema, publishedSchema("track_session_heartbeat", "input"));
  assert.equal(d.outputSchema, publishedSchema("track_session_heartbeat", "output"));
  assert.deepEqual(d.annotations, {
    title: "Track admin shell heartbeat",
    readOnlyHint: false,
    destructiveHint: false,
    idempotentHint: true,
    openWorldHint: false,
  });
});

Deno.test("defineTool: a malformed argument that quotes 'store error' is not counted as one", async () => {
  const { call, counters } = setup();
  const result = await call({ session_id: `a: store error: b${"x".repeat(200)}`, token: "good" });
  assert.match(String(result.error), /^Probe failed: Invalid session_id 'a: store error: b/);
  assert.ok(counters().includes("session_buddy_store_errors_total 0"));
});
