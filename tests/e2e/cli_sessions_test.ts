/**
 * SPEC 6: the operator commands that read the store (`sessions list/show/tail/export`,
 * `stats`), `sessions reap`, `token` and `secret`, run as real processes. Each test of a
 * store runs once per store ("[kv] ...", "[postgres] ..."); `token` without a secret and
 * `secret` touch no store and run once.
 */
import { isHistoryLine } from "../../src/cli/history.ts";
import assert from "node:assert/strict";
import { jwtVerify } from "jose";
import {
  DENO_DIR,
  endArgs,
  programCommand,
  ROOT,
  type Running,
  runProgram,
  runtimeEnv,
  SECRET,
  startArgs,
  startServer,
} from "../helpers/server.ts";
import { storeTest, type TestStore, withTestStore } from "../helpers/contract.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const iso = (ms: number) => new Date(ms).toISOString();

/** A server on `store`, closed whatever `fn` does. */
async function withServerOn<T>(
  store: TestStore,
  fn: (server: Running) => Promise<T>,
  env: Record<string, string> = {},
): Promise<T> {
  const server = await startServer({ env: { ...store.env, ...env } });
  try {
    return await fn(server);
  } finally {
    await server.close();
  }
}

async function track(server: Running, overrides: Record<string, unknown>): Promise<string> {
  const result = await server.call("track_session_start", startArgs(overrides));
  assert.equal(result.status, "tracked", JSON.stringify(result));
  return String(result.session_id);
}

async function end(server: Running, id: string, timestamp: string): Promise<void> {
  const result = await server.call("track_session_end", endArgs(id, { timestamp }));
  assert.equal(result.status, "ended", JSON.stringify(result));
}

/** The program, run with a clean environment that names only the store. */
async function cli(store: TestStore, args: string[], env: Record<string, string> = {}) {
  return await runProgram(args, { ...store.env, ...env });
}

function ok(out: { code: number; stdout: string; stderr: string }, what: string): string {
  assert.equal(out.code, 0, `${what}: exit ${out.code}; stderr: ${out.stderr}`);
  return out.stdout;
}

function lines(stdout: string): string[] {
  return stdout.split("\n").filter((l) => l.trim() !== "");
}

function ndjson(stdout: string): Record<string, unknown>[] {
  return lines(stdout).map((l, n) => {
    try {
      return JSON.parse(l);
    } catch {
      throw new assert.AssertionError({ message: `line ${n + 1} is not JSON: ${l}` });
    }
  });
}

/** One seeded session as the test knows it. */
interface Seeded {
  id: string;
  component: string;
  host: string;
  user: string;
  startMs: number;
  duration: number | null;
}

/**
 * Five sessions started in the last hour (so the default 24-hour `stats` range holds them),
 * two of them still active.
 */
async function seed(store: TestStore): Promise<Seeded[]> {
  const now = Math.floor(Date.now() / 1000) * 1000;
  const plan: Omit<Seeded, "id">[] = [
    { component: "alpha", host: "web1", user: "john", startMs: now - 50 * 60_000, duration: 120 },
    { component: "alpha", host: "web2", user: "mary", startMs: now - 40 * 60_000, duration: 45 },
    { component: "beta", host: "web1", user: "john", startMs: now - 30 * 60_000, duration: null },
    { component: "beta", host: "db1", user: "mary", startMs: now - 20 * 60_000, duration: 600 },
    { component: "gamma", host: "db1", user: "john", startMs: now - 10 * 60_000, duration: null },
  ];
  return await withServerOn(store, async (server) => {
    const out: Seeded[] = [];
    for (const p of plan) {
      const id = await track(server, {
        component_name: p.component,
        hostname: p.host,
        user: { username: p.user, home: `/home/${p.user}` },
        timestamp: iso(p.startMs),
      });
      if (p.duration !== null) await end(server, id, iso(p.startMs + p.duration * 1000));
      out.push({ ...p, id });
    }
    return out;
  });
}

function newestFirst(all: Seeded[], keep: (s: Seeded) => boolean = () => true): string[] {
  return all.filter(keep).sort((a, b) => b.startMs - a.startMs).map((s) => s.id);
}

/** Checks that every row has its cell for `header` starting under that header. */
function assertColumn(table: string[], header: string, cells: string[]): void {
  const col = table[0]!.indexOf(header);
  assert.ok(col >= 0, `header has ${header}: ${table[0]}`);
  for (const [n, cell] of cells.entries()) {
    const row = table[n + 1]!;
    assert.ok(
      row.slice(col).startsWith(cell),
      `row ${n + 1}: '${cell}' under ${header} at column ${col}:\n${table.join("\n")}`,
    );
    if (col > 0) assert.equal(row[col - 1], " ", `row ${n + 1}: a space before ${header}`);
  }
}

