/**
 * SPEC 8.7, `session-buddy forward` (issue #20), as real processes: a host's Deno KV store
 * forwarded to every kind of fleet store, straight (`--to-db`) and through a collector's
 * `/mcp` (`--collector`, the collector on that store). Two hosts' colliding ids are both
 * kept; a heartbeat and an end made after a first forward follow their session under the
 * id the fleet gave it; a collector stopped for 30 s while 8 shells start and end loses
 * nothing; a forwarder SIGKILLed 5 times mid-batch loses nothing and duplicates nothing;
 * a restart resends less than one batch; `--once` against an unreachable collector exits
 * 1 with one line and keeps everything waiting.
 */
import { isHistoryLine } from "../../src/cli/history.ts";
import assert from "node:assert/strict";
import {
  KV_STORE,
  type StoreKind,
  storeTest,
  type TestStore,
  withTestStore,
} from "../helpers/contract.ts";
import { freePort, type HttpRunning, startHttpServer } from "../helpers/http.ts";
import {
  endArgs,
  mintToken,
  programCommand,
  runProgram,
  SECRET,
  spawnPiped,
  startArgs,
  startServer,
} from "../helpers/server.ts";

/** The second two hosts' shells both started in. */
const SAME_SECOND = "2026-03-02T08:15:30.000Z";
const ID = "mahavishnu-20260302-081530";

type Call = (tool: string, args: Record<string, unknown>) => Promise<Record<string, unknown>>;

/** The program on `store`'s variables; asserts exit 0 and returns stdout. */
async function cli(env: Record<string, string>, args: string[], stdin = ""): Promise<string> {
  const out = await runProgram(args, env, stdin);
  assert.equal(out.code, 0, `${args.join(" ")}: exit ${out.code}; stderr: ${out.stderr}`);
  return out.stdout;
}

/** Calls tools on a stdio server (a shell's) on `store`, closed afterwards. */
async function onServer<T>(store: TestStore, fn: (call: Call) => Promise<T>): Promise<T> {
  const server = await startServer({ env: store.env });
  try {
    return await fn((tool, args) => server.call(tool, args));
  } finally {
    await server.close();
  }
}

/** The variables of a forwarder on `host` whose target is `fleet` (its token, password). */
function forwardEnv(host: TestStore, fleet: TestStore | null, token?: string) {
  return {
    ...(fleet?.env ?? {}),
    ...host.env,
    ...(token ? { SESSION_BUDDY_FORWARD_TOKEN: token } : {}),
  };
}

/** A fleet target: the store itself, or a collector serving it with a secret. */
interface Fleet {
  store: TestStore;
  /** `forward`'s target flags. */
  target: string[];
  token?: string;
  collector: HttpRunning | null;
  /** Stops the collector (if any) and starts it again on the same port later. */
  restart?: () => Promise<void>;
}

type Via = "to-db" | "collector";

async function startCollector(store: TestStore, port: number): Promise<HttpRunning> {
  return await startHttpServer({
    env: { ...store.env, SESSION_BUDDY_SECRET: SECRET },
    port,
  });
}

/** Runs `fn` with a fleet on a fresh store of `kind`, reached `via`. */
async function withFleet(
  kind: StoreKind,
  via: Via,
  fn: (fleet: Fleet) => Promise<void>,
): Promise<void> {
  await withTestStore(kind, async (store) => {
    if (via === "to-db") {
      await fn({ store, target: ["--to-db", store.db], collector: null });
      return;
    }
    const port = freePort();
    const fleet: Fleet = {
      store,
      target: ["--collector", `http://127.0.0.1:${port}/mcp`],
      token: await mintToken({ user_id: "forward-host-b" }),
      collector: await startCollector(store, port),
    };
    try {
      await fn(fleet);
    } finally {
      await fleet.collector?.stop();
    }
  });
}

/** `forward --once` from `host` to `fleet`; asserts exit 0. */
async function forwardOnce(host: TestStore, fleet: Fleet, extra: string[] = []): Promise<void> {
  await cli(forwardEnv(host, fleet.store, fleet.token), [
    "forward",
    ...fleet.target,
    "--once",
    ...extra,
  ]);
}

