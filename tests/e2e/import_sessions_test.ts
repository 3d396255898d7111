/**
 * `import_sessions` (issue #20): what `session-buddy forward` calls on a collector. Records
 * exported from a host's real store are brought to a collector under the import rules of
 * SPEC 8.3, over stdio on every store ("[kv] ...", "[postgres] ...") and over Streamable
 * HTTP in MCP 2025-11-25 and 2026-07-28: each record written, renumbered (its id held by
 * another event), updated (an end for a session the collector holds active) or unchanged
 * (sent again), the reading tools showing the result, and a second identical call changing
 * nothing. A batch with one bad record, an oversized batch and a missing or bad token write
 * nothing; `/metrics` counts the records by outcome.
 */
import assert from "node:assert/strict";
import { KV_STORE, poll, storeTest, withServer, withTestStore } from "../helpers/contract.ts";
import { connectHttpV2, MODERN, type Negotiation, withCollector } from "../helpers/mcp_v2.ts";
import {
  endArgs,
  mintToken,
  runProgram,
  SECRET,
  startArgs,
  startServer,
} from "../helpers/server.ts";

/** The second john's shell on the collector's host and mallory's on host-b both started in. */
const SAME_SECOND = "2026-03-02T08:15:30.000Z";
const ID = "mahavishnu-20260302-081530";

type Record_ = Record<string, unknown>;
type Call = (tool: string, args: Record_) => Promise<Record_>;

/** What host-b's store exported, before and after ursula's shell ended there. */
interface HostExport {
  mallory: Record_;
  walter: Record_;
  victor: Record_;
  ursulaActive: Record_;
  ursulaEnded: Record_;
}

function parseExport(stdout: string): Record_[] {
  // The records; a whole store's export carries its history after them (SPEC 10).
  return stdout.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))
    .filter((r) => "session_id" in r);
}

let hostExport: Promise<HostExport> | undefined;

/**
 * Four shells tracked on a real host store (Deno KV), exported with `sessions export` as
 * forward will read them: mallory's started in john's second, walter's, ursula's and victor's
 * at others; ursula's is exported once active and once ended. Made once for the file.
 */
function host(): Promise<HostExport> {
  return hostExport ??= withTestStore(KV_STORE, async (store, dir) => {
    const env = { ...store.env, HOME: dir };
    const server = await startServer({ env });
    try {
      const starts = {
        mallory: startArgs({
          timestamp: SAME_SECOND,
          user: { username: "mallory", home: "/home/mallory" },
          hostname: "host-b",
        }),
        walter: startArgs({ timestamp: "2026-03-02T08:20:00.000Z", hostname: "host-b" }),
        ursula: startArgs({ timestamp: "2026-03-02T08:21:00.000Z", hostname: "host-b" }),
        victor: startArgs({ timestamp: "2026-03-02T08:22:00.000Z", hostname: "host-b" }),
      };
      const ids: Record<string, string> = {};
      for (const [name, args] of Object.entries(starts)) {
        const started = await server.call("track_session_start", args);
        assert.equal(started.status, "tracked", JSON.stringify(started));
        ids[name] = String(started.session_id);
      }
      assert.equal(ids.mallory, ID, "on its own host, mallory's shell has the base id");
      const exported = async () => {
        const out = await runProgram(["sessions", "export"], env);
        assert.equal(out.code, 0, out.stderr);
        const byEvent = new Map(parseExport(out.stdout).map((r) => [r.event_id, r]));
        return (name: keyof typeof starts) => byEvent.get(starts[name].event_id)!;
      };
      const before = await exported();
      const ended = await server.call(
        "track_session_end",
        endArgs(ids.ursula!, { timestamp: "2026-03-02T09:00:00.000Z" }),
      );
      assert.equal(ended.status, "ended", JSON.stringify(ended));
      const after = await exported();
      return {
        mallory: after("mallory"),
        walter: after("walter"),
        victor: after("victor"),
        ursulaActive: before("ursula"),
        ursulaEnded: after("ursula"),
      };
    } finally {
      await server.close();
    }
  });
}