storeTest("reading commands on a seeded store", async (kind, t) => {
  await withTestStore(kind, async (store) => {
    const all = await seed(store);
    const order = newestFirst(all);

    await t.step("sessions list: an aligned table, one row per session", async () => {
      for (const args of [["sessions", "list"], ["sessions"]]) {
        const table = lines(ok(await cli(store, args), args.join(" ")));
        assert.equal(table.length, 6, `header and five rows:\n${table.join("\n")}`);
        assert.match(table[0]!, /SESSION/);
        assert.match(table[0]!, /STATUS/);
        assert.ok(table[0]!.startsWith("SESSION"), table[0]);
        assertColumn(table, "SESSION", order);
        const statusOf = (id: string) =>
          all.find((s) => s.id === id)!.duration === null ? "active" : "ended";
        assertColumn(table, "STATUS", order.map(statusOf));
        const seededOf = (id: string) => all.find((s) => s.id === id)!;
        if (table[0]!.includes("USER")) {
          assertColumn(table, "USER", order.map((id) => seededOf(id).user));
        }
        if (table[0]!.includes("HOST")) {
          assertColumn(table, "HOST", order.map((id) => seededOf(id).host));
        }
        assert.ok(!table.join("\n").includes("\x1b["), "no colour when NO_COLOR is set");
      }
    });

    await t.step("sessions list --json: NDJSON records, newest first", async () => {
      const records = ndjson(ok(await cli(store, ["sessions", "list", "--json"]), "list --json"));
      assert.deepEqual(records.map((r) => r.session_id), order);
      for (const r of records) {
        assert.ok(["active", "ended"].includes(String(r.status)), JSON.stringify(r));
        assert.equal(typeof r.started_at, "string");
        assert.ok("last_seen_at" in r && "tracked_by" in r && "end_source" in r);
        assert.ok(!("token" in r));
      }
      const s = all[3]!;
      const r = records.find((x) => x.session_id === s.id)!;
      assert.equal(r.started_at, iso(s.startMs));
      assert.equal(r.duration_seconds, s.duration);
      assert.equal(r.end_source, "client");
    });

    await t.step("sessions list: filters and --limit", async () => {
      const cases: [string[], string[]][] = [
        [["--status", "ended"], newestFirst(all, (s) => s.duration !== null)],
        [["--status", "active"], newestFirst(all, (s) => s.duration === null)],
        [["--status", "stale"], []],
        [["--status", "all"], order],
        [["--component", "alpha"], newestFirst(all, (s) => s.component === "alpha")],
        [["--host", "db1"], newestFirst(all, (s) => s.host === "db1")],
        [["--user", "mary"], newestFirst(all, (s) => s.user === "mary")],
        [
          ["--user", "john", "--status", "active", "--host", "web1"],
          newestFirst(
            all,
            (s) => s.user === "john" && s.duration === null && s.host === "web1",
          ),
        ],
        [["--limit", "2"], order.slice(0, 2)],
        [["--since", iso(all[2]!.startMs)], newestFirst(all, (s) => s.startMs >= all[2]!.startMs)],
        [
          ["--since=" + iso(all[2]!.startMs)],
          newestFirst(
            all,
            (s) => s.startMs >= all[2]!.startMs,
          ),
        ],
        [["--component", "nothing"], []],
      ];
      for (const [flags, want] of cases) {
        const out = await cli(store, ["sessions", "list", ...flags, "--json"]);
        const got = ndjson(ok(out, flags.join(" "))).map((r) => r.session_id);
        assert.deepEqual(got, want, flags.join(" "));
      }
      const limited = lines(ok(await cli(store, ["sessions", "list", "--limit", "2"]), "limit 2"));
      assert.equal(limited.filter((l) => order.some((id) => l.startsWith(id))).length, 2);
    });

    await t.step("sessions show ID: human and --json", async () => {
      const s = all[3]!;
      const human = ok(await cli(store, ["sessions", "show", s.id]), "show");
      assert.ok(human.includes(s.id), human);
      assert.ok(human.includes("ended"), human);
      assert.ok(human.includes(s.component), human);
      assert.ok(human.includes(s.host), human);
      assert.ok(human.includes("10m 00s"), `a readable duration: ${human}`);
      assert.ok(!human.trim().startsWith("{"), "human output is not JSON");
      const json = JSON.parse(
        ok(await cli(store, ["sessions", "show", s.id, "--json"]), "show --json"),
      );
      assert.deepEqual(Object.keys(json).sort(), ["error", "session", "status"]);
      assert.equal(json.status, "found");
      assert.equal(json.error, null);
      assert.deepEqual(json.session, await store.readRecord(s.id), "the stored record as it is");
      const active = all[4]!;
      const activeJson = JSON.parse(
        ok(await cli(store, ["sessions", "show", "--json", active.id]), "show active"),
      );
      assert.equal(activeJson.session.status, "active");
      assert.equal(activeJson.session.session_id, active.id);
    });

    await t.step("sessions show unknown-id: exit 1", async () => {
      const out = await cli(store, ["sessions", "show", "unknown-id"]);
      assert.equal(out.code, 1, out.stderr);
      assert.ok(out.stderr.includes("unknown-id"), `stderr names the id: ${out.stderr}`);
      const json = await cli(store, ["sessions", "show", "unknown-id", "--json"]);
      assert.equal(json.code, 1);
      assert.deepEqual(JSON.parse(json.stdout), {
        status: "not_found",
        session: null,
        error: null,
      });
    });

    await t.step("stats --json: the session_stats result object", async () => {
      const result = JSON.parse(ok(await cli(store, ["stats", "--json"]), "stats --json"));
      assert.deepEqual(result, {
        status: "ok",
        groups: [
          {
            key: "alpha",
            active: 0,
            ended: 2,
            stale: 0,
            duration_seconds: { mean: 82.5, p50: 45, p95: 120 },
          },
          {
            key: "beta",
            active: 1,
            ended: 1,
            stale: 0,
            duration_seconds: { mean: 600, p50: 600, p95: 600 },
          },
          { key: "gamma", active: 1, ended: 0, stale: 0, duration_seconds: null },
        ],
        error: null,
      });
      // Only sessions started in the range count; until is exclusive.
      const ranged = JSON.parse(ok(
        await cli(store, [
          "stats",
          "--json",
          "--group-by",
          "username",
          "--since",
          iso(all[1]!.startMs),
          "--until",
          iso(all[4]!.startMs),
        ]),
        "stats range",
      ));
      assert.equal(ranged.status, "ok");
      assert.deepEqual(ranged.groups, [
        { key: "john", active: 1, ended: 0, stale: 0, duration_seconds: null },
        {
          key: "mary",
          active: 0,
          ended: 2,
          stale: 0,
          duration_seconds: { mean: 322.5, p50: 45, p95: 600 },
        },
      ]);
      const hosts = JSON.parse(
        ok(await cli(store, ["stats", "--group-by", "hostname", "--json"]), ""),
      );
      assert.deepEqual(hosts.groups.map((g: { key: string }) => g.key).sort(), [
        "db1",
        "web1",
        "web2",
      ]);
    });

    await t.step("stats: a table with one row per group", async () => {
      const table = lines(ok(await cli(store, ["stats"]), "stats"));
      assert.equal(table.length, 4, table.join("\n"));
      for (const h of ["COMPONENT", "ACTIVE", "ENDED", "STALE"]) {
        assert.match(table[0]!, new RegExp(h));
      }
      assertColumn(table, "COMPONENT", ["alpha", "beta", "gamma"]);
      assertColumn(table, "ENDED", ["2", "1", "0"]);
      assertColumn(table, "ACTIVE", ["0", "1", "1"]);
      assert.ok(table[1]!.includes("1m 22s") && table[1]!.includes("2m 00s"), table[1]);
      assert.ok(table[3]!.includes("-"), `no durations for gamma: ${table[3]}`);
    });

    await t.step("sessions export --since: NDJSON of the sessions started since", async () => {
      const since = all[2]!.startMs;
      const records = ndjson(ok(
        await cli(store, ["sessions", "export", "--since", iso(since)]),
        "export",
      ));
      assert.deepEqual(
        records.map((r) => String(r.session_id)).sort(),
        all.filter((s) => s.startMs >= since).map((s) => s.id).sort(),
      );
      for (const r of records) {
        assert.equal(typeof r.started_at, "string");
        assert.ok(!("token" in r));
      }
      const text = ok(await cli(store, ["sessions", "export"]), "export all");
      // A whole-store export carries its history after the records (SPEC 10).
      assert.equal(ndjson(text).filter((r) => !isHistoryLine(r)).length, 5);
      assert.ok(ndjson(text).some((r) => "entry" in r), text);
      // --json, which gives NDJSON for every other list, is accepted: export is NDJSON already.
      assert.equal(ok(await cli(store, ["sessions", "export", "--json"]), "export --json"), text);
    });

    await t.step("an inverted --since/--until range selects nothing", async () => {
      const range = ["--since", iso(all[4]!.startMs), "--until", iso(all[0]!.startMs)];
      const listed = await cli(store, ["sessions", "list", "--json", ...range]);
      assert.deepEqual(ndjson(ok(listed, "list inverted")), []);
      const stats = await cli(store, ["stats", "--json", ...range]);
      assert.deepEqual(JSON.parse(ok(stats, "stats inverted")).groups, []);
    });

    await t.step("reading commands leave the store as it was", async () => {
      const before = await store.readRecord(all[4]!.id);
      await cli(store, ["sessions", "list"]);
      assert.deepEqual(await store.readRecord(all[4]!.id), before);
    });
  });
});