/** `forward --status --json` of `host`. */
async function status(host: TestStore): Promise<Record<string, unknown>> {
  return JSON.parse(await cli(host.env, ["forward", "--status", "--json"]));
}

/** Every record `store` exports, by event id (asserting that none is there twice). */
async function byEvent(store: TestStore): Promise<Map<string, Record<string, unknown>>> {
  const out = await cli(store.env, ["sessions", "export"]);
  const records = new Map<string, Record<string, unknown>>();
  for (const line of out.split("\n").filter((l) => l !== "")) {
    const record = JSON.parse(line);
    // A whole-store export carries its history after the records (SPEC 10).
    if (isHistoryLine(record)) continue;
    assert.ok(!records.has(record.event_id), `event ${record.event_id} stored twice`);
    records.set(record.event_id, record);
  }
  return records;
}

/** The collector's count of imported records with `outcome`, from its /metrics. */
async function imported(collector: HttpRunning, token: string, outcome: string): Promise<number> {
  const res = await fetch(`${collector.origin}/metrics`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  const m = new RegExp(
    `^session_buddy_imported_records_total\\{outcome="${outcome}"\\} (\\d+)$`,
    "m",
  )
    .exec(text);
  return m ? Number(m[1]) : 0;
}

/** NDJSON of `n` exported records of distinct events on host `hostname`, one a second. */
function records(n: number, hostname: string, ended: boolean, from = 0): string {
  const lines: string[] = [];
  const base = Date.parse("2026-05-01T00:00:00.000Z") + from * 1000;
  for (let i = 0; i < n; i++) {
    const start = new Date(base + i * 1000).toISOString();
    const end = new Date(base + i * 1000 + 60_000).toISOString();
    const { token: _token, ...event } = startArgs({ timestamp: start, hostname });
    lines.push(JSON.stringify({
      ...event,
      session_id: `mahavishnu-${start.slice(0, 10).replaceAll("-", "")}-${
        start.slice(11, 19).replaceAll(":", "")
      }`,
      status: ended ? "ended" : "active",
      started_at: start,
      ended_at: ended ? end : null,
      duration_seconds: ended ? 60 : null,
      end_metadata: ended ? { exit_reason: "user_exit" } : null,
      end_source: ended ? "client" : null,
      last_seen_at: start,
      tracked_by: null,
    }));
  }
  return lines.join("\n") + "\n";
}

/** The scenario of colliding ids, a heartbeat and an end, forwarded `via`. */
async function collidingScenario(kind: StoreKind, via: Via): Promise<void> {
  await withFleet(kind, via, (fleet) =>
    withTestStore(KV_STORE, async (host) => {
      const john = startArgs({ timestamp: SAME_SECOND });
      const mallory = startArgs({
        timestamp: SAME_SECOND,
        user: { username: "mallory", home: "/home/mallory" },
        hostname: "host-b",
      });
      await onServer(fleet.store, async (call) => {
        assert.equal((await call("track_session_start", john)).session_id, ID);
      });
      await onServer(host, async (call) => {
        assert.equal((await call("track_session_start", mallory)).session_id, ID);
      });
      assert.equal((await status(host)).waiting_sessions, 1);

      // Both kept: mallory's session takes the next id of the base, her own as its origin.
      await forwardOnce(host, fleet);
      const moved = await fleet.store.readRecord(`${ID}-2`);
      assert.equal(moved?.event_id, mallory.event_id);
      assert.equal(moved?.origin_session_id, ID);
      assert.equal((await fleet.store.readRecord(ID))?.event_id, john.event_id);
      const after = await status(host);
      assert.equal(after.waiting_sessions, 0);
      assert.equal(after.delivered, 1);
      assert.equal(after.last_error, null);

      // A heartbeat and then an end on the host: they follow the session to its fleet id.
      await new Promise((r) => setTimeout(r, 10));
      await onServer(host, async (call) => {
        const beat = await call("track_session_heartbeat", {
          session_id: ID,
          timestamp: new Date().toISOString(),
          token: null,
        });
        assert.equal(beat.status, "alive", JSON.stringify(beat));
      });
      const seen = (await host.readRecord(ID))!.last_seen_at;
      await forwardOnce(host, fleet);
      assert.equal((await fleet.store.readRecord(`${ID}-2`))!.last_seen_at, seen);
      await onServer(host, async (call) => {
        const ended = await call(
          "track_session_end",
          endArgs(ID, { timestamp: "2026-03-02T09:00:00.000Z" }),
        );
        assert.equal(ended.status, "ended", JSON.stringify(ended));
      });
      assert.equal((await status(host)).waiting_sessions, 1);
      await forwardOnce(host, fleet);
      const ended = (await fleet.store.readRecord(`${ID}-2`))!;
      assert.equal(ended.status, "ended");
      assert.equal(ended.end_source, "client");
      assert.equal(ended.ended_at, "2026-03-02T09:00:00.000Z");
      assert.equal(ended.origin_session_id, ID);
      assert.equal((await fleet.store.readRecord(ID))!.status, "active", "john's is untouched");

      // Nothing waits, so nothing is sent: the fleet store stays byte for byte.
      const held = await fleet.store.storedText();
      await forwardOnce(host, fleet);
      assert.deepEqual(await fleet.store.storedText(), held);
      assert.equal((await status(host)).delivered, 3);
      assert.equal((await byEvent(fleet.store)).size, 2);
    }));
}

storeTest(
  "forward --to-db: colliding ids both kept; a heartbeat and an end follow the fleet's id",
  (kind) => collidingScenario(kind, "to-db"),
);

storeTest(
  "forward --collector: colliding ids both kept; a heartbeat and an end follow the fleet's id",
  (kind) => collidingScenario(kind, "collector"),
);

/** A forwarder left running (until SIGTERM or SIGKILL). */
function spawnForwarder(env: Record<string, string>, args: string[]) {
  const child = spawnPiped(programCommand(["forward", ...args]), env);
  void child.stdin.close();
  let stderr = "";
  const pump = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) stderr += decoder.decode(chunk, { stream: true });
  })();
  void child.stdout.cancel();
  return {
    child,
    stderr: () => stderr,
    async stop(signal: Deno.Signal = "SIGTERM") {
      child.kill(signal);
      const status = await child.status;
      await pump.catch(() => {});
      return status;
    },
  };
}