function outcome(record: Record_, sessionId: string, kind: string) {
  return { event_id: record.event_id, session_id: sessionId, kind };
}

/**
 * The whole exchange on a fresh collector, through `call`: john's shell tracked there, then
 * two imports from host-b, then the second again.
 */
async function scenario(call: Call, token: string | null = null): Promise<void> {
  const h = await host();
  const johnArgs = startArgs({ timestamp: SAME_SECOND, token });
  const john = await call("track_session_start", johnArgs);
  assert.equal(john.session_id, ID, JSON.stringify(john));

  // A first forward: ursula's shell still active, and victor's.
  const first = await call("import_sessions", { records: [h.ursulaActive, h.victor], token });
  assert.deepEqual(first, {
    status: "imported",
    outcomes: [
      outcome(h.ursulaActive, String(h.ursulaActive.session_id), "written"),
      outcome(h.victor, String(h.victor.session_id), "written"),
    ],
    error: null,
  });

  // The next: one of each outcome.
  const batch = [h.mallory, h.walter, h.ursulaEnded, h.victor];
  const expected = {
    status: "imported",
    outcomes: [
      outcome(h.mallory, `${ID}-2`, "renumbered"),
      outcome(h.walter, String(h.walter.session_id), "written"),
      outcome(h.ursulaEnded, String(h.ursulaEnded.session_id), "updated"),
      outcome(h.victor, String(h.victor.session_id), "unchanged"),
    ],
    error: null,
  };
  assert.deepEqual(await call("import_sessions", { records: batch, token }), expected);

  // What the reading tools show now.
  const listed = await call("list_sessions", { limit: 50, token });
  assert.equal(listed.status, "ok", JSON.stringify(listed));
  const sessions = listed.sessions as Record_[];
  const byId = new Map(sessions.map((s) => [s.session_id, s]));
  assert.deepEqual(
    [...byId.keys()].sort(),
    [
      ID,
      `${ID}-2`,
      h.walter.session_id,
      h.ursulaEnded.session_id,
      h.victor.session_id,
    ].sort(),
  );
  assert.equal(byId.get(ID)!.event_id, johnArgs.event_id, "john's session keeps its id");
  assert.equal(byId.get(h.ursulaEnded.session_id)!.status, "ended");
  const moved = await call("get_session", { session_id: `${ID}-2`, token });
  assert.equal(moved.status, "found", JSON.stringify(moved));
  assert.deepEqual(moved.session, { ...h.mallory, session_id: `${ID}-2`, origin_session_id: ID });
  // A record whose id was free is stored as it was exported (tracked_by included).
  const walter = await call("get_session", { session_id: h.walter.session_id, token });
  assert.deepEqual(walter.session, h.walter);
  const ursula = await call("get_session", { session_id: h.ursulaEnded.session_id, token });
  assert.deepEqual(ursula.session, h.ursulaEnded);
  assert.equal((await call("get_session", { session_id: ID, token })).status, "found");

  // The same call again changes nothing.
  assert.deepEqual(await call("import_sessions", { records: batch, token }), {
    ...expected,
    outcomes: expected.outcomes.map((o) => ({ ...o, kind: "unchanged" })),
  });
  const again = await call("list_sessions", { limit: 50, token });
  assert.deepEqual(again.sessions, listed.sessions);
}

storeTest(
  "import_sessions over stdio: written, renumbered, updated, unchanged, twice safe",
  async (kind) => {
    await withServer(async ({ server }) => {
      await scenario((tool, args) => server.call(tool, args));
      // Log lines reach stderr within a second, not with the answer.
      const lines = [
        `INFO - Session imported under a new id: session_id=${ID}-2, origin_session_id=${ID}\n`,
        "INFO - Sessions imported: records=4, written=1, renumbered=1, updated=1, unchanged=1\n",
      ];
      assert.ok(
        await poll(() => lines.every((line) => server.stderr().includes(line)), 3000),
        server.stderr(),
      );
    }, { store: kind });
  },
);

