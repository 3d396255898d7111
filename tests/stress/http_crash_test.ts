/**
 * Crashes of a collector under load: 16 HTTP clients track starts and ends continuously
 * against one `serve --http` process, which is killed with SIGKILL at random moments and
 * restarted on the same store (on the same port when it is free again, else on a new one).
 * A call in flight at a kill may fail with a connection error: it was not acknowledged,
 * and the client retries it with the same event_id, as the seed's client would, until an
 * answer comes. Afterwards every start answered `tracked` and every end answered `ended`
 * is in the store, no session id went to two events, nothing is stored that no client was
 * told of, and a new collector serves the store.
 */
import assert from "node:assert/strict";
import { connectHttp, freePort, type HttpRunning, startHttpServer } from "../helpers/http.ts";
import { endArgs, startArgs, tempDir } from "../helpers/server.ts";
import { figure, size } from "./raw.ts";
import { quantile } from "./tcp.ts";
import { ACCEPT } from "./wire.ts";

const CLIENTS = 16;
const KILLS = size(2, 10);
/** Clients share a few components, so that ids race for their -2, -3, ... suffixes. */
const COMPONENTS = 4;

interface Acked {
  eventId: string;
  sessionId: string;
}

Deno.test(`collector crashes under load: ${CLIENTS} HTTP clients, ${KILLS} SIGKILLs`, async () => {
  const { dir, cleanup } = await tempDir();
  const db = `${dir}/s.kv`;
  const env = { SESSION_BUDDY_DB: db, HOME: dir };
  let server: HttpRunning = await startHttpServer({ env });
  let url = server.mcp;
  const tracked: Acked[] = [];
  const ended = new Set<string>();
  const unexpected: string[] = [];
  let stop = false;
  /** Connection errors of calls the server had (reset, closed): in flight at a kill. */
  let inFlightFailures = 0;
  /** Attempts while no collector listened. */
  let refusedAttempts = 0;
  let retriedStarts = 0;
  let calls = 0;
  let nextId = 1;

  /** One POST; the structured result, or null when no answer came (a connection error). */
  async function post(tool: string, args: Record<string, unknown>) {
    const id = nextId++;
    let response: Response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: ACCEPT },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id,
          method: "tools/call",
          params: { name: tool, arguments: args },
        }),
      });
    } catch (error) {
      const reason = String((error as Error).cause ?? error);
      if (/refused/i.test(reason)) refusedAttempts++;
      else inFlightFailures++;
      return null;
    }
    let text: string;
    try {
      text = await response.text();
    } catch {
      inFlightFailures++; // killed while the answer was on its way
      return null;
    }
    if (response.status !== 200) {
      unexpected.push(`HTTP ${response.status} to ${tool}: ${text.slice(0, 200)}`);
      return null;
    }
    const msg = JSON.parse(text);
    if (msg.id !== id || !msg.result) {
      unexpected.push(`answer to ${id}: ${text.slice(0, 200)}`);
      return null;
    }
    return msg.result.structuredContent as Record<string, unknown>;
  }

  /** Calls until an answer comes. */
  async function reliably(tool: string, args: Record<string, unknown>) {
    for (let attempt = 0;; attempt++) {
      calls++;
      const result = await post(tool, args);
      if (result) return { result, attempt };
      if (unexpected.length > 0) throw new Error(unexpected.join("\n"));
      await new Promise((r) => setTimeout(r, 10 + Math.random() * 20));
    }
  }

  async function client(c: number): Promise<void> {
    const open: string[] = [];
    let n = 0;
    while (!stop) {
      n++;
      const args = startArgs({
        component_name: `hcrash${c % COMPONENTS}`,
        // Many starts share a second, so ids need their -2, -3, ... suffixes.
        timestamp: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString(),
        pid: c * 100_000 + n,
      });
      const { result, attempt } = await reliably("track_session_start", args);
      if (attempt > 0) retriedStarts++;
      assert.equal(result.status, "tracked", JSON.stringify(result));
      tracked.push({ eventId: String(args.event_id), sessionId: String(result.session_id) });
      open.push(String(result.session_id));
      if (open.length > 2 || (open.length > 0 && Math.random() < 0.4)) {
        const id = open.splice(Math.floor(Math.random() * open.length), 1)[0]!;
        const end = await reliably("track_session_end", endArgs(id));
        assert.deepEqual(end.result, { session_id: id, status: "ended", error: null });
        ended.add(id);
      }
    }
  }

  const began = performance.now();
  const running = Array.from({ length: CLIENTS }, (_, c) => client(c));
  const restartMs: number[] = [];
  let samePort = 0;
  let kills = 0;
  try {
    while (kills < KILLS) {
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 700));
      server.child.kill("SIGKILL");
      const status = await server.stop("SIGKILL");
      assert.equal(status.signal, "SIGKILL", `killed: ${JSON.stringify(status)}`);
      kills++;
      const t = performance.now();
      try {
        server = await startHttpServer({ env, port: server.port });
        samePort++;
      } catch {
        // The port is not free again yet: another one; the clients follow the URL.
        server = await startHttpServer({ env, port: freePort() });
      }
      url = server.mcp;
      restartMs.push(performance.now() - t);
    }
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    stop = true;
    await Promise.allSettled(running);
  }
  const seconds = (performance.now() - began) / 1000;
  try {
    for (const outcome of await Promise.allSettled(running)) {
      if (outcome.status === "rejected") throw outcome.reason;
    }
    assert.deepEqual(unexpected, []);
    assert.equal((await server.stop("SIGTERM")).code, 0, server.stderr().slice(-2000));

    // Every acknowledged start and end is in the store; ids and events pair one to one.
    const ids = new Set(tracked.map((t) => t.sessionId));
    assert.equal(ids.size, tracked.length, "no session id was handed out twice");
    const kv = await Deno.openKv(db);
    const records = new Map<string, Record<string, unknown>>();
    const events = new Map<string, string>();
    try {
      for await (const e of kv.list<Uint8Array>({ prefix: ["session"] })) {
        records.set(String(e.key[1]), JSON.parse(new TextDecoder().decode(e.value)));
      }
      for await (const e of kv.list<{ session_id: string }>({ prefix: ["event"] })) {
        events.set(String(e.key[1]), e.value.session_id);
      }
    } finally {
      kv.close();
    }
    let lost = 0;
    for (const t of tracked) {
      const r = records.get(t.sessionId);
      if (!r) lost++;
      assert.ok(r, `acknowledged ${t.sessionId} is in the store`);
      assert.equal(r.event_id, t.eventId, `${t.sessionId} belongs to its event`);
      assert.equal(r.status, ended.has(t.sessionId) ? "ended" : "active", t.sessionId);
    }
    const eventIds = [...records.values()].map((r) => r.event_id);
    assert.equal(new Set(eventIds).size, eventIds.length, "no event stored twice");
    assert.equal(records.size, tracked.length, "nothing stored that no client was told of");
    if (events.size > 0) assert.equal(events.size, records.size, "one event entry per session");

    // A new collector serves the store: what the clients were told, it tells again.
    const after = await startHttpServer({ env });
    try {
      const client = await connectHttp(after.mcp);
      try {
        const sample = tracked.filter((_, i) =>
          i % Math.max(1, Math.floor(tracked.length / 50)) === 0
        );
        for (const t of sample) {
          const found = await client.call("get_session", { session_id: t.sessionId });
          assert.equal(found.status, "found", JSON.stringify(found));
          const session = found.session as Record<string, unknown>;
          assert.equal(session.status, ended.has(t.sessionId) ? "ended" : "active");
        }
        const listed = await client.call("list_sessions", { limit: 500 });
        assert.equal(listed.status, "ok");
      } finally {
        await client.close();
      }
      const health = await fetch(`${after.origin}/healthz`);
      assert.equal(health.status, 200, await health.text());
    } finally {
      assert.equal((await after.stop("SIGTERM")).code, 0, after.stderr().slice(-2000));
    }
    figure("http_crash", {
      clients: CLIENTS,
      kills,
      restarts_on_same_port: samePort,
      restart_p50_ms: Math.round(quantile(restartMs, 0.5)),
      seconds: Number(seconds.toFixed(1)),
      calls,
      tracked: tracked.length,
      ended: ended.size,
      failed_in_flight: inFlightFailures,
      refused_while_down: refusedAttempts,
      retried_starts: retriedStarts,
      stored: records.size,
      lost,
      duplicates: tracked.length - ids.size,
    });
  } finally {
    await server.stop("SIGKILL");
    await cleanup();
  }
});