/** Waits until `check` holds, up to `ms`; the last `check` decides. */
async function until(check: () => Promise<boolean>, ms: number, every = 200): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, every));
  }
  return await check();
}

storeTest(
  "forward: a collector stopped for 30 s while 8 shells start and end; all there once after",
  async (kind) => {
    await withFleet(kind, "collector", (fleet) =>
      withTestStore(KV_STORE, async (host) => {
        const forwarder = spawnForwarder(forwardEnv(host, fleet.store, fleet.token), fleet.target);
        try {
          // One shell before the outage, forwarded while the collector is up.
          const first = startArgs({ hostname: "host-b" });
          await onServer(host, (call) => call("track_session_start", first));
          assert.ok(
            await until(
              async () => (await byEvent(fleet.store)).has(first.event_id as string),
              30_000,
            ),
            `forwarded before the outage; forwarder stderr: ${forwarder.stderr()}`,
          );
          const port = fleet.collector!.port;
          await fleet.collector!.stop();
          fleet.collector = null;
          const stoppedAt = Date.now();
          // Eight shells start and end on the host meanwhile; none waits on the network.
          const shells = Array.from({ length: 8 }, () => startArgs({ hostname: "host-b" }));
          await onServer(host, async (call) => {
            for (const shell of shells) {
              const started = await call("track_session_start", shell);
              assert.equal(started.status, "tracked", JSON.stringify(started));
              const ended = await call("track_session_end", endArgs(started.session_id as string));
              assert.equal(ended.status, "ended", JSON.stringify(ended));
            }
          });
          assert.equal((await status(host)).waiting_sessions, 8);
          await new Promise((r) => setTimeout(r, Math.max(0, 30_000 - (Date.now() - stoppedAt))));
          const waiting = await status(host);
          assert.equal(waiting.waiting_sessions, 8);
          assert.match(String(waiting.last_error), /cannot reach/);
          fleet.collector = await startCollector(fleet.store, port);
          // Backoff is capped at 30 s: everything arrives within one more pause.
          assert.ok(
            await until(async () => (await status(host)).waiting_sessions === 0, 40_000),
            `delivered after the outage; forwarder stderr: ${forwarder.stderr()}`,
          );
          const fleetRecords = await byEvent(fleet.store);
          assert.equal(fleetRecords.size, 9);
          for (const shell of shells) {
            const record = fleetRecords.get(shell.event_id as string);
            assert.equal(record?.status, "ended", `shell ${shell.event_id} ended in the fleet`);
            assert.equal(record?.end_source, "client");
          }
          assert.match(forwarder.stderr(), /Forwarding failed, trying again in \d+ s/);
          assert.match(forwarder.stderr(), /works again/);
          assert.doesNotMatch(forwarder.stderr(), new RegExp(fleet.token!));
        } finally {
          const stopped = await forwarder.stop();
          assert.equal(stopped.code, 0, `SIGTERM ends the forwarder with 0: ${forwarder.stderr()}`);
        }
      }));
  },
);