storeTest("import_sessions: one bad record, or too many, and nothing is written", async (kind) => {
  await withServer(async ({ server }) => {
    const h = await host();
    const empty = { status: "ok", sessions: [], next_cursor: null, error: null };
    const bad = { ...h.victor, started_at: "yesterday" };
    const refused = await server.call("import_sessions", {
      records: [h.walter, h.mallory, bad, h.ursulaEnded],
      token: null,
    });
    const reason = "Import failed: records[2]: Invalid started_at: expected an ISO 8601 time";
    assert.deepEqual(refused, { status: "error", outcomes: null, error: reason });
    assert.ok(
      await poll(() => server.stderr().includes(`WARNING - ${reason}\n`), 3000),
      server.stderr(),
    );
    assert.deepEqual(await server.call("list_sessions", {}), empty);

    for (
      const [args, error] of [
        [{ token: null }, "Import failed: Missing required field: records"],
        [{ records: [] }, "Import failed: Invalid records: 0 records, expected 1-1000 in one call"],
        [
          { records: h.walter },
          "Import failed: Invalid records: expected an array of session records, got object",
        ],
        [
          { records: ["{}"] },
          "Import failed: records[0]: expected a JSON object (a session record)",
        ],
      ] as const
    ) {
      const result = await server.call("import_sessions", args);
      assert.deepEqual(result, { status: "error", outcomes: null, error }, JSON.stringify(args));
    }

    // 1001 records are refused; 1000 are taken.
    const many = Array.from({ length: 1001 }, (_, i) => {
      const second = new Date(Date.parse("2026-03-03T00:00:00Z") + i * 1000).toISOString();
      const compact = second.replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
      return {
        ...h.walter,
        event_id: crypto.randomUUID(),
        session_id: `mahavishnu-${compact}`,
        timestamp: second,
        started_at: second,
      };
    });
    assert.deepEqual(await server.call("import_sessions", { records: many }), {
      status: "error",
      outcomes: null,
      error: "Import failed: Invalid records: 1001 records, expected 1-1000 in one call",
    });
    assert.deepEqual(await server.call("list_sessions", {}), empty);
    const taken = await server.call("import_sessions", { records: many.slice(0, 1000) });
    assert.equal(taken.status, "imported", JSON.stringify(taken).slice(0, 300));
    const outcomes = taken.outcomes as { session_id: string; kind: string }[];
    assert.equal(outcomes.length, 1000);
    assert.ok(
      outcomes.every((o, i) => o.kind === "written" && o.session_id === many[i]!.session_id),
    );
    const page = await server.call("list_sessions", { limit: 500 });
    assert.equal((page.sessions as unknown[]).length, 500);
    assert.equal((page.sessions as Record_[])[0]!.session_id, many[999]!.session_id);
  }, { store: kind });
});

Deno.test("import_sessions with a secret: no token or a bad one writes nothing; a good one imports", async () => {
  await withServer(async ({ server }) => {
    const h = await host();
    const records = [h.walter];
    const wrong = await mintToken({}, "another-secret-0123456789-abcdefghijklmnop");
    for (
      const [token, reason] of [
        [undefined, "Token required (SESSION_BUDDY_SECRET is set)"],
        [null, "Token required (SESSION_BUDDY_SECRET is set)"],
        [wrong, "Invalid signature"],
      ] as const
    ) {
      const result = await server.call("import_sessions", { records, token });
      assert.equal(result.status, "error", JSON.stringify(result));
      assert.equal(result.outcomes, null);
      assert.match(String(result.error), /^❌ Authentication failed: /);
      if (token !== wrong) assert.equal(result.error, `❌ Authentication failed: ${reason}`);
    }
    // The token is checked before the records: a bad batch without one reads as the token's.
    const unread = await server.call("import_sessions", { records: [] });
    assert.match(String(unread.error), /^❌ Authentication failed: Token required/);
    const token = await mintToken({ user_id: "forwarder" });
    const listed = await server.call("list_sessions", { token });
    assert.deepEqual(listed.sessions, []);

    const imported = await server.call("import_sessions", { records, token });
    assert.deepEqual(imported, {
      status: "imported",
      outcomes: [outcome(h.walter, String(h.walter.session_id), "written")],
      error: null,
    });
    // The session keeps whom its own host's token named (none there): the forwarder is not
    // its tracker.
    const got = await server.call("get_session", { session_id: h.walter.session_id, token });
    assert.equal(h.walter.tracked_by, null);
    assert.equal((got.session as Record_).tracked_by, null);
    assert.doesNotMatch(JSON.stringify(got.session), /eyJ/, "no token in the record");
  }, { env: { SESSION_BUDDY_SECRET: SECRET } });
});

