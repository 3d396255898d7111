/**
 * A collector on PostgreSQL killed under load (SPEC 8.3): HTTP clients track starts and ends
 * continuously against one `serve --http` process on a fresh database, which is killed with
 * SIGKILL at random moments, with groups of starts in flight in its transactions, and started
 * again on the same port and database. A call without an answer is retried with the same
 * arguments (the same event_id) until one comes. Afterwards the database holds exactly the
 * acknowledged sessions, each with its own event, ended where an end was acknowledged, no
 * id twice; a new collector serves them, and so does `sessions list`.
 */
import assert from "node:assert/strict";
import { type HttpRunning, startHttpServer } from "../helpers/http.ts";
import { pgTest } from "../helpers/postgres.ts";
import { endArgs, runProgram, startArgs, tempDir } from "../helpers/server.ts";
import { pgRecords } from "../helpers/stores.ts";
import { figure, size } from "./raw.ts";
import { ACCEPT } from "./wire.ts";

const CLIENTS = size(8, 16);
const KILLS = size(2, 10);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

pgTest(
  `PostgreSQL collector killed with SIGKILL ${KILLS} times under ${CLIENTS} HTTP clients: nothing acknowledged lost`,
  async (cluster) => {
    const database = await cluster.createDatabase();
    const { dir, cleanup } = await tempDir();
    const env = { SESSION_BUDDY_DB: database.url, HOME: dir };
    let server: HttpRunning | null = await startHttpServer({ env });
    const port = server.port;
    const url = server.mcp;
    const acked: { eventId: string; sessionId: string; attempts: number }[] = [];
    const ended = new Set<string>();
    const unexpected: string[] = [];
    let refused = 0;
    let cutOff = 0;
    let calls = 0;
    let stopping = false;
    let id = 0;

    /** One tools/call over HTTP: its structured result, or null when no answer came. */
    async function post(tool: string, args: Record<string, unknown>) {
      calls++;
      const request = {
        jsonrpc: "2.0",
        id: ++id,
        method: "tools/call",
        params: { name: tool, arguments: args },
      };
      try {
        const response = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", accept: ACCEPT },
          body: JSON.stringify(request),
        });
        const text = await response.text();
        if (response.status !== 200) {
          unexpected.push(`HTTP ${response.status} for ${tool}: ${text.slice(0, 200)}`);
          return null;
        }
        const message = JSON.parse(text);
        if (message.id !== request.id || !message.result) {
          unexpected.push(`answer to ${request.id}: ${text.slice(0, 200)}`);
          return null;
        }
        return message.result.structuredContent as Record<string, unknown>;
      } catch (error) {
        // Refused while no collector listens, or cut off by the kill: not acknowledged.
        if (/refused/i.test(String((error as Error).cause ?? error))) refused++;
        else cutOff++;
        return null;
      }
    }

    async function until(tool: string, args: Record<string, unknown>, want: string) {
      for (let attempt = 1;; attempt++) {
        const result = await post(tool, args);
        if (unexpected.length > 0) throw new Error(unexpected.join("\n"));
        if (result) {
          if (result.status !== want) {
            unexpected.push(`${tool}: ${JSON.stringify(result)}`);
            throw new Error(unexpected.at(-1));
          }
          return { result, attempt };
        }
        await sleep(5 + Math.random() * 20);
      }
    }

    async function client(c: number) {
      let n = 0;
      while (!stopping) {
        n++;
        const args = startArgs({
          component_name: `pgcrash${c % 3}`,
          timestamp: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString(),
          pid: c * 100_000 + n,
        });
        const { result, attempt } = await until("track_session_start", args, "tracked");
        const sessionId = String(result.session_id);
        acked.push({ eventId: String(args.event_id), sessionId, attempts: attempt });
        if (Math.random() < 0.5) {
          await until("track_session_end", endArgs(sessionId), "ended");
          ended.add(sessionId);
        }
      }
    }

    // A client that stops on a wrong answer has recorded it in `unexpected`, asserted below.
    const running = Array.from({ length: CLIENTS }, (_, c) => client(c).catch(() => {}));
    const restartMs: number[] = [];
    try {
      for (let k = 0; k < KILLS; k++) {
        await sleep(200 + Math.random() * 500);
        await server.stop("SIGKILL");
        server = null;
        await sleep(Math.random() * 200);
        const began = performance.now();
        // The port is free again as soon as the killed process is gone.
        for (let tries = 0; !server; tries++) {
          try {
            server = await startHttpServer({ env, port });
          } catch (error) {
            if (tries >= 20) throw error;
            await sleep(100);
          }
        }
        restartMs.push(performance.now() - began);
      }
      await sleep(300);
    } finally {
      stopping = true;
      await Promise.allSettled(running);
    }
    try {
      assert.deepEqual(unexpected, []);
      const stored = await pgRecords(database);
      const ids = new Set(acked.map((a) => a.sessionId));
      assert.equal(ids.size, acked.length, "no session id acknowledged twice");
      const events = new Set([...stored.values()].map((r) => r.event_id));
      assert.equal(events.size, stored.size, "no event stored twice");
      for (const a of acked) {
        const record = stored.get(a.sessionId);
        assert.ok(record, `acknowledged ${a.sessionId} is stored`);
        assert.equal(record.event_id, a.eventId, `${a.sessionId} holds its own event`);
        assert.equal(record.status, ended.has(a.sessionId) ? "ended" : "active", a.sessionId);
      }
      assert.equal(stored.size, acked.length, "nothing stored that no client was told of");

      // The database serves a new collector, and the command line.
      const last = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: ACCEPT },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "tools/call",
          params: { name: "get_session", arguments: { session_id: acked.at(-1)!.sessionId } },
        }),
      }).then((r) => r.json());
      assert.equal(last.result.structuredContent.status, "found");
      const listed = await runProgram(["sessions", "list", "--json", "--limit", "500"], env);
      assert.equal(listed.code, 0, listed.stderr);
      assert.equal(
        listed.stdout.trim().split("\n").length,
        Math.min(500, acked.length),
        "sessions list lists them",
      );
      restartMs.sort((a, b) => a - b);
      figure("pg_crash", {
        clients: CLIENTS,
        kills: KILLS,
        restart_p50_ms: Math.round(restartMs[Math.floor(restartMs.length / 2)] ?? 0),
        calls,
        refused_while_down: refused,
        cut_off_by_a_kill: cutOff,
        tracked: acked.length,
        ended: ended.size,
        retried_starts: acked.filter((a) => a.attempts > 1).length,
        stored: stored.size,
        lost: 0,
        duplicates: 0,
      });
    } finally {
      await server?.stop();
      await cleanup();
      await database.drop();
    }
  },
);
