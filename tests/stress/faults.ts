/**
 * A store under faults, with real processes: stdio servers track starts and ends
 * continuously while the store goes away (a database stopped or hung, a KV Connect server
 * failing or killed) and comes back. Used by pg_faults_test.ts and kv_connect_faults_test.ts.
 *
 * Every call is answered within SPEC's 5 s: a tool result, `store error: ...` while the
 * store is away. The servers are never restarted, and serve again once it is back. A
 * client whose call failed retries it with the same event_id until it is acknowledged, as
 * the seed's client would; a start whose call failed may have been committed all the same
 * (the answer was lost), and its retry must then return the session_id that was committed.
 * Afterwards the store holds exactly the acknowledged sessions, each with its own event,
 * ended where an end was acknowledged; no id twice; no secret in any output.
 */
import assert from "node:assert/strict";
import { endArgs, type Running, startArgs, startServer, tempDir } from "../helpers/server.ts";
import { figure, findSecrets } from "./raw.ts";
import { quantile } from "./tcp.ts";

/** The store the servers write, and how to make it fail. */
export interface FaultTarget {
  /** The servers' environment for it: SESSION_BUDDY_DB, a token. */
  env: Record<string, string>;
  /** Texts no output may hold (a password, a token). */
  secrets: string[];
  /** Every stored record, by session id. */
  stored(): Promise<Map<string, Record<string, unknown>>>;
  /** Brings a fault of `kind` about. */
  begin(kind: string): Promise<void>;
  /** Ends it: the store is back. */
  end(kind: string): Promise<void>;
  /** Undoes any fault still on (called however the run ends). */
  release(): Promise<void>;
}

/** SPEC 8.3: a call while the store is down or restarting is answered within 5 s. */
const BOUND_MS = 5000;
/** The stores' own deadline per call; longer faults fail calls. */
const STORE_DEADLINE_MS = 4500;

export interface Fault {
  kind: string;
  ms: number;
}

export interface Scenario {
  name: string;
  servers: number;
  /** Clients per server, each calling one at a time. */
  clients: number;
  faults: Fault[];
  /** How long the store is up before, between and after the faults. */
  upMs: number;
  /** The component names' prefix (three of them, raced for their suffixes). */
  component: string;
}

/** One call as the client saw it. */
interface Call {
  server: number;
  tool: string;
  /** Wall-clock time it was sent (the server stamps records with the same clock). */
  sentAt: number;
  answeredAt: number;
  ms: number;
  ok: boolean;
  error: string | null;
}