storeTest(
  "sessions reap ends quiet sessions; a later client end or heartbeat wins",
  async (kind) => {
    await withTestStore(kind, async (store) => {
      const t0 = Date.now();
      const [quiet, revived, closed] = await withServerOn(store, async (server) => {
        const quiet = await track(server, { component_name: "quiet", timestamp: iso(t0) });
        const revived = await track(server, { component_name: "revived", timestamp: iso(t0) });
        const closed = await track(server, { component_name: "closed", timestamp: iso(t0) });
        await end(server, closed, iso(t0 + 500));
        return [quiet, revived, closed];
      });
      const closedBefore = await store.readRecord(closed);

      // Nothing has been quiet for an hour.
      ok(await cli(store, ["sessions", "reap", "--older-than", "1h"]), "reap 1h");
      assert.equal((await store.readRecord(quiet))!.status, "active");
      ok(await cli(store, ["sessions", "reap"]), "reap by the 12h default");
      assert.equal((await store.readRecord(quiet))!.status, "active");

      await sleep(1300);
      const reaped = ndjson(ok(
        await cli(store, ["sessions", "reap", "--older-than", "1s", "--json"]),
        "reap 1s",
      ));
      assert.deepEqual(reaped.map((r) => r.session_id).sort(), [quiet, revived].sort());
      for (const id of [quiet, revived]) {
        const r = (await store.readRecord(id))!;
        assert.equal(r.status, "ended", id);
        assert.equal(r.end_source, "reaper", id);
        assert.equal(typeof r.last_seen_at, "string");
        assert.equal(r.ended_at, r.last_seen_at, `${id}: ended when last seen`);
        assert.equal(
          r.duration_seconds,
          (Date.parse(String(r.last_seen_at)) - Date.parse(String(r.started_at))) / 1000,
        );
      }
      assert.deepEqual(await store.readRecord(closed), closedBefore, "a client's end stays");
      const listed = ndjson(
        ok(await cli(store, ["sessions", "list", "--status", "ended", "--json"]), ""),
      );
      assert.equal(listed.length, 3);

      // Reaping again changes nothing.
      const again = await cli(store, ["sessions", "reap", "--older-than", "1s", "--json"]);
      assert.deepEqual(ndjson(ok(again, "reap again")), []);

      const endAt = iso(Date.now());
      await withServerOn(store, async (server) => {
        await end(server, quiet, endAt);
        const beat = await server.call("track_session_heartbeat", {
          session_id: revived,
          timestamp: new Date().toISOString(),
        });
        assert.deepEqual(beat, { session_id: revived, status: "alive", error: null });
        const got = await server.call("get_session", { session_id: revived });
        assert.equal((got.session as Record<string, unknown>).status, "active");
      });
      const q = (await store.readRecord(quiet))!;
      assert.equal(q.status, "ended");
      assert.equal(q.end_source, "client", "the client's real end replaces the reaper's");
      assert.equal(q.ended_at, endAt);
      assert.deepEqual(q.end_metadata, { exit_reason: "user_exit" });
      const r = (await store.readRecord(revived))!;
      assert.equal(r.status, "active", "a heartbeat brings a reaped session back");
      assert.equal(r.ended_at, null);
      assert.equal(r.end_source, null);
      assert.ok(Date.parse(String(r.last_seen_at)) > t0 + 1300);
      const active = ndjson(
        ok(await cli(store, ["sessions", "list", "--status", "active", "--json"]), ""),
      );
      assert.deepEqual(active.map((x) => x.session_id), [revived]);
    });
  },
);

