/**
 * Fuzzing over the real stdio and HTTP boundaries with fast-check: generated calls of every tool,
 * valid events mixed with wrong types, missing fields, boundary lengths, unicode and
 * control characters, huge and deeply nested metadata, odd timestamps and ids, and bad
 * tokens. Checked: exactly one response per request and nothing but JSON-RPC on stdout;
 * every status one of the contract's; valid events tracked (and found in the store
 * afterwards), invalid ones refused with the tool's error text naming the field and
 * nothing stored for them; the secret and the tokens nowhere in stderr, the log, the
 * answers or the store; store and log files 0600; the server alive at the end.
 *
 * The same plans run over stdio and over HTTP (`serve --http`, one JSON-RPC request per
 * POST, see wire.ts), with the same checks; over HTTP every request must also get one 200
 * answer holding one JSON-RPC response with its id. The second run's answers must equal
 * the first's, call by call (the server's clock and cursor bytes aside): the contract is
 * the same whatever carries it.
 *
 * `SESSION_BUDDY_FUZZ_SEED` replays a run; the seed is printed with the counts.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { mintToken, SECRET, tempDir } from "../helpers/server.ts";
import {
  AUTH,
  badSessionId,
  garbage,
  invalidTimestamp,
  PREFIX,
  startBreak,
  STATUSES,
  TOOLS,
  unknownId,
  validStart,
  validTimestamp,
} from "./gen.ts";
import { dumpAll, figure, findSecrets, type Message, modeOf, size } from "./raw.ts";
import { HttpWire, type Kind, startWire, TRANSPORTS } from "./wire.ts";

const CALLS = Number(Deno.env.get("SESSION_BUDDY_FUZZ_CALLS") ?? size(1_000, 10_000));
const SEED = Number(Deno.env.get("SESSION_BUDDY_FUZZ_SEED") ?? Date.now() % 2 ** 31);

type Plan =
  | { op: "start"; args: Record<string, unknown>; ms: number; component: string }
  | { op: "badStart"; args: Record<string, unknown>; mention: string }
  | { op: "retry"; pick: number }
  | { op: "conflict"; pick: number }
  | { op: "end"; pick: number; ts: string }
  | { op: "endUnknown"; id: string; ts: string }
  | { op: "badEnd"; args: Record<string, unknown>; mention: string }
  | { op: "heartbeat"; pick: number; ts: string }
  | { op: "heartbeatUnknown"; id: string }
  | { op: "badHeartbeat"; args: Record<string, unknown>; mention: string }
  | { op: "get"; pick: number }
  | { op: "getUnknown"; id: string }
  | { op: "list"; args: Record<string, unknown>; valid: boolean }
  | { op: "stats"; args: Record<string, unknown>; valid: boolean; sinceMs?: number }
  | { op: "auth"; tool: string; args: Record<string, unknown>; token: unknown }
  | { op: "garbage"; tool: string; args: unknown; withToken: boolean };

const ts = validTimestamp.map((t) => t.text);
const pick = fc.nat();

const plan: fc.Arbitrary<Plan> = fc.oneof(
  {
    weight: 10,
    arbitrary: validStart.map((s) => ({
      op: "start" as const,
      ...s,
      component: String(s.args.component_name),
    })),
  },
  {
    weight: 10,
    arbitrary: fc.tuple(validStart, startBreak).map(([s, b]) => {
      const args = { ...s.args };
      if (b.value === undefined) delete args[b.field];
      else args[b.field] = b.value;
      return { op: "badStart" as const, args, mention: b.mention };
    }),
  },
  { weight: 2, arbitrary: pick.map((p) => ({ op: "retry" as const, pick: p })) },
  { weight: 1, arbitrary: pick.map((p) => ({ op: "conflict" as const, pick: p })) },
  { weight: 5, arbitrary: fc.record({ pick, ts }).map((r) => ({ op: "end" as const, ...r })) },
  {
    weight: 2,
    arbitrary: fc.record({ id: unknownId, ts }).map((r) => ({ op: "endUnknown" as const, ...r })),
  },
  {
    weight: 4,
    arbitrary: fc.oneof(
      badSessionId.map((v) => ({ field: "session_id", value: v, mention: "session_id" })),
      invalidTimestamp.map((v) => ({ field: "timestamp", value: v, mention: "timestamp" })),
      fc.constantFrom<unknown>([], "x", { s: "x".repeat(16_400) }, {
        a: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
          1,
        ]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
      })
        .map((v) => ({ field: "metadata", value: v, mention: "metadata" })),
      fc.constantFrom("session_start", "", 1).map((v) => ({
        field: "event_type",
        value: v,
        mention: "event_type",
      })),
    ).chain((b) =>
      fc.record({ id: unknownId, t: ts }).map(({ id, t }) => {
        const args: Record<string, unknown> = { session_id: id, timestamp: t };
        if (b.value === undefined) delete args[b.field];
        else args[b.field] = b.value;
        return { op: "badEnd" as const, args, mention: b.mention };
      })
    ),
  },
  {
    weight: 3,
    arbitrary: fc.record({ pick, ts }).map((r) => ({ op: "heartbeat" as const, ...r })),
  },
  { weight: 1, arbitrary: unknownId.map((id) => ({ op: "heartbeatUnknown" as const, id })) },
  {
    weight: 2,
    arbitrary: fc.oneof(
      badSessionId.map((v) => ({
        args: { session_id: v, timestamp: "2026-01-01T00:00:00Z" },
        mention: "session_id",
      })),
      invalidTimestamp.map((v) => ({
        args: { session_id: "x", timestamp: v },
        mention: "timestamp",
      })),
    ).map((r) => ({ op: "badHeartbeat" as const, ...r })),
  },
  { weight: 3, arbitrary: pick.map((p) => ({ op: "get" as const, pick: p })) },
  { weight: 1, arbitrary: unknownId.map((id) => ({ op: "getUnknown" as const, id })) },
  {
    weight: 3,
    arbitrary: fc.record({
      status: fc.option(fc.constantFrom("active", "ended", "stale", "all"), { nil: undefined }),
      limit: fc.option(fc.integer({ min: 1, max: 500 }), { nil: undefined }),
      component_name: fc.option(fc.stringMatching(/^[a-z]{1,3}$/), { nil: undefined }),
      since: fc.option(ts, { nil: undefined }),
      bad: fc.option(
        fc.constantFrom<[string, unknown]>(
          ["status", "open"],
          ["limit", 0],
          ["limit", 501],
          ["limit", 1.5],
          ["limit", "10"],
          ["component_name", "a b"],
          ["since", "yesterday"],
          ["until", 5],
          ["cursor", "forged-cursor"],
          ["cursor", "eyJhIjoxfQ"],
          ["hostname", ""],
          ["username", 7],
        ),
        { nil: undefined },
      ),
    }).map(({ bad, ...rest }) => {
      const args: Record<string, unknown> = { ...rest };
      if (bad) args[bad[0]] = bad[1];
      return { op: "list" as const, args, valid: !bad };
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      group_by: fc.option(fc.constantFrom("component", "hostname", "username"), { nil: undefined }),
      since: fc.option(validTimestamp, { nil: undefined }),
      bad: fc.option(
        fc.constantFrom<[string, unknown]>(
          ["group_by", "pid"],
          ["group_by", 1],
          ["since", "2026-02-30T00:00:00Z"],
          ["until", []],
        ),
        { nil: undefined },
      ),
    }).map(({ bad, ...rest }) => {
      const args: Record<string, unknown> = { ...rest, since: rest.since?.text };
      const sinceMs = rest.since?.ms;
      if (bad) args[bad[0]] = bad[1];
      return { op: "stats" as const, args, valid: !bad, sinceMs };
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      tool: fc.constantFrom(...TOOLS),
      token: fc.oneof(
        fc.constantFrom<unknown>(undefined, null, "", "a.b.c", "not-a-jwt", 12, {}, [], true),
        fc.constantFrom("EXPIRED", "WRONG_SECRET", "NONE_ALG", "REFRESH"),
        fc.string({ unit: "binary", maxLength: 60 }),
      ),
    }).map(({ tool, token }) => ({
      op: "auth" as const,
      tool,
      token,
      args: { session_id: "x", timestamp: "2026-01-01T00:00:00Z" },
    })),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      tool: fc.constantFrom(...TOOLS),
      args: garbage,
      withToken: fc.boolean(),
    })
      .map((r) => ({ op: "garbage" as const, ...r })),
  },
);

function b64url(text: string): string {
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

const compact = (ms: number) => {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10).replaceAll("-", "")}-${iso.slice(11, 19).replaceAll(":", "")}`;
};

/** What one call came to, kept to compare the transports: a digest and a short summary. */
interface Step {
  digest: string;
  summary: string;
}