/** How many records each round of the SIGKILL test adds, and the batches they go in. */
const ROUND = 1000;
const KILL_BATCH = 20;
/** How many records the restart test moves, and in batches of how many. */
const MANY = 4000;
const BATCH = 100;

async function killScenario(kind: StoreKind, via: Via): Promise<void> {
  await withFleet(kind, via, (fleet) =>
    withTestStore(KV_STORE, async (host) => {
      const env = forwardEnv(host, fleet.store, fleet.token);
      let midRun = 0;
      for (let kill = 0; kill < 5; kill++) {
        // Each round the host has new sessions to send; the forwarder is killed as soon as
        // some of them reached the fleet, in the middle of its batches.
        await cli(
          host.env,
          ["sessions", "import", "-"],
          records(ROUND, "host-b", true, kill * ROUND),
        );
        const before = (await fleet.store.sessionIds()).length;
        const forwarder = spawnForwarder(env, [
          ...fleet.target,
          "--batch-size",
          String(KILL_BATCH),
        ]);
        const moved = await until(
          async () => (await fleet.store.sessionIds()).length > before,
          60_000,
          10,
        );
        const status = await forwarder.stop("SIGKILL");
        assert.ok(moved, `round ${kill}: the forwarder sent something: ${forwarder.stderr()}`);
        assert.equal(status.signal, "SIGKILL");
        if ((await fleet.store.sessionIds()).length < (kill + 1) * ROUND) midRun++;
      }
      assert.ok(midRun >= 3, `killed with sessions still to send in ${midRun} of 5 rounds`);
      await forwardOnce(host, fleet, ["--batch-size", String(KILL_BATCH)]);
      const fleetRecords = await byEvent(fleet.store);
      assert.equal(fleetRecords.size, 5 * ROUND, "every session arrived, each once");
      for (const record of fleetRecords.values()) {
        assert.equal(record.status, "ended");
        assert.equal(record.origin_session_id, undefined, "no session was taken for another");
      }
      assert.equal((await status(host)).waiting_sessions, 0);
    }));
}

storeTest(
  "forward --to-db: SIGKILLed 5 times mid-batch, no session lost and none twice",
  (kind) => killScenario(kind, "to-db"),
);

storeTest(
  "forward --collector: SIGKILLed 5 times mid-batch, no session lost and none twice",
  (kind) => killScenario(kind, "collector"),
);

