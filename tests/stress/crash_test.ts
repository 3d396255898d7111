/**
 * Crashes under load: several clients, each with its own server process on one store,
 * track starts and ends continuously while servers are killed with SIGKILL at random
 * moments and restarted on the same store. A client whose server died retries what was
 * unanswered with the same event_id, as the seed's client would. Afterwards every start
 * and end a client was told about is in the store, no event got two sessions and no
 * session id two events, and the store opens cleanly for a new server and the CLI.
 */
import assert from "node:assert/strict";
import { endArgs, runProgram, startArgs, tempDir } from "../helpers/server.ts";
import { figure, RawServer, size } from "./raw.ts";

const CLIENTS = size(3, 4);
const KILLS = size(3, 24);

interface Acked {
  eventId: string;
  sessionId: string;
}

Deno.test(`crashes under load: ${CLIENTS} clients, ${KILLS} SIGKILLs at random moments`, async () => {
  const { dir, cleanup } = await tempDir();
  const db = `${dir}/s.kv`;
  const env = { SESSION_BUDDY_DB: db, HOME: dir };
  const servers: (RawServer | null)[] = Array(CLIENTS).fill(null);
  const tracked: Acked[] = [];
  const ended = new Set<string>();
  let stop = false;
  let restarts = 0;
  let retriedStarts = 0;
  let calls = 0;

  async function serverOf(c: number): Promise<RawServer> {
    let s = servers[c];
    if (s && s.alive) return s;
    if (s) await s.destroy();
    while (true) {
      try {
        s = await RawServer.start({ env });
        break;
      } catch {
        // Killed while starting: try again.
      }
    }
    servers[c] = s;
    restarts++;
    return s;
  }

  /** Calls until an answer arrives, restarting the server after each crash. */
  async function reliably(c: number, tool: string, args: Record<string, unknown>) {
    for (let attempt = 0;; attempt++) {
      const s = await serverOf(c);
      const msg = await s.callMessage(tool, args).catch(() => ({ closed: true }));
      calls++;
      // Let the exit of a killed server be seen before it is asked again.
      if ("closed" in msg) await Promise.race([s.exited, new Promise((r) => setTimeout(r, 50))]);
      if (!("closed" in msg)) {
        const result = (msg as { result: { structuredContent: Record<string, unknown> } }).result
          .structuredContent;
        return { result, attempt };
      }
    }
  }

  async function client(c: number): Promise<void> {
    const open: string[] = [];
    let n = 0;
    while (!stop) {
      n++;
      const args = startArgs({
        component_name: `crash${c}`,
        // Many starts share a second, so ids need their -2, -3, ... suffixes.
        timestamp: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString(),
        pid: n,
      });
      const { result, attempt } = await reliably(c, "track_session_start", args);
      if (attempt > 0) retriedStarts++;
      assert.equal(result.status, "tracked", JSON.stringify(result));
      tracked.push({ eventId: String(args.event_id), sessionId: String(result.session_id) });
      open.push(String(result.session_id));
      if (open.length > 2 || (open.length > 0 && Math.random() < 0.4)) {
        const id = open.splice(Math.floor(Math.random() * open.length), 1)[0]!;
        const end = await reliably(c, "track_session_end", endArgs(id));
        assert.deepEqual(end.result, { session_id: id, status: "ended", error: null });
        ended.add(id);
      }
    }
  }

  const running = Array.from({ length: CLIENTS }, (_, c) => client(c));
  let kills = 0;
  try {
    while (kills < KILLS) {
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 450));
      const candidates = servers.map((s, i) => [s, i] as const).filter(([s]) => s?.alive);
      if (candidates.length === 0) continue;
      const [victim] = candidates[Math.floor(Math.random() * candidates.length)]!;
      victim!.kill();
      kills++;
    }
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    stop = true;
    await Promise.all(running);
    await Promise.all(servers.map((s) => s?.close()));
  }

  try {
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
    for (const t of tracked) {
      const r = records.get(t.sessionId);
      assert.ok(r, `acknowledged ${t.sessionId} is in the store`);
      assert.equal(r.event_id, t.eventId, `${t.sessionId} belongs to its event`);
      assert.equal(r.status, ended.has(t.sessionId) ? "ended" : "active", t.sessionId);
    }
    const eventIds = [...records.values()].map((r) => r.event_id);
    assert.equal(new Set(eventIds).size, eventIds.length, "no event stored twice");
    assert.equal(records.size, tracked.length, "nothing stored that no client was told of");
    if (events.size > 0) assert.equal(events.size, records.size, "one event entry per session");

    // The store opens cleanly: a new server serves it, the CLI lists it.
    const after = await RawServer.start({ env });
    const listed = await after.call("list_sessions", { limit: 500 });
    assert.equal(listed.status, "ok");
    assert.equal(await after.close().then((s) => s.code), 0);
    const cli = await runProgram(["sessions", "list", "--json", "--limit", "5"], env);
    assert.equal(cli.code, 0, cli.stderr);
    figure("crash", {
      clients: CLIENTS,
      kills,
      restarts,
      calls,
      tracked: tracked.length,
      ended: ended.size,
      retried_starts: retriedStarts,
      stored: records.size,
      lost: 0,
      duplicates: 0,
    });
  } finally {
    await cleanup();
  }
});