/** The answers of each transport's run, by call; runs of one file share the plans. */
const traces = new Map<Kind, Step[]>();

/**
 * A result in the form both transports must agree on: the structured result (its text
 * copy is held to it call by call) or the JSON-RPC error; the server's clock
 * (`last_seen_at`) and the cursor's bytes are left out, everything else counts.
 */
function normalised(msg: Message): string {
  const result = msg.result as Record<string, unknown> | undefined;
  return JSON.stringify(
    result ? { ...result, content: undefined } : { error: msg.error },
    (k, v) => k === "last_seen_at" ? undefined : k === "next_cursor" && v !== null ? "<cursor>" : v,
  );
}

/** The same run over each transport: the same plans, the same checks. */
async function fuzz(kind: Kind): Promise<void> {
  const { dir, cleanup } = await tempDir();
  const db = `${dir}/s.kv`;
  const logFile = `${dir}/server.log`;
  const token = await mintToken();
  const now = Math.floor(Date.now() / 1000);
  const badTokens: Record<string, string> = {
    EXPIRED: await mintToken({ exp: now - 3600, iat: now - 7200 }),
    WRONG_SECRET: await mintToken({}, "another-secret-of-enough-length-0123456789"),
    NONE_ALG: `${b64url('{"alg":"none","typ":"JWT"}')}.${
      b64url(JSON.stringify({ exp: now + 99, iss: "session-buddy" }))
    }.`,
    REFRESH: await mintToken({ type: "refresh" }),
  };
  const secrets = [SECRET, token, ...Object.values(badTokens)];
  const server = await startWire(kind, {
    SESSION_BUDDY_DB: db,
    HOME: dir,
    SESSION_BUDDY_SECRET: SECRET,
    SESSION_BUDDY_LOG_FILE: logFile,
  });
  const plans = fc.sample(plan, { seed: SEED, numRuns: CALLS });
  const counts: Record<string, number> = {};
  const errorTexts: string[] = [];
  const answerLeaks = new Set<string>();
  const trace: Step[] = [];
  // The model: what the store must hold.
  const tracked: { id: string; args: Record<string, unknown> }[] = [];
  const ended = new Set<string>();
  const byEvent = new Map<string, string>();
  const began = performance.now();
  try {
    for (let i = 0; i < plans.length; i++) {
      const p = plans[i]!;
      counts[p.op] = (counts[p.op] ?? 0) + 1;
      const known = tracked.length > 0 && "pick" in p ? tracked[p.pick % tracked.length]! : null;
      let tool: string;
      let args: unknown;
      switch (p.op) {
        case "start":
        case "badStart":
          tool = "track_session_start";
          args = { ...p.args, token };
          break;
        case "retry":
        case "conflict":
          tool = "track_session_start";
          args = known
            ? {
              ...known.args,
              ...(p.op === "conflict" ? { pid: Number(known.args.pid) % 4_000_000 + 1 } : {}),
              token,
            }
            : { token };
          break;
        case "end":
          tool = "track_session_end";
          args = { session_id: known?.id ?? "none", timestamp: p.ts, token };
          break;
        case "endUnknown":
          tool = "track_session_end";
          args = { session_id: p.id, timestamp: p.ts, token };
          break;
        case "badEnd":
          tool = "track_session_end";
          args = { ...p.args, token };
          break;
        case "heartbeat":
          tool = "track_session_heartbeat";
          args = { session_id: known?.id ?? "none", timestamp: p.ts, token };
          break;
        case "heartbeatUnknown":
          tool = "track_session_heartbeat";
          args = { session_id: p.id, timestamp: "2026-01-01T00:00:00Z", token };
          break;
        case "badHeartbeat":
          tool = "track_session_heartbeat";
          args = { ...p.args, token };
          break;
        case "get":
          tool = "get_session";
          args = { session_id: known?.id ?? "none", token };
          break;
        case "getUnknown":
          tool = "get_session";
          args = { session_id: p.id, token };
          break;
        case "list":
          tool = "list_sessions";
          args = { ...p.args, token };
          break;
        case "stats":
          tool = "session_stats";
          args = { ...p.args, token };
          break;
        case "auth": {
          tool = p.tool;
          const t = typeof p.token === "string" && p.token in badTokens
            ? badTokens[p.token]
            : p.token;
          args = t === undefined ? { ...p.args } : { ...p.args, token: t };
          break;
        }
        case "garbage": {
          tool = p.tool;
          const isObject = p.args !== null && typeof p.args === "object" && !Array.isArray(p.args);
          args = p.withToken && isObject ? { ...(p.args as object), token } : p.args;
          break;
        }
      }
      const where = () =>
        `call ${i} (seed ${SEED}, ${kind}) ${p.op} ${tool}: ${
          String(JSON.stringify(args)).slice(0, 400)
        }`;
      const msg = await server.callMessage(tool, args);
      assert.ok(
        !msg.closed,
        `no answer (${msg.reason ?? "closed"}) at ${where()}\n${server.stderr().slice(-2000)}`,
      );
      const answer = JSON.stringify(msg);
      for (const s of secrets) if (answer.includes(s)) answerLeaks.add(`${s.slice(0, 6)}...`);
      const norm = normalised(msg);
      trace.push({
        digest: createHash("sha256").update(norm).digest("hex"),
        summary: `${p.op} ${tool} -> ${norm.slice(0, 300)}`,
      });
      assert.ok(msg.result, `JSON-RPC error ${JSON.stringify(msg.error)} at ${where()}`);
      const result = (msg.result as Record<string, unknown>).structuredContent as Record<
        string,
        unknown
      >;
      const text = ((msg.result as { content: { text: string }[] }).content[0]!).text;
      assert.deepEqual(
        JSON.parse(text),
        result,
        `text content equals structuredContent at ${where()}`,
      );
      assert.ok(
        STATUSES[tool]!.includes(String(result.status)),
        `status ${result.status} at ${where()}`,
      );
      if (result.status === "error") {
        const error = String(result.error);
        errorTexts.push(error);
        assert.ok(
          error.startsWith(PREFIX[tool]!) || error.startsWith(AUTH),
          `error text "${error}" at ${where()}`,
        );
        if (error.startsWith(AUTH) && "session_id" in result) {
          assert.equal(result.session_id, null, `auth errors carry no session_id at ${where()}`);
        }
      } else {
        assert.equal(result.error, null, where());
      }
      const expectError = (mention?: string) => {
        assert.equal(
          result.status,
          "error",
          `expected an error at ${where()}: ${JSON.stringify(result)}`,
        );
        const error = String(result.error);
        assert.ok(error.startsWith(PREFIX[tool]!), `tool error text at ${where()}: ${error}`);
        if (mention) {
          assert.match(error, new RegExp(mention), `reason names the field at ${where()}`);
        }
      };
      switch (p.op) {
        case "start": {
          assert.equal(
            result.status,
            "tracked",
            `valid start refused at ${where()}: ${result.error}`,
          );
          const id = String(result.session_id);
          const base = `${p.component.trim()}-${compact(p.ms)}`;
          assert.ok(
            id === base || new RegExp(`^${base.replace(/[-_]/g, "\\$&")}-\\d+$`).test(id),
            `id ${id} for base ${base} at ${where()}`,
          );
          assert.ok(!byEvent.has(String(p.args.event_id).toLowerCase()), "fresh event id");
          assert.ok(!tracked.some((t) => t.id === id), `id ${id} handed out twice at ${where()}`);
          tracked.push({ id, args: p.args });
          byEvent.set(String(p.args.event_id).toLowerCase(), id);
          break;
        }
        case "badStart":
          expectError(p.mention);
          assert.equal(result.session_id, null);
          break;
        case "retry":
          if (known) {
            assert.deepEqual(
              result,
              { session_id: known.id, status: "tracked", error: null },
              where(),
            );
          } else expectError();
          break;
        case "conflict":
          if (known) {
            expectError("already belongs to session");
            assert.ok(String(result.error).includes(known.id), where());
          } else expectError();
          break;
        case "end":
          if (known) {
            assert.deepEqual(
              result,
              { session_id: known.id, status: "ended", error: null },
              where(),
            );
            ended.add(known.id);
          } else assert.equal(result.status, "not_found", where());
          break;
        case "endUnknown":
          assert.deepEqual(
            result,
            { session_id: p.id.trim(), status: "not_found", error: null },
            where(),
          );
          break;
        case "badEnd":
          expectError(p.mention);
          assert.equal(
            result.session_id,
            typeof p.args.session_id === "string" ? p.args.session_id : null,
            where(),
          );
          break;
        case "heartbeat":
          if (known && ended.has(known.id)) expectError("already ended");
          else if (known) {
            assert.deepEqual(
              result,
              { session_id: known.id, status: "alive", error: null },
              where(),
            );
          } else assert.equal(result.status, "not_found", where());
          break;
        case "heartbeatUnknown":
          assert.equal(result.status, "not_found", where());
          break;
        case "badHeartbeat":
          expectError(p.mention);
          break;
        case "get":
          if (known) {
            assert.equal(result.status, "found", where());
            const session = result.session as Record<string, unknown>;
            assert.equal(session.session_id, known.id, where());
            assert.equal(session.status, ended.has(known.id) ? "ended" : "active", where());
            assert.ok(!("token" in session), "a record never holds the token");
          } else assert.equal(result.status, "not_found", where());
          break;
        case "getUnknown":
          assert.equal(result.status, "not_found", where());
          break;
        case "list":
        case "stats":
          if (p.valid && p.op === "stats" && (p.sinceMs ?? 0) > Date.now() - 5000) {
            // A range that starts after its end (since in the future, until defaulting to
            // now): see range_test.ts, which holds the contract's answer for it.
            counts.statsEmptyRange = (counts.statsEmptyRange ?? 0) + 1;
            assert.doesNotMatch(String(result.error), /store error/, where());
          } else if (p.valid) assert.equal(result.status, "ok", `${where()}: ${result.error}`);
          else expectError();
          if (p.op === "list" && p.valid) {
            const sessions = result.sessions as Record<string, unknown>[];
            assert.ok(sessions.length <= Number(p.args.limit ?? 50), where());
            if (p.args.component_name) {
              for (const s of sessions) {
                assert.equal(s.component_name, p.args.component_name, where());
              }
            }
          }
          break;
        case "auth":
          assert.equal(result.status, "error", where());
          assert.ok(
            String(result.error).startsWith(AUTH),
            `auth error text at ${where()}: ${result.error}`,
          );
          break;
        case "garbage":
          break;
      }
    }
    const seconds = (performance.now() - began) / 1000;
    // Still alive and serving; one well-formed answer per request, nothing else.
    await server.assertServing();
    assert.deepEqual(server.violations, [], `protocol violations over ${kind}`);
    const status = await server.close();
    assert.equal(status.code, 0, server.stderr().slice(-2000));
    assert.equal(server.otherOutput(), "", "nothing on stdout in HTTP mode");

    // The store holds exactly the tracked sessions: none lost, none made by a refused call.
    const kv = await Deno.openKv(db);
    const stored = new Map<string, Record<string, unknown>>();
    try {
      for await (const e of kv.list<Uint8Array>({ prefix: ["session"] })) {
        stored.set(String(e.key[1]), JSON.parse(new TextDecoder().decode(e.value)));
      }
    } finally {
      kv.close();
    }
    assert.equal(stored.size, tracked.length, "one stored record per tracked start, no more");
    for (const t of tracked) {
      const record = stored.get(t.id);
      assert.ok(record, `tracked ${t.id} is in the store`);
      assert.equal(record.status, ended.has(t.id) ? "ended" : "active", t.id);
      assert.equal(record.tracked_by, "admin-shell");
    }

    // Secrets: nowhere in stderr, the log file, the answers or the store.
    const log = await Deno.readTextFile(logFile);
    assert.deepEqual([...answerLeaks], [], "an answer holds a secret or token");
    const leaks = findSecrets({
      stderr: server.stderr(),
      stdout: server.otherOutput(),
      log,
      errors: errorTexts.join("\n"),
      store: await dumpAll(db),
    }, secrets);
    assert.deepEqual(leaks, []);
    assert.ok(/Session start tracked: /.test(log), "the log file has the tracking lines");
    for (const file of [db, `${db}-wal`, `${db}-shm`, logFile]) {
      const mode = modeOf(file);
      if (mode !== null) assert.equal(mode, 0o600, `${file} is readable by its owner only`);
    }

    // The contract is the transport's: the same input gets the same answers.
    traces.set(kind, trace);
    let compared: Kind | null = null;
    for (const [other, theirs] of traces) {
      if (other === kind) continue;
      assert.equal(theirs.length, trace.length, `as many answers over ${other} as over ${kind}`);
      for (let i = 0; i < trace.length; i++) {
        assert.equal(
          trace[i]!.digest,
          theirs[i]!.digest,
          `call ${i} (seed ${SEED}) answered differently:\n  ${kind}: ${
            trace[i]!.summary
          }\n  ${other}: ${theirs[i]!.summary}`,
        );
      }
      compared = other;
    }
    if (!compared && traces.size === 1 && kind !== TRANSPORTS[0]) {
      console.log(`fuzz over ${kind}: no ${TRANSPORTS[0]} run in this process to compare with`);
    }
    figure(kind === "stdio" ? "fuzz" : `fuzz_${kind}`, {
      seed: SEED,
      calls: plans.length,
      seconds: Number(seconds.toFixed(1)),
      tracked: tracked.length,
      ended: ended.size,
      refused: errorTexts.length,
      stored: stored.size,
      ...(compared ? { same_answers_as: compared } : {}),
      // The plans, and so the counts of each kind, are those of the other transport's run.
      ...(server instanceof HttpWire ? { http_statuses: server.statuses } : { ops: counts }),
    });
  } finally {
    await server.destroy();
    await cleanup();
  }
}

for (const kind of TRANSPORTS) {
  Deno.test(
    `fuzz: ${CALLS} generated calls of every tool over ${kind} (seed ${SEED})`,
    () => fuzz(kind),
  );
}