Deno.test("forward --collector: a restart resends less than one batch (SIGTERM: nothing)", async () => {
  await withFleet(KV_STORE, "collector", (fleet) =>
    withTestStore(KV_STORE, async (host) => {
      await cli(host.env, ["sessions", "import", "-"], records(MANY, "host-b", false));
      const env = forwardEnv(host, fleet.store, fleet.token);
      const token = fleet.token!;
      const forwarder = spawnForwarder(env, [...fleet.target, "--batch-size", String(BATCH)]);
      await until(
        async () => (await imported(fleet.collector!, token, "written")) >= 3 * BATCH,
        60_000,
        20,
      );
      assert.equal((await forwarder.stop("SIGTERM")).code, 0, forwarder.stderr());
      const written = await imported(fleet.collector!, token, "written");
      assert.ok(written < MANY, `stopped in the middle (${written} of ${MANY} written)`);
      await forwardOnce(host, fleet, ["--batch-size", String(BATCH)]);
      assert.equal(await imported(fleet.collector!, token, "written"), MANY);
      assert.equal(await imported(fleet.collector!, token, "unchanged"), 0, "nothing resent");

      // A SIGKILL: what was under way is sent again, and that is less than one batch more.
      await cli(host.env, ["sessions", "import", "-"], records(MANY, "host-c", false, MANY));
      const killed = spawnForwarder(env, [...fleet.target, "--batch-size", String(BATCH)]);
      await until(
        async () => (await imported(fleet.collector!, token, "written")) >= MANY + 3 * BATCH,
        60_000,
        20,
      );
      await killed.stop("SIGKILL");
      await forwardOnce(host, fleet, ["--batch-size", String(BATCH)]);
      assert.equal(await imported(fleet.collector!, token, "written"), 2 * MANY);
      const resent = await imported(fleet.collector!, token, "unchanged");
      assert.ok(resent <= BATCH, `resent ${resent} records, at most the batch under way`);
      assert.equal((await byEvent(fleet.store)).size, 2 * MANY);
    }));
});

Deno.test("forward --once: an unreachable collector is exit 1 with one line, nothing lost", async () => {
  await withTestStore(KV_STORE, async (host) => {
    await cli(host.env, ["sessions", "import", "-"], records(3, "host-b", false));
    const port = freePort();
    const out = await runProgram(
      ["forward", "--collector", `http://127.0.0.1:${port}/mcp`, "--once"],
      { ...host.env, SESSION_BUDDY_FORWARD_TOKEN: "not-a-real-token-but-secret" },
    );
    assert.equal(out.code, 1, out.stderr);
    const lines = out.stderr.trim().split("\n").filter((l) => l.startsWith("session-buddy: "));
    assert.equal(lines.length, 1, out.stderr);
    assert.match(lines[0]!, /cannot forward: cannot reach http:\/\/127\.0\.0\.1:\d+\/mcp/);
    assert.match(lines[0]!, /3 sessions waiting, nothing is lost/);
    assert.doesNotMatch(out.stderr, /not-a-real-token-but-secret/);
    const after = await status(host);
    assert.equal(after.waiting_sessions, 3);
    assert.match(String(after.last_error), /cannot reach/);
    const human = await cli(host.env, ["forward", "--status"]);
    assert.match(human, /^waiting +3 sessions$/m);
    assert.match(human, /^last error +cannot reach/m);
  });
});

Deno.test("forward --collector: a refused token is exit 1 naming it, nothing lost", async () => {
  await withFleet(KV_STORE, "collector", (fleet) =>
    withTestStore(KV_STORE, async (host) => {
      await cli(host.env, ["sessions", "import", "-"], records(2, "host-b", false));
      const out = await runProgram(["forward", ...fleet.target, "--once"], {
        ...host.env,
        SESSION_BUDDY_FORWARD_TOKEN: "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl",
      });
      assert.equal(out.code, 1, out.stderr);
      assert.match(out.stderr, /Authentication failed/);
      assert.equal((await status(host)).waiting_sessions, 2);
      assert.equal((await byEvent(fleet.store)).size, 0);
    }));
});