function decodePart(part: string): Record<string, unknown> {
  const b64 = part.replaceAll("-", "+").replaceAll("_", "/");
  return JSON.parse(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)));
}

storeTest(
  "token --user bob prints a JWT with the seed's claims that the server accepts",
  async (kind) => {
    await withTestStore(kind, async (store) => {
      const before = Math.floor(Date.now() / 1000);
      const out = await runProgram(["token", "--user", "bob"], { SESSION_BUDDY_SECRET: SECRET });
      const token = ok(out, "token").trim();
      const after = Math.floor(Date.now() / 1000);
      assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      assert.equal(lines(out.stdout).length, 1, "only the token on stdout");
      const [header, payload] = token.split(".").map((p, n) => (n < 2 ? decodePart(p) : {}));
      assert.equal(header!.alg, "HS256");
      assert.equal(payload!.user_id, "bob");
      assert.equal(payload!.type, "access");
      assert.equal(payload!.iss, "session-buddy");
      const iat = payload!.iat as number;
      assert.ok(iat >= before - 1 && iat <= after + 1, `iat ${iat} is now`);
      assert.equal((payload!.exp as number) - iat, 86400);
      await jwtVerify(token, new TextEncoder().encode(SECRET), { issuer: "session-buddy" });
      assert.ok(!out.stdout.includes(SECRET) && !out.stderr.includes(SECRET));

      await withServerOn(store, async (server) => {
        const id = await track(server, { token });
        const got = await server.call("get_session", { session_id: id, token });
        assert.equal(got.status, "found");
        assert.equal((got.session as Record<string, unknown>).tracked_by, "bob");
        assert.equal((await server.call("list_sessions", { token })).status, "ok");
      }, { SESSION_BUDDY_SECRET: SECRET });

      const short = ok(
        await runProgram(["token", "--ttl", "1h"], { SESSION_BUDDY_SECRET: SECRET }),
        "token --ttl 1h",
      ).trim();
      const claims = decodePart(short.split(".")[1]!);
      assert.equal(claims.user_id, "admin-shell", "the default user");
      assert.equal((claims.exp as number) - (claims.iat as number), 3600);
    });
  },
);