/** The value of one sample line of an exposition. */
function sample(text: string, line: string): number {
  const found = text.split("\n").find((l) => l.startsWith(`${line} `));
  assert.ok(found, `${line} in:\n${text}`);
  return Number(found.slice(line.length + 1));
}

for (
  const [revision, negotiation] of [
    ["2025-11-25", { mode: "legacy", version: "2025-11-25" }],
    [MODERN, { mode: "pin", version: MODERN }],
  ] as [string, Negotiation][]
) {
  Deno.test(`import_sessions over HTTP (MCP ${revision}): the same outcomes, counted in /metrics`, async () => {
    await withCollector(async (server) => {
      const session = await connectHttpV2(negotiation, server.mcp);
      try {
        assert.equal(session.client.getNegotiatedProtocolVersion(), revision);
        await scenario(async (name, args) => {
          const result = await session.client.callTool({ name, arguments: args });
          return result.structuredContent as Record_;
        });
      } finally {
        await session.close();
      }
      const scrape = await fetch(`${server.origin}/metrics`);
      assert.equal(scrape.status, 200);
      const text = await scrape.text();
      // 2 written by the first call; one of each by the second; 4 unchanged by the third.
      const imported = (o: string) =>
        sample(text, `session_buddy_imported_records_total{outcome="${o}"}`);
      assert.deepEqual(
        ["written", "renumbered", "updated", "unchanged"].map(imported),
        [3, 1, 1, 5],
      );
      assert.equal(
        sample(text, 'session_buddy_tool_calls_total{tool="import_sessions",status="imported"}'),
        3,
      );
    });
  });
}

Deno.test("import_sessions over HTTP with a secret: a bearer token stands for the argument; a bad one is 401", async () => {
  const h = await host();
  await withCollector(async (server) => {
    const token = await mintToken({ user_id: "forwarder" });
    const session = await connectHttpV2({ mode: "pin", version: MODERN }, server.mcp, {
      Authorization: `Bearer ${token}`,
    });
    try {
      const result = await session.client.callTool({
        name: "import_sessions",
        arguments: { records: [h.walter, h.victor] },
      });
      assert.deepEqual(result.structuredContent, {
        status: "imported",
        outcomes: [
          outcome(h.walter, String(h.walter.session_id), "written"),
          outcome(h.victor, String(h.victor.session_id), "written"),
        ],
        error: null,
      });
    } finally {
      await session.close();
    }
    const anonymous = await connectHttpV2({ mode: "pin", version: MODERN }, server.mcp);
    try {
      const result = await anonymous.client.callTool({
        name: "import_sessions",
        arguments: { records: [h.mallory] },
      });
      assert.deepEqual(result.structuredContent, {
        status: "error",
        outcomes: null,
        error: "❌ Authentication failed: Token required (SESSION_BUDDY_SECRET is set)",
      });
    } finally {
      await anonymous.close();
    }
    const refused = await fetch(server.mcp, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        authorization: `Bearer ${await mintToken(
          {},
          "another-secret-0123456789-abcdefghijklmnop",
        )}`,
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "import_sessions", arguments: { records: [h.mallory] } },
      }),
    });
    assert.equal(refused.status, 401);
    await refused.body?.cancel();
    const scrape = await fetch(`${server.origin}/metrics`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const text = await scrape.text();
    assert.equal(sample(text, 'session_buddy_imported_records_total{outcome="written"}'), 2);
    assert.equal(sample(text, 'session_buddy_imported_records_total{outcome="renumbered"}'), 0);
  }, { SESSION_BUDDY_SECRET: SECRET });
});