Deno.test("forward: usage errors are exit 2 and change nothing", async () => {
  await withTestStore(KV_STORE, async (host) => {
    const cases: [string[], RegExp][] = [
      [["forward"], /forward needs one target/],
      [["forward", "--collector", "http://a/mcp", "--to-db", "/tmp/x.kv"], /one target/],
      [["forward", "--collector", "http://u:p@a/mcp"], /must not carry credentials/],
      [["forward", "--collector", "ftp://a/mcp"], /http:\/\/ or https:\/\//],
      [["forward", "--to-db", "/tmp/x.kv", "--batch-size", "0"], /invalid --batch-size/],
      [["forward", "--to-db", "/tmp/x.kv", "--forward-token-file", "/t"], /is for --collector/],
      [["forward", "--status", "--once"], /does not take --once/],
      [["forward", "--to-db", "postgres:/x"], /invalid --to-db|unknown kind of store/],
      [["forward", "--to-db", "/tmp/x.kv", "extra"], /unexpected argument 'extra'/],
    ];
    for (const [args, message] of cases) {
      const out = await runProgram(args, host.env);
      assert.equal(out.code, 2, `${args.join(" ")}: ${out.stderr}`);
      assert.match(out.stderr, message, args.join(" "));
      assert.doesNotMatch(out.stderr, /u:p@/);
    }
    const pg = await runProgram(["forward", "--to-db", "/tmp/x.kv"], {
      ...host.env,
      SESSION_BUDDY_DB: "postgres://u@127.0.0.1:1/db",
    });
    assert.equal(pg.code, 2);
    assert.match(pg.stderr, /forward sends a Deno KV store's sessions/);
    assert.equal(await host.exists(), false, "no usage error created the store");
  });
});

Deno.test("forward: a host's /metrics shows what waits once it is forwarded from", async () => {
  await withTestStore(KV_STORE, async (host) => {
    await cli(host.env, ["sessions", "import", "-"], records(4, "host-b", false));
    const scrape = async (server: HttpRunning) =>
      await (await fetch(`${server.origin}/metrics`)).text();
    let server = await startHttpServer({ env: host.env });
    try {
      assert.doesNotMatch(await scrape(server), /session_buddy_forward_/, "never forwarded");
    } finally {
      await server.stop();
    }
    // An unreachable collector: the forwarder has run, four sessions wait.
    const out = await runProgram(
      ["forward", "--collector", `http://127.0.0.1:${freePort()}/mcp`, "--once"],
      host.env,
    );
    assert.equal(out.code, 1);
    server = await startHttpServer({ env: host.env });
    try {
      const text = await scrape(server);
      assert.match(text, /^session_buddy_forward_waiting_sessions 4$/m);
      const age = /^session_buddy_forward_oldest_waiting_age_seconds (\d+)$/m.exec(text);
      assert.ok(age, text);
    } finally {
      await server.stop();
    }
  });
});

storeTest(
  "forward: the fleet's sessions tail shows a forwarded session's start and end",
  async (kind) => {
    await withFleet(kind, "to-db", (fleet) =>
      withTestStore(KV_STORE, async (host) => {
        // A fleet store that exists (tail never creates one): one session of its own.
        await onServer(fleet.store, (call) => call("track_session_start", startArgs()));
        const tail = spawnPiped(programCommand(["sessions", "tail", "--json"]), fleet.store.env);
        void tail.stdin.close();
        const tailErr = new Response(tail.stderr).text();
        const lines: Record<string, unknown>[] = [];
        const reading = (async () => {
          let buffer = "";
          const decoder = new TextDecoder();
          for await (const chunk of tail.stdout) {
            buffer += decoder.decode(chunk, { stream: true });
            for (let cut = buffer.indexOf("\n"); cut >= 0; cut = buffer.indexOf("\n")) {
              lines.push(JSON.parse(buffer.slice(0, cut)));
              buffer = buffer.slice(cut + 1);
            }
          }
        })();
        try {
          // tail says nothing of what was there before it began: give it a first poll.
          await new Promise((r) => setTimeout(r, 1500));
          const shell = startArgs({ hostname: "host-b" });
          await onServer(host, async (call) => {
            const started = await call("track_session_start", shell);
            await forwardOnce(host, fleet);
            await call("track_session_end", endArgs(started.session_id as string));
          });
          await forwardOnce(host, fleet);
          const seen = await until(() => Promise.resolve(lines.length >= 2), 15_000);
          assert.ok(
            seen,
            `${JSON.stringify(lines)}; tail's stderr: ${await Promise.race([
              tailErr,
              "(running)",
            ])}`,
          );
          assert.deepEqual(lines.map((l) => l.event), ["start", "end"]);
          for (const line of lines) {
            assert.equal((line.session as Record<string, unknown>).event_id, shell.event_id);
          }
        } finally {
          try {
            tail.kill("SIGTERM");
          } catch { /* it ended by itself: the assertions above say how */ }
          await tail.status;
          await reading.catch(() => {});
        }
      }));
  },
);