// No store: runs once.
Deno.test("token without SESSION_BUDDY_SECRET is a usage error", async () => {
  const out = await runProgram(["token"], {});
  assert.equal(out.code, 2, out.stderr);
  assert.equal(out.stdout, "");
  assert.ok(out.stderr.includes("SESSION_BUDDY_SECRET"), out.stderr);
  const short = await runProgram(["token"], { SESSION_BUDDY_SECRET: "too-short" });
  assert.equal(short.code, 2, short.stderr);
  assert.equal(short.stdout, "");
});

// No store: runs once.
Deno.test("secret prints 32 random bytes as base64url, new each time", async () => {
  const first = ok(await runProgram(["secret"]), "secret");
  const second = ok(await runProgram(["secret"]), "secret");
  for (const out of [first, second]) {
    assert.match(out, /^[A-Za-z0-9_-]{43}\n$/);
    const b64 = out.trim().replaceAll("-", "+").replaceAll("_", "/") + "=";
    assert.equal(atob(b64).length, 32);
  }
  assert.notEqual(first, second);
  // A printed secret is long enough to serve with.
  const token = await runProgram(["token"], { SESSION_BUDDY_SECRET: first.trim() });
  assert.equal(token.code, 0, token.stderr);
});

// A store that does not exist: no KV file; a PostgreSQL database without the session_buddy
// schema (reading commands never create or change it).
storeTest(
  "reading commands on a store that does not exist: exit 1, nothing created",
  async (kind) => {
    await withTestStore(kind, async (store, dir) => {
      for (
        const args of [
          ["sessions", "list"],
          ["sessions", "list", "--json"],
          ["sessions"],
          ["sessions", "show", "some-id"],
          ["sessions", "export"],
          ["stats"],
          ["stats", "--json"],
        ]
      ) {
        const out = await cli(store, args);
        assert.equal(out.code, 1, `${args.join(" ")}: ${out.stderr}`);
        assert.ok(!out.stderr.includes("    at "), `no stack trace: ${out.stderr}`);
        assert.equal(await store.exists(), false, `${args.join(" ")} created the store`);
        const viaFlag = await runProgram([...args, "--db", store.db]);
        assert.equal(viaFlag.code, 1, `--db: ${args.join(" ")}: ${viaFlag.stderr}`);
        assert.equal(await store.exists(), false, `--db: ${args.join(" ")} created the store`);
      }
      const left = [];
      for await (const entry of Deno.readDir(dir)) left.push(entry.name);
      assert.deepEqual(left, [], "no file at all was created");
    });
  },
);