/** A start acknowledged after `attempts` calls, the last one sent at `lastSentAt`. */
interface Acked {
  eventId: string;
  sessionId: string;
  attempts: number;
  lastSentAt: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `scenario` against `target`; asserts every contract, returns the figures. */
export async function faultRun(
  target: FaultTarget,
  scenario: Scenario,
): Promise<Record<string, unknown>> {
  const { dir, cleanup } = await tempDir();
  const logs = Array.from({ length: scenario.servers }, (_, i) => `${dir}/server${i}.log`);
  const servers: Running[] = await Promise.all(
    logs.map((log) =>
      startServer({ env: { ...target.env, SESSION_BUDDY_LOG_FILE: log, HOME: dir } })
    ),
  );
  const calls: Call[] = [];
  const acked: Acked[] = [];
  const ended = new Set<string>();
  const unexpected: string[] = [];
  const answerTexts: string[] = [];
  const windows: { kind: string; from: number; up: number; next: number }[] = [];
  let stopping = false;

  /** Calls `tool` until it answers `want`; every other answer must be a store error. */
  async function untilAcked(s: number, tool: string, args: Record<string, unknown>, want: string) {
    const prefix = tool === "track_session_start"
      ? "Session start tracking failed: store "
      : "Session end tracking failed: store ";
    for (let attempt = 1;; attempt++) {
      const sentAt = Date.now();
      const began = performance.now();
      let result: Record<string, unknown>;
      try {
        result = await servers[s]!.call(tool, args);
      } catch (error) {
        unexpected.push(`server ${s}, ${tool}: no result (${(error as Error).message})`);
        throw error;
      }
      const ms = performance.now() - began;
      const ok = result.status === want;
      const error = typeof result.error === "string" ? result.error : null;
      calls.push({ server: s, tool, sentAt, answeredAt: Date.now(), ms, ok, error });
      if (ok) return { result, attempt, sentAt };
      answerTexts.push(JSON.stringify(result));
      // "store error: ..." or, when a local store stays locked, "store is busy: ...".
      if (result.status !== "error" || !error?.startsWith(prefix)) {
        unexpected.push(`server ${s}, ${tool}: ${JSON.stringify(result)}`);
        throw new Error(unexpected.at(-1));
      }
      if (tool === "track_session_start" && result.session_id !== null) {
        unexpected.push(`server ${s}: a failed start with an id: ${JSON.stringify(result)}`);
        throw new Error(unexpected.at(-1));
      }
      // The seed's client would try again a little later, with the same event.
      await sleep(50 + Math.random() * 100);
    }
  }

  async function client(s: number, c: number): Promise<void> {
    let n = 0;
    while (!stopping) {
      n++;
      const args = startArgs({
        // Three components over every server, one second: ids race for their suffixes.
        component_name: `${scenario.component}${(s + c) % 3}`,
        timestamp: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString(),
        pid: 1 + (((s * 10 + c) * 100_000 + n) % 4_000_000),
      });
      const start = await untilAcked(s, "track_session_start", args, "tracked");
      const sessionId = String(start.result.session_id);
      acked.push({
        eventId: String(args.event_id),
        sessionId,
        attempts: start.attempt,
        lastSentAt: start.sentAt,
      });
      // Odd servers end half their sessions; even ones only start, so that a start is
      // sure to be in flight when the store goes away.
      if (s % 2 === 1 && Math.random() < 0.5) {
        await untilAcked(s, "track_session_end", endArgs(sessionId), "ended");
        ended.add(sessionId);
      }
    }
  }

  // A client that stops on a wrong answer has recorded it in `unexpected`, asserted below.
  const running = servers.flatMap((_, s) =>
    Array.from({ length: scenario.clients }, (_, c) => client(s, c).catch(() => {}))
  );
  const began = performance.now();
  try {
    await sleep(scenario.upMs);
    for (const fault of scenario.faults) {
      const from = Date.now();
      await target.begin(fault.kind);
      await sleep(fault.ms);
      await target.end(fault.kind);
      const up = Date.now();
      await sleep(scenario.upMs);
      windows.push({ kind: fault.kind, from, up, next: Date.now() });
    }
    // After the last fault, what the clients do while finishing counts too.
    const last = windows.at(-1);
    if (last) last.next = Infinity;
  } finally {
    await target.release();
    stopping = true;
    // A client finishes what it began: every event it sent ends up acknowledged.
    await Promise.allSettled(running);
  }
  const seconds = (performance.now() - began) / 1000;
  let closed = false;
  try {
    assert.deepEqual(unexpected, [], "every answer is the wanted one or a store error");

    // SPEC's bound, on every call, the ones made while the store was away included.
    const durations = calls.map((c) => c.ms);
    const maxMs = Math.max(...durations);
    const failed = calls.filter((c) => !c.ok);

    // The servers served again by themselves: after each fault, each one answered a call
    // it was sent after the store was back.
    const recoveries: number[] = [];
    for (const w of windows) {
      for (let s = 0; s < servers.length; s++) {
        const fresh = calls.find((c) =>
          c.server === s && c.ok && c.sentAt >= w.up && c.answeredAt <= w.next
        );
        assert.ok(fresh, `server ${s} served again after the ${w.kind} that ended at ${w.up}`);
        const first = calls.find((c) => c.server === s && c.ok && c.answeredAt >= w.up)!;
        recoveries.push(first.answeredAt - w.up);
      }
    }
    // And they are the same processes, still serving.
    for (const server of servers) {
      assert.equal((await server.call("list_sessions", { limit: 1 })).status, "ok");
    }

    // Exactly the acknowledged sessions are stored, each with its event, none twice.
    const stored = await target.stored();
    const ids = new Set(acked.map((a) => a.sessionId));
    assert.equal(ids.size, acked.length, "no session id acknowledged twice");
    const storedByEvent = new Map<string, string>();
    for (const [id, record] of stored) {
      assert.ok(!storedByEvent.has(String(record.event_id)), `event of ${id} stored once`);
      storedByEvent.set(String(record.event_id), id);
    }
    let committedUnanswered = 0;
    for (const a of acked) {
      const record = stored.get(a.sessionId);
      assert.ok(record, `acknowledged ${a.sessionId} is stored`);
      assert.equal(record.event_id, a.eventId, `${a.sessionId} holds its own event`);
      assert.equal(record.status, ended.has(a.sessionId) ? "ended" : "active", a.sessionId);
      if (a.attempts > 1) {
        // A retried start returns the session its event already has.
        assert.equal(storedByEvent.get(a.eventId), a.sessionId, `retry of ${a.eventId}`);
        // Stamped before the acknowledged call was sent: an earlier, failed call committed it.
        if (Date.parse(String(record.last_seen_at)) < a.lastSentAt) committedUnanswered++;
      }
    }
    assert.equal(stored.size, acked.length, "nothing stored that no client was told of");

    // No secret is in any answer, stderr line or log line (read once the servers have
    // stopped and flushed their logs).
    await Promise.all(servers.map((server) => server.close()));
    closed = true;
    const outputs: Record<string, string> = { answers: answerTexts.join("\n") };
    for (let s = 0; s < servers.length; s++) {
      outputs[`stderr ${s}`] = servers[s]!.stderr();
      outputs[`log ${s}`] = await Deno.readTextFile(logs[s]!).catch(() => "");
    }
    assert.deepEqual(findSecrets(outputs, target.secrets), []);
    const storeErrorLines = Object.entries(outputs)
      .filter(([k]) => k.startsWith("log"))
      .reduce(
        (n, [, text]) =>
          n +
          (text.match(/ERROR - Session (start|end) tracking failed: store /g)?.length ?? 0),
        0,
      );

    const figures = {
      servers: scenario.servers,
      clients: scenario.servers * scenario.clients,
      faults: scenario.faults.map((f) => `${f.kind} ${f.ms / 1000} s`).join(", "),
      seconds: Number(seconds.toFixed(1)),
      calls: calls.length,
      tracked: acked.length,
      ended: ended.size,
      store_error_answers: failed.length,
      store_error_log_lines: storeErrorLines,
      retried_starts: acked.filter((a) => a.attempts > 1).length,
      committed_though_call_failed: committedUnanswered,
      max_call_ms: Math.round(maxMs),
      p99_call_ms: Math.round(quantile(durations, 0.99)),
      recovery_max_ms: Math.round(Math.max(...recoveries)),
      stored: stored.size,
      lost: 0,
      duplicates: 0,
    };
    figure(scenario.name, figures);
    assert.ok(maxMs < BOUND_MS, `slowest call ${Math.round(maxMs)} ms (SPEC: within 5 s)`);
    assert.equal(storeErrorLines, failed.length, "an ERROR log line for each failed call");
    if (scenario.faults.some((f) => f.ms > STORE_DEADLINE_MS + 500)) {
      // A call made as the store went away cannot succeed within 5 s: the error path ran.
      assert.ok(failed.length > 0, "some calls were answered with a store error");
      assert.ok(acked.some((a) => a.attempts > 1), "some starts were retried");
    }
    return figures;
  } finally {
    if (!closed) await Promise.all(servers.map((s) => s.close()));
    await cleanup();
  }
}
