/**
 * A PostgreSQL store whose database goes down while serving (SPEC 2, 8.2, 8.3), on a cluster
 * of the test's own: stdio servers (password in the URL, and in SESSION_BUDDY_DB_PASSWORD) and
 * a collector answer every tool with its error result (`store error: ...`) within 5 s,
 * `/healthz` says 503, the commands fail with one line, and no result, response, log line
 * or stderr line holds the password. Once the database is back, the same processes serve.
 */
import assert from "node:assert/strict";
import { connectHttp, startHttpServer } from "../helpers/http.ts";
import { ownPgTest } from "../helpers/pg_own_cluster.ts";
import {
  endArgs,
  programCommand,
  runProgram,
  spawnPiped,
  startArgs,
  startServer,
  tempDir,
} from "../helpers/server.ts";
import { poll } from "../helpers/contract.ts";
import { figure } from "../stress/raw.ts";

/** SPEC 8.3: within 5 s. */
const BOUND_MS = 5000;

function ourLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.trim() !== "");
}

ownPgTest(
  "the database goes down while serving: every tool's error result within 5 s, /healthz 503, one-line commands, no password anywhere; then serving again",
  async (cluster) => {
    const database = await cluster.createDatabase();
    // A password with characters a URL %-encodes: both forms are looked for.
    const password = `d0wn:/@?#% ${crypto.randomUUID()}`;
    await database.query(`ALTER ROLE "${database.user}" PASSWORD '${password}'`);
    const url = `postgres://${database.user}:${
      encodeURIComponent(password)
    }@${cluster.host}:${cluster.port}/${database.name}?sslmode=disable`;
    const { dir, cleanup } = await tempDir();
    const envA = { SESSION_BUDDY_DB: url, SESSION_BUDDY_LOG_FILE: `${dir}/a.log`, HOME: dir };
    const envB = {
      SESSION_BUDDY_DB: database.urlWithoutPassword,
      SESSION_BUDDY_DB_PASSWORD: password,
      SESSION_BUDDY_LOG_FILE: `${dir}/b.log`,
      HOME: dir,
    };
    const envC = { SESSION_BUDDY_DB: url, SESSION_BUDDY_LOG_FILE: `${dir}/c.log`, HOME: dir };
    const a = await startServer({ env: envA });
    const b = await startServer({ env: envB });
    const c = await startHttpServer({ env: envC });
    const http = await connectHttp(c.mcp);
    const texts: Record<string, string> = {};
    let summary: Record<string, unknown> = {};
    const tail = spawnPiped(programCommand(["sessions", "tail", "--json"]), envB);
    await tail.stdin.close();
    const tailOut = { stdout: "", stderr: "" };
    const decoder = new TextDecoder();
    const tailPumps = [
      (async () => {
        for await (const chunk of tail.stdout) {
          tailOut.stdout += decoder.decode(chunk, { stream: true });
        }
      })(),
      (async () => {
        for await (const chunk of tail.stderr) {
          tailOut.stderr += decoder.decode(chunk, { stream: true });
        }
      })(),
    ];
    let tailStatus: Deno.CommandStatus | null = null;
    tail.status.then((s) => tailStatus = s);
    try {
      const clients = { a: a.call, b: b.call, c: http.call } as const;
      const ids: Record<string, string> = {};
      for (const [name, call] of Object.entries(clients)) {
        const started = await call(
          "track_session_start",
          startArgs({ component_name: `down${name}` }),
        );
        assert.equal(started.status, "tracked", JSON.stringify(started));
        ids[name] = String(started.session_id);
      }
      // The tail follows: once it has begun polling (what came before is history to it), it
      // prints a start made by another process.
      let followed = false;
      for (let i = 0; i < 20 && !followed; i++) {
        const started = await a.call(
          "track_session_start",
          startArgs({ component_name: "downtail" }),
        );
        const id = String(started.session_id);
        followed = await poll(() => tailOut.stdout.includes(id), 1000);
      }
      assert.ok(followed, `sessions tail follows:\n${tailOut.stdout}\n${tailOut.stderr}`);

      await cluster.stop("fast");
      const stoppedAt = Date.now();

      // Every tool on every server, all at once.
      const calls: { what: string; ms: number; result: Record<string, unknown> }[] = [];
      // (The health check and the commands run while the calls wait for their deadline.)
      const toolCalls = Promise.all(
        Object.entries(clients).flatMap(([name, call]) => {
          const id = ids[name]!;
          const tools: [string, Record<string, unknown>][] = [
            ["track_session_start", startArgs({ component_name: `down${name}` })],
            ["track_session_end", endArgs(id)],
            ["track_session_heartbeat", { session_id: id, timestamp: new Date().toISOString() }],
            ["get_session", { session_id: id }],
            ["list_sessions", { status: "active" }],
            ["list_sessions", { component_name: `down${name}`, limit: 5 }],
            ["session_stats", { group_by: "hostname" }],
          ];
          return tools.map(async ([tool, args]) => {
            const began = performance.now();
            const result = await call(tool, args);
            calls.push({ what: `${name} ${tool}`, ms: performance.now() - began, result });
          });
        }),
      );
      // The collector's health check and metrics say so, without the password.
      const health = await fetch(`${c.origin}/healthz`);
      const healthBody = await health.text();
      assert.equal(health.status, 503, healthBody);
      assert.equal(JSON.parse(healthBody).status, "unavailable");
      const metrics = await fetch(`${c.origin}/metrics`);
      texts.healthz = healthBody;
      texts.metrics = await metrics.text();
      assert.equal(metrics.status, 503, texts.metrics);

      // The commands cannot open the store: one line each, exit 1.
      const commands = [
        ["sessions", "list"],
        ["sessions", "show", ids.a!],
        ["stats"],
        ["sessions", "export"],
        ["sessions", "reap"],
        ["sessions", "import", "-"],
      ];
      for (const env of [envA, envB]) {
        const outs = await Promise.all(commands.map((args) => runProgram(args, env, "")));
        outs.forEach((out, i) => {
          const what = commands[i]!.join(" ");
          assert.equal(out.code, 1, `${what}: ${out.stderr}`);
          assert.equal(ourLines(out.stderr).length, 1, `${what}: one line\n${out.stderr}`);
          assert.match(out.stderr, /^session-buddy: cannot open store postgres:\/\//, what);
          texts[`${what} (${env === envA ? "URL" : "variable"})`] = out.stdout + out.stderr;
        });
      }

      await toolCalls;
      for (const { what, ms, result } of calls) {
        assert.equal(result.status, "error", `${what}: ${JSON.stringify(result)}`);
        assert.match(
          String(result.error),
          /(^|: )store error: /,
          `${what}: ${JSON.stringify(result)}`,
        );
        assert.ok(ms < BOUND_MS, `${what}: answered after ${Math.round(ms)} ms (SPEC: within 5 s)`);
        texts[`result ${what}`] = JSON.stringify(result);
      }
      // The resource template too.
      const resource = await a.client.readResource({ uri: `session://${ids.a}` }).then(
        (r) => JSON.stringify(r),
        (e) => String(e),
      );
      texts.resource = resource;

      // A tail that was following when the database went away says so once, and goes on.
      assert.ok(
        await poll(() => ourLines(tailOut.stderr).length > 0, 6000),
        `tail: a line when the store fails\n${tailOut.stderr}`,
      );
      assert.equal(tailStatus, null, `tail kept running\n${tailOut.stderr}`);
      const tailFailed = ourLines(tailOut.stderr);
      assert.equal(tailFailed.length, 1, `tail: one line for the outage\n${tailOut.stderr}`);
      assert.match(tailFailed[0]!, /the store failed .*still following/);

      await cluster.start();
      const upAt = Date.now();
      // The same processes serve again, by themselves.
      for (const [name, call] of Object.entries(clients)) {
        const started = await call(
          "track_session_start",
          startArgs({ component_name: `down${name}` }),
        );
        assert.equal(
          started.status,
          "tracked",
          `${name} after the restart: ${JSON.stringify(started)}`,
        );
        const ended = await call("track_session_end", endArgs(ids[name]!));
        assert.equal(ended.status, "ended", `${name}: ${JSON.stringify(ended)}`);
      }
      const healthy = await fetch(`${c.origin}/healthz`);
      assert.equal(healthy.status, 200, await healthy.text());
      // The tail follows again: it prints a start made after the restart.
      const after = await a.call("track_session_start", startArgs({ component_name: "downtail" }));
      assert.ok(
        await poll(() => tailOut.stdout.includes(String(after.session_id)), 5000),
        `sessions tail follows after the restart:\n${tailOut.stderr}`,
      );
      assert.match(ourLines(tailOut.stderr).at(-1)!, /the store answers again/);

      // A database that hangs (every PostgreSQL process stopped): /healthz still answers, 503
      // once its read has not succeeded within SPEC 8.2's 1 s.
      await cluster.freeze();
      const hungAt = performance.now();
      const hung = await fetch(`${c.origin}/healthz`);
      const hungMs = performance.now() - hungAt;
      texts["healthz, hung"] = await hung.text();
      await cluster.thaw();
      assert.equal(hung.status, 503, texts["healthz, hung"]);
      assert.ok(
        hungMs < 2000,
        `/healthz answered after ${Math.round(hungMs)} ms (SPEC: a 1 s read)`,
      );
      assert.ok(
        await poll(
          async () =>
            (await fetch(`${c.origin}/healthz`).then((r) =>
              r.body?.cancel().then(() => r.status)
            )) === 200,
          5000,
        ),
        "/healthz 200 again once the database answers",
      );
      summary = {
        down_ms: upAt - stoppedAt,
        tool_calls_while_down: calls.length,
        store_error_results: calls.length,
        max_call_ms: Math.round(Math.max(...calls.map((x) => x.ms))),
        commands_one_line_exit_1: commands.length * 2,
        healthz_down: 503,
        healthz_hung_ms: Math.round(hungMs),
        tail: `kept running: ${tailFailed[0]!.replace(/^session-buddy: /, "")}`,
      };
    } finally {
      await http.close().catch(() => {});
      await a.close();
      await b.close();
      const stopped = await c.stop();
      texts["collector stderr"] = c.stderr();
      texts["collector stdout"] = c.stdout();
      assert.equal(stopped.code, 0);
      if (tailStatus === null) {
        try {
          tail.kill("SIGTERM");
        } catch { /* gone */ }
      }
      await tail.status;
      await Promise.all(tailPumps);
      texts["stderr a"] = a.stderr();
      texts["stderr b"] = b.stderr();
      texts["tail stdout"] = tailOut.stdout;
      texts["tail stderr"] = tailOut.stderr;
      for (const log of ["a", "b", "c"]) {
        texts[`log ${log}`] = await Deno.readTextFile(`${dir}/${log}.log`).catch(() => "");
      }
      await cleanup();
    }
    // The servers logged the failures (an ERROR line per failed call), and nowhere the password.
    assert.match(texts["log a"]!, /ERROR - Session start tracking failed: store error: /);
    assert.match(texts["log c"]!, /WARNING - Health check failed: /);
    for (const [where, text] of Object.entries(texts)) {
      for (const form of new Set([password, encodeURIComponent(password)])) {
        assert.ok(!text.includes(form), `${where} holds the password`);
      }
    }
    figure("pg_down_serving", {
      ...summary,
      outputs_scanned: Object.keys(texts).length,
      password_found: 0,
    });
    await database.drop();
  },
);