storeTest("bad flags and values of the reading commands: exit 2", async (kind) => {
  await withTestStore(kind, async (store) => {
    for (
      const args of [
        ["sessions", "list", "--status", "bogus"],
        ["sessions", "--bogus"],
        ["stats", "--group-by", "nope"],
        ["sessions", "list", "--limit", "0"],
        ["sessions", "list", "--limit", "501"],
        ["sessions", "list", "--since", "yesterday"],
        ["sessions", "show"],
        ["sessions", "frobnicate"],
        ["sessions", "reap", "--older-than", "soon"],
        ["stats", "--status", "active"],
        ["sessions", "list", "--limit"],
      ]
    ) {
      const out = await cli(store, args);
      assert.equal(out.code, 2, `${args.join(" ")}: ${out.stderr}`);
      assert.equal(out.stdout, "", args.join(" "));
      assert.ok(out.stderr.trim().length > 0, args.join(" "));
      assert.ok(!out.stderr.includes("    at "), `no stack trace: ${out.stderr}`);
    }
    assert.equal(await store.exists(), false, "a usage error creates no store");
  });
});

storeTest(
  "sessions tail --json follows starts and ends written by another process",
  async (kind) => {
    await withTestStore(kind, async (store) => {
      const earlier = await withServerOn(
        store,
        (server) => track(server, { component_name: "before" }),
      );
      const command = programCommand(["sessions", "tail", "--json"]);
      const child = new Deno.Command(command.command, {
        args: command.args,
        env: { NO_COLOR: "1", DENO_DIR, ...runtimeEnv(), ...store.env },
        clearEnv: true,
        cwd: ROOT,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const events: Record<string, unknown>[] = [];
      const raw: string[] = [];
      let errText = "";
      const readOut = (async () => {
        let buffer = "";
        for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
          buffer += chunk;
          let nl;
          while ((nl = buffer.indexOf("\n")) >= 0) {
            const line = buffer.slice(0, nl);
            buffer = buffer.slice(nl + 1);
            if (line.trim() === "") {
              continue;
            }
            raw.push(line);
            events.push(JSON.parse(line));
          }
        }
      })();
      const readErr = (async () => {
        for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
          errText += chunk;
        }
      })();
      const kindOf = (e: Record<string, unknown>) => String(e.event ?? e.kind ?? e.type ?? "");
      const idOf = (e: Record<string, unknown>) =>
        String(
          (e.session as Record<string, unknown> | undefined)?.session_id ?? e.session_id ?? "",
        );
      const has = (id: string, kind: string) =>
        events.some((e) => idOf(e) === id && kindOf(e) === kind);
      const waitFor = async (check: () => boolean, ms: number) => {
        const deadline = Date.now() + ms;
        while (!check() && Date.now() < deadline) await sleep(100);
        return check();
      };
      try {
        await sleep(1500);
        await withServerOn(store, async (server) => {
          // Probe until the tail shows it is following (what was there before is history).
          let following = false;
          for (let n = 0; n < 10 && !following; n++) {
            const probe = await track(server, { component_name: `probe${n}` });
            following = await waitFor(() => has(probe, "start"), 1500);
          }
          assert.ok(following, `tail never reported a start; stdout: ${raw.join("\n")} ${errText}`);
          const id = await track(server, { component_name: "followed" });
          await end(server, id, new Date(Date.now() + 1000).toISOString());
          const seen = await waitFor(() => has(id, "start") && has(id, "end"), 15_000);
          assert.ok(seen, `start and end of ${id} in: ${raw.join("\n")}\nstderr: ${errText}`);
          const ended = events.find((e) => idOf(e) === id && kindOf(e) === "end")!;
          assert.equal((ended.session as Record<string, unknown>)?.status ?? "ended", "ended");
        });
        assert.ok(!events.some((e) => idOf(e) === earlier), "history is not news");
      } finally {
        child.kill("SIGTERM");
        const status = await child.status;
        await readOut.catch(() => {});
        await readErr.catch(() => {});
        assert.ok(status.success || status.signal === "SIGTERM", `tail stopped: ${errText}`);
      }
    });
  },
);
