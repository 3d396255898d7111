/**
 * SPEC 10 against real stores: a server seals its history, then an intruder edits the
 * store as one would (through Deno KV's own API on the file a local store or a KV Connect
 * server keeps; with SQL on a PostgreSQL database, holding its password; with a text
 * editor's kind of change on an export), and `sessions verify`
 * must name each attack; a clean store, a pruned one, one with 10,000 starts and one whose
 * sealing was SIGKILLed five times verify clean.
 */
import assert from "node:assert/strict";
import {
  Chain,
  type Entry,
  entryHash,
  entryText,
  fromEntryText,
  newWriterId,
} from "../../src/seal/entry.ts";
import { readKeyFile } from "../../src/seal/key_file.ts";
import { makeSeal } from "../../src/seal/seal.ts";
import {
  endArgs,
  mintToken,
  type Running,
  runProgram,
  SECRET,
  startArgs,
  startServer,
} from "../helpers/server.ts";
import { freePort, startHttpServer } from "../helpers/http.ts";
import { type StoreKind, STORES, type TestStore } from "../helpers/contract.ts";
import type { PgDatabase } from "../helpers/pg_database.ts";
import { pgAttacks } from "../helpers/pg_attacks.ts";
import { snapshotTables } from "../helpers/pg_tamper.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Deno KV stores: their history is attacked through the file behind them. */
const KV_KINDS = STORES.filter((k) => k.name === "kv" || k.name === "kv-connect");
/** Every store that keeps a history: PostgreSQL's is attacked with SQL. */
const HISTORY_KINDS = STORES.filter((k) =>
  k.name === "kv" || k.name === "kv-connect" || k.name === "postgres"
);

/** A store with a sealing key, and the verification key `seal init` printed. */
interface Sealed {
  store: TestStore;
  dir: string;
  keyFile: string;
  vk: string;
  env: Record<string, string>;
  ids: string[];
}

/** Creates a sealing key in `dir`; returns its file and verification key. */
async function sealInit(dir: string): Promise<{ keyFile: string; vk: string }> {
  const keyFile = `${dir}/seal.key`;
  const out = await runProgram(["seal", "init", "--key-file", keyFile]);
  assert.equal(out.code, 0, out.stderr);
  const vk = out.stdout.trim();
  assert.match(vk, /^sbvk1\.[0-9a-f]{16}\.[0-9a-f]{64}$/);
  return { keyFile, vk };
}

async function withSealed(
  kind: StoreKind,
  fn: (s: Sealed) => Promise<void>,
  sessions = 6,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "sb-tamper-" });
  const store = await kind.open(dir);
  try {
    const { keyFile, vk } = await sealInit(dir);
    const env = {
      ...store.env,
      HOME: dir,
      SESSION_BUDDY_SEAL_KEY_FILE: keyFile,
      SESSION_BUDDY_SEAL_EVERY: "1s",
    };
    const ids: string[] = [];
    await withServer(env, async (server) => {
      for (let i = 0; i < sessions; i++) {
        const r = await server.call(
          "track_session_start",
          startArgs({ user: { username: `user${i}`, home: `/home/user${i}` } }),
        );
        assert.equal(r.status, "tracked", JSON.stringify(r));
        ids.push(String(r.session_id));
        if (i % 2 === 1) {
          const e = await server.call("track_session_end", endArgs(String(r.session_id)));
          assert.equal(e.status, "ended", JSON.stringify(e));
        }
        await sleep(150);
      }
    });
    await sealAll(env);
    await fn({ store, dir, keyFile, vk, env, ids });
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

async function withServer(env: Record<string, string>, fn: (s: Running) => Promise<void>) {
  const server = await startServer({ env });
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

/**
 * Waits past the settle time, then lets a server seal every period that is over: at least
 * three one-second periods since the key was made, however fast the machine.
 */
async function sealAll(env: Record<string, string>): Promise<void> {
  await sleep(8500);
  await withServer(env, () => Promise.resolve());
}

interface Report {
  ok: boolean;
  entries: number;
  writers: number;
  records: number;
  stubs: number;
  sealed: boolean;
  keys: { key: string; periods: number; checked: boolean }[];
  problems: { kind: string; message: string; session_id?: string; fields?: string[] }[];
}

async function verify(
  env: Record<string, string>,
  args: string[],
): Promise<{ code: number; report: Report; stderr: string }> {
  const out = await runProgram(["sessions", "verify", "--json", ...args], env);
  assert.notEqual(out.stdout.trim(), "", `verify printed nothing; stderr: ${out.stderr}`);
  return { code: out.code, report: JSON.parse(out.stdout), stderr: out.stderr };
}

/** Runs `attack` on the store's file, checks what verify says, then puts everything back. */
async function tampered(
  s: Sealed,
  attack: (kv: Deno.Kv) => Promise<void>,
  expect: (report: Report) => void,
): Promise<void> {
  const kv = await Deno.openKv(s.store.kvBacking!);
  const before: Deno.KvEntry<unknown>[] = [];
  try {
    for await (const e of kv.list({ prefix: [] })) before.push(e);
    await attack(kv);
    const { code, report } = await verify(s.env, ["--verification-key", s.vk]);
    assert.equal(code, 1, `an attack verified: ${JSON.stringify(report)}`);
    assert.equal(report.ok, false);
    expect(report);
    // Restored, it verifies again: what was named was the attack, not the store.
    const now: Deno.KvKey[] = [];
    for await (const e of kv.list({ prefix: [] })) now.push(e.key);
    for (let i = 0; i < now.length; i += 500) {
      const op = kv.atomic();
      for (const key of now.slice(i, i + 500)) op.delete(key);
      assert.ok((await op.commit()).ok);
    }
    for (let i = 0; i < before.length; i += 500) {
      const op = kv.atomic();
      for (const e of before.slice(i, i + 500)) op.set(e.key, e.value);
      assert.ok((await op.commit()).ok);
    }
  } finally {
    kv.close();
  }
  const again = await verify(s.env, ["--verification-key", s.vk]);
  assert.equal(again.code, 0, JSON.stringify(again.report.problems));
}

/** `tampered` on PostgreSQL: the attack is SQL; the tables are put back after it. */
async function pgTampered(
  s: Sealed,
  attack: (db: PgDatabase) => Promise<void>,
  expect: (report: Report) => void,
): Promise<void> {
  const db = s.store.database!;
  const snapshot = await snapshotTables(db);
  await attack(db);
  const { code, report } = await verify(s.env, ["--verification-key", s.vk]);
  assert.equal(code, 1, `an attack verified: ${JSON.stringify(report)}`);
  assert.equal(report.ok, false);
  expect(report);
  // Restored, it verifies again: what was named was the attack, not the store.
  await snapshot.restore();
  const again = await verify(s.env, ["--verification-key", s.vk]);
  assert.equal(again.code, 0, JSON.stringify(again.report.problems));
}

function named(report: Pick<Report, "problems">, kind: string, pattern: RegExp): void {
  const hit = report.problems.find((p) => p.kind === kind && pattern.test(p.message));
  assert.ok(hit, `no ${kind} matching ${pattern} in ${JSON.stringify(report.problems)}`);
}

/** Every entry of the store's own chains, read from the form the store keeps them in. */
async function entries(kv: Deno.Kv): Promise<Deno.KvEntry<Entry>[]> {
  const all: Deno.KvEntry<Entry>[] = [];
  for await (const e of kv.list<string>({ prefix: ["entry"] })) {
    all.push({ ...e, value: fromEntryText(e.value) as unknown as Entry });
  }
  return all;
}

/** The longest chain's entries, in order. */
async function longestChain(kv: Deno.Kv): Promise<Deno.KvEntry<Entry>[]> {
  const by = new Map<string, Deno.KvEntry<Entry>[]>();
  for (const e of await entries(kv)) {
    const list = by.get(e.value.w) ?? [];
    list.push(e);
    by.set(e.value.w, list);
  }
  return [...by.values()].sort((a, b) => b.length - a.length)[0]!;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

for (const kind of HISTORY_KINDS) {
  Deno.test(`[${kind.name}] a sealed store verifies, and without a key says it is unsealed`, async () => {
    await withSealed(kind, async (s) => {
      const sealed = await verify(s.env, ["--verification-key", s.vk]);
      assert.equal(sealed.code, 0, JSON.stringify(sealed.report.problems));
      assert.equal(sealed.report.sealed, true);
      assert.equal(sealed.report.records, 6);
      // Six starts and three ends.
      assert.equal(sealed.report.entries, 9);
      assert.ok(sealed.report.keys[0]!.periods >= 3, JSON.stringify(sealed.report.keys));
      const text = await runProgram(["sessions", "verify", "--verification-key", s.vk], s.env);
      assert.equal(text.code, 0);
      assert.match(text.stdout, /^verified the store: 9 entries/);
      const plain = await runProgram(["sessions", "verify"], s.env);
      assert.equal(plain.code, 0, plain.stderr);
      assert.match(plain.stdout, /unsealed/);
    });
  });

  if (kind.name === "postgres") {
    Deno.test(`[${kind.name}] every attack made with SQL is named by verify`, async () => {
      await withSealed(kind, async (s) => {
        await pgAttacks(
          s,
          (what, attack, expect) =>
            pgTampered(s, attack, expect).catch((error) => {
              throw new Error(`${what}: ${(error as Error).message}`);
            }),
          named,
        );
      });
    });
  } else {
    Deno.test(`[${kind.name}] every attack on the store is named by verify`, async () => {
      await withSealed(kind, async (s) => {
        const victim = s.ids[2]!;
        await t("an edited record", async (kv) => {
          const entry = await kv.get<Uint8Array>(["session", victim]);
          const record = JSON.parse(dec.decode(entry.value!));
          record.user.username = "mallory";
          await kv.set(["session", victim], enc.encode(JSON.stringify(record)));
        }, (r) => {
          named(r, "edited_record", new RegExp(victim));
          assert.ok(r.problems.some((p) => p.fields?.includes("user.username")));
        });
        await t("an edited entry", async (kv) => {
          const start = (await entries(kv)).find((e) => e.value.id === victim)!;
          const edited = structuredClone(start.value);
          edited.r!.hostname = "elsewhere";
          await kv.set(start.key, edited);
        }, (r) => named(r, "edited_entry", new RegExp(victim)));
        await t("a removed entry", async (kv) => {
          const chain = await longestChain(kv);
          await kv.delete(chain[1]!.key);
        }, (r) => named(r, "removed_entry", /#2/));
        await t("a reordered pair", async (kv) => {
          const chain = await longestChain(kv);
          const [a, b] = [chain[1]!, chain[2]!];
          await kv.atomic().set(a.key, entryText(b.value)).set(b.key, entryText(a.value)).commit();
        }, (r) => named(r, "reordered", /#2|#3/));
        await t("a chain cut short", async (kv) => {
          const chain = await longestChain(kv);
          const keep = chain[chain.length - 3]!.value;
          const op = kv.atomic();
          for (const e of chain.slice(-2)) op.delete(e.key);
          // The intruder leaves a head that agrees with what is left.
          op.set(["head", keep.w], { s: keep.s, h: keep.h, at: keep.at });
          await op.commit();
        }, (r) => named(r, "cut_short", /./));
        await t("a missing period", async (kv) => {
          const seals = [];
          for await (const e of kv.list({ prefix: ["seal"] })) seals.push(e);
          assert.ok(seals.length >= 3);
          await kv.delete(seals[1]!.key);
        }, (r) => named(r, "missing_period", /period 1 /));
        await t("a record its entries do not explain", async (kv) => {
          const entry = await kv.get<Uint8Array>(["session", victim]);
          const record = JSON.parse(dec.decode(entry.value!));
          record.session_id = `${victim}-forged`;
          record.event_id = crypto.randomUUID();
          await kv.set(["session", record.session_id], enc.encode(JSON.stringify(record)));
        }, (r) => named(r, "unexplained_record", /-forged/));
        await t("a forged writer's backdated entry", async (kv) => {
          // A chain of its own, no seal touched: the entry claims a period sealed already.
          const file = await readKeyFile(s.keyFile);
          const entry = await kv.get<Uint8Array>(["session", victim]);
          const record = JSON.parse(dec.decode(entry.value!));
          record.session_id = `${victim}-ghost`;
          record.event_id = crypto.randomUUID();
          const chain = new Chain(newWriterId(), null);
          const [forged] = chain.draft(
            [{ k: "start", id: record.session_id, r: record }],
            file.from - 2000,
          );
          await kv.atomic()
            .set(["entry", forged!.w, 1], entryText(forged!))
            .set(["head", forged!.w], { s: 1, h: forged!.h, at: forged!.at })
            .set(["session", record.session_id], enc.encode(JSON.stringify(record)))
            .commit();
        }, (r) => named(r, "unsealed_entry", /-ghost/));
        await t("an entry under another period's key", async (kv) => {
          // Root on the host reads the current key and seals a backdated entry with it.
          const file = await readKeyFile(s.keyFile);
          const entry = await kv.get<Uint8Array>(["session", victim]);
          const record = JSON.parse(dec.decode(entry.value!));
          record.session_id = `${victim}-late`;
          record.event_id = crypto.randomUUID();
          const chain = new Chain(newWriterId(), null);
          const [forged] = chain.draft(
            [{ k: "start", id: record.session_id, r: record }],
            file.from - 3000,
          );
          const seal = makeSeal(file, 1000, { [forged!.w]: { s: 1, h: forged!.h } }, Date.now());
          await kv.atomic()
            .set(["entry", forged!.w, 1], entryText(forged!))
            .set(["head", forged!.w], { s: 1, h: forged!.h, at: forged!.at })
            .set(["session", record.session_id], enc.encode(JSON.stringify(record)))
            .set(["seal", file.keyId, file.n], seal)
            .commit();
        }, (r) => named(r, "wrong_key", /-late/));
        async function t(
          what: string,
          attack: (kv: Deno.Kv) => Promise<void>,
          expect: (r: Report) => void,
        ) {
          try {
            await tampered(s, attack, expect);
          } catch (error) {
            throw new Error(`${what}: ${(error as Error).message}`);
          }
        }
      });
    });
  }

  if (kind.name === "postgres") {
    Deno.test("[postgres] a version-1 database is upgraded: its records are adopted, and it verifies", async () => {
      const dir = await Deno.makeTempDir({ prefix: "sb-tamper-upgrade-" });
      const store = await kind.open();
      try {
        const env = { ...store.env, HOME: dir };
        await withServer(env, async (server) => {
          for (let i = 0; i < 3; i++) {
            const r = await server.call("track_session_start", startArgs({ pid: 300 + i }));
            assert.equal(r.status, "tracked", JSON.stringify(r));
          }
        });
        // Version 1 is version 2 without the history's tables.
        const db = store.database!;
        await db.query(
          `DROP TABLE session_buddy.entries, session_buddy.heads, session_buddy.seals,
             session_buddy.sealed_heads, session_buddy.carried_entries,
             session_buddy.carried_seals, session_buddy.carried_conflicts`,
        );
        await db.query("UPDATE session_buddy.meta SET value = '1' WHERE key = 'schema_version'");
        const early = await runProgram(["sessions", "verify"], env);
        assert.equal(early.code, 1);
        assert.match(early.stderr, /version 1: start a server of this version once/);
        await withServer(env, () => Promise.resolve());
        const version = await db.query("SELECT value FROM session_buddy.meta");
        assert.deepEqual(version, [{ value: "2" }]);
        const rows = await db.query("SELECT writer, entry FROM session_buddy.entries");
        assert.equal(rows.length, 3);
        assert.equal(new Set(rows.map((r) => r.writer)).size, 1);
        assert.ok(rows.every((r) => JSON.parse(String(r.entry)).k === "adopt"));
        const after = await verify(env, []);
        assert.equal(after.code, 0, JSON.stringify(after.report.problems));
        assert.equal(after.report.records, 3);
      } finally {
        await store.close();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    });
  }

  Deno.test(`[${kind.name}] an export verifies offline, and a text edit to it is named`, async () => {
    await withSealed(kind, async (s) => {
      const out = await runProgram(["sessions", "export"], s.env);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /^\{"entry":/m);
      assert.match(out.stdout, /^\{"seal":/m);
      const file = `${s.dir}/export.ndjson`;
      await Deno.writeTextFile(file, out.stdout);
      const clean = await verify({ HOME: s.dir }, ["--verification-key", s.vk, "--file", file]);
      assert.equal(clean.code, 0, JSON.stringify(clean.report.problems));
      assert.equal(clean.report.records, 6);
      // What an editor does: one name changed in one line, nothing else.
      const edited = out.stdout.replace('"username":"user2"', '"username":"mallory"');
      assert.notEqual(edited, out.stdout);
      await Deno.writeTextFile(file, edited);
      const caught = await verify({ HOME: s.dir }, ["--verification-key", s.vk, "--file", file]);
      assert.equal(caught.code, 1);
      named(caught.report, "edited_record", new RegExp(s.ids[2]!));
      // The export imports elsewhere as records only; the history lines are not records.
      const other = await kind.open();
      try {
        const imported = await runProgram(["sessions", "import", "--json"], other.env, out.stdout);
        assert.equal(imported.code, 0, imported.stderr);
        assert.equal(JSON.parse(imported.stdout).written, 6);
        const there = await verify(other.env, []);
        assert.equal(there.code, 0, JSON.stringify(there.report.problems));
      } finally {
        await other.close();
      }
    });
  });

  Deno.test(`[${kind.name}] prune removes old sessions, leaves tombstones, and the store verifies`, async () => {
    await withSealed(kind, async (s) => {
      const ended = s.ids.filter((_, i) => i % 2 === 1);
      const out = await runProgram(
        ["sessions", "prune", "--before", new Date(Date.now() + 60_000).toISOString(), "--json"],
        s.env,
      );
      assert.equal(out.code, 0, out.stderr);
      assert.equal(JSON.parse(out.stdout).removed, ended.length);
      for (const id of ended) assert.equal(await s.store.readRecord(id), null);
      await sealAll(s.env);
      const after = await verify(s.env, ["--verification-key", s.vk]);
      assert.equal(after.code, 0, JSON.stringify(after.report.problems));
      assert.equal(after.report.records, s.ids.length - ended.length);
      assert.ok(after.report.stubs >= ended.length, JSON.stringify(after.report));
      // A pruned session brought back by hand is named.
      const back = (r: Report) => named(r, "unexplained_record", new RegExp(ended[0]!));
      if (s.store.database) {
        await pgTampered(s, async (db) => {
          await db.query(
            `INSERT INTO session_buddy.sessions (session_id, event_id, started_ms,
               component_name, hostname, username, status, last_seen_ms, record)
             VALUES ($1, $2, 0, 'c', 'h', 'u', 'ended', 0, $3)`,
            [ended[0], crypto.randomUUID(), JSON.stringify({ session_id: ended[0] })],
          );
        }, back);
      } else {
        await tampered({ ...s }, async (kv) => {
          const rec = { session_id: ended[0], event_id: crypto.randomUUID() };
          await kv.set(["session", ended[0]!], enc.encode(JSON.stringify(rec)));
        }, back);
      }
    });
  });

  Deno.test(`[${kind.name}] a store sealed through SIGKILLs mid-sealing verifies with no period missing`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "sb-tamper-kill-" });
    const store = await kind.open(dir);
    try {
      const { keyFile, vk } = await sealInit(dir);
      // A key made two hours ago and never used: 7,200 one-second periods are due, which
      // takes a server a while to seal, so there is time to kill it in the middle.
      const file = JSON.parse(await Deno.readTextFile(keyFile));
      file.from -= 2 * 3600_000;
      await Deno.writeTextFile(keyFile, JSON.stringify(file));
      const env = {
        ...store.env,
        HOME: dir,
        SESSION_BUDDY_SEAL_KEY_FILE: keyFile,
        SESSION_BUDDY_SEAL_EVERY: "1s",
      };
      for (let i = 0; i < 5; i++) {
        const server = await startServer({ env });
        const r = await server.call("track_session_start", startArgs({ pid: 100 + i }));
        assert.equal(r.status, "tracked", JSON.stringify(r));
        await sleep(200 + 150 * i);
        Deno.kill(server.pid, "SIGKILL");
        await server.close().catch(() => {});
      }
      const killed = (await readKeyFile(keyFile)).n;
      assert.ok(killed > 0, "the killed servers sealed nothing");
      assert.ok(killed < 7000, `the servers sealed all ${killed} periods before they were killed`);
      // A server left to run catches up; its stop seals what is due by then.
      await withServer(env, async () => {
        for (let i = 0; i < 1200; i++) {
          if ((await readKeyFile(keyFile)).from > Date.now() - 8000) break;
          await sleep(100);
        }
      });
      await sleep(6500);
      await withServer(env, () => Promise.resolve());
      const after = await verify(env, ["--verification-key", vk]);
      assert.equal(after.code, 0, JSON.stringify(after.report.problems.slice(0, 5)));
      assert.equal(after.report.records, 5);
      assert.ok(after.report.keys[0]!.periods > 7000, JSON.stringify(after.report.keys));
    } finally {
      await store.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  });
}

for (const kind of STORES) {
  Deno.test(`[${kind.name}] 10,000 starts from several servers verify clean`, async () => {
    await withSealed(kind, async (s) => {
      const servers = await Promise.all([0, 1].map(() => startServer({ env: s.env })));
      try {
        await Promise.all(servers.map(async (server, n) => {
          for (let i = 0; i < 5000; i += 50) {
            await Promise.all(Array.from({ length: 50 }, async () => {
              const r = await server.call("track_session_start", startArgs({ pid: 1000 + n }));
              assert.equal(r.status, "tracked");
            }));
          }
        }));
      } finally {
        await Promise.all(servers.map((server) => server.close()));
      }
      await sealAll(s.env);
      const report = await verify(s.env, ["--verification-key", s.vk]);
      assert.equal(report.code, 0, JSON.stringify(report.report.problems.slice(0, 5)));
      assert.equal(report.report.records, 10_006);
    }, 6);
  });
}

Deno.test("sealing: usage errors and unusable keys are refused plainly, and no key is echoed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sb-seal-usage-" });
  try {
    const env = { SESSION_BUDDY_DB: `${dir}/s.kv`, HOME: dir };
    const noFile = await runProgram(["seal", "init"], env);
    assert.equal(noFile.code, 2);
    assert.match(noFile.stderr, /--key-file/);
    const secretish = "sbvk1.0123456789abcdef.deadbeef";
    const badKey = await runProgram(["sessions", "verify", "--verification-key", secretish], env);
    assert.equal(badKey.code, 2);
    assert.ok(!badKey.stderr.includes("deadbeef"), badKey.stderr);
    const everyAlone = await runProgram(["serve", "--seal-every", "5m"], env);
    assert.equal(everyAlone.code, 2);
    assert.match(everyAlone.stderr, /--seal-key-file/);
    const missing = await runProgram(["serve", "--seal-key-file", `${dir}/nope.key`], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot use the sealing key/);
    const { keyFile } = await sealInit(dir);
    await Deno.chmod(keyFile, 0o644);
    const open = await runProgram(["serve", "--seal-key-file", keyFile], env);
    assert.equal(open.code, 1);
    assert.match(open.stderr, /chmod 600/);
    const pruneNoBefore = await runProgram(["sessions", "prune"], env);
    assert.equal(pruneNoBefore.code, 2);
    assert.match(pruneNoBefore.stderr, /--before/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (const kind of STORES) {
  Deno.test(`[${kind.name}] forwarded seals reach the fleet, and a host cut short after a forward is caught there`, async () => {
    await withSealed(KV_KINDS[0]!, async (host) => {
      const fleet = await kind.open();
      const port = freePort();
      const collector = await startHttpServer({
        env: { ...fleet.env, HOME: host.dir, SESSION_BUDDY_SECRET: SECRET },
        port,
      });
      try {
        const env = {
          ...host.store.env,
          HOME: host.dir,
          SESSION_BUDDY_FORWARD_TOKEN: await mintToken(),
        };
        const url = `http://127.0.0.1:${port}/mcp`;
        const sent = await runProgram(["forward", "--collector", url, "--once"], env);
        assert.equal(sent.code, 0, sent.stderr);
        // The fleet holds the host's seals: its history verifies under the host's key.
        const there = await verify(fleet.env, ["--verification-key", host.vk]);
        assert.equal(there.code, 0, JSON.stringify(there.report.problems));
        assert.equal(there.report.records, host.ids.length);
        const hostKey = there.report.keys.find((k) => host.vk.includes(k.key));
        assert.ok(hostKey?.checked && hostKey.periods >= 3, JSON.stringify(there.report.keys));
        // Root on the host cuts its chain short; the next forward tells the fleet.
        const kv = await Deno.openKv(host.store.kvBacking!);
        try {
          const chain = await longestChain(kv);
          const keep = chain[chain.length - 3]!.value;
          const op = kv.atomic();
          for (const e of chain.slice(-2)) op.delete(e.key);
          op.set(["head", keep.w], { s: keep.s, h: keep.h, at: keep.at });
          assert.ok((await op.commit()).ok);
        } finally {
          kv.close();
        }
        const again = await runProgram(["forward", "--collector", url, "--once"], env);
        assert.equal(again.code, 0, again.stderr);
        const caught = await verify(fleet.env, ["--verification-key", host.vk]);
        assert.equal(caught.code, 1, JSON.stringify(caught.report));
        named(caught.report, "cut_short", /cut short/);
        // An entry rewritten on the host (its hash too) and the forwarder's position reset,
        // so that it is sent again: the fleet's copy stands, and the difference is named.
        const kv2 = await Deno.openKv(host.store.kvBacking!);
        try {
          const first = (await longestChain(kv2))[0]!;
          const forged = structuredClone(first.value);
          forged.r!.hostname = "elsewhere";
          const { h: _h, ...body } = forged;
          forged.h = entryHash(body);
          assert.ok(
            (await kv2.atomic().set(first.key, entryText(forged)).delete(["forward", "history"])
              .commit()).ok,
          );
        } finally {
          kv2.close();
        }
        const third = await runProgram(["forward", "--collector", url, "--once"], env);
        assert.equal(third.code, 0, third.stderr);
        const rewritten = await verify(fleet.env, ["--verification-key", host.vk]);
        named(rewritten.report, "edited_entry", /arrived again/);
      } finally {
        await collector.stop();
        await fleet.close();
      }
    });
  });
}

Deno.test("[kv] forward --to-db carries the host's seals into the fleet's store", async () => {
  await withSealed(KV_KINDS[0]!, async (host) => {
    const fleet = await KV_KINDS[0]!.open();
    try {
      const moved = await runProgram(["forward", "--to-db", fleet.db, "--once"], {
        ...host.store.env,
        HOME: host.dir,
      });
      assert.equal(moved.code, 0, moved.stderr);
      const report = await verify(fleet.env, ["--verification-key", host.vk]);
      assert.equal(report.code, 0, JSON.stringify(report.report.problems));
      assert.equal(report.report.records, host.ids.length);
      assert.ok(report.report.keys.some((k) => k.checked && k.periods >= 3));
    } finally {
      await fleet.close();
    }
  });
});

for (const kind of STORES) {
  Deno.test(`[${kind.name}] sessions reap --retention prunes what ended before it, and the store verifies`, async () => {
    await withSealed(kind, async (s) => {
      // Sessions 0 and 2 end now with an end two days old: past a one-day retention.
      const recent = s.ids.filter((_, i) => i % 2 === 1);
      await withServer(s.env, async (server) => {
        for (const i of [0, 2]) {
          const r = await server.call(
            "track_session_end",
            endArgs(s.ids[i]!, { timestamp: new Date(Date.now() - 2 * 86400_000).toISOString() }),
          );
          assert.equal(r.status, "ended", JSON.stringify(r));
        }
      });
      const out = await runProgram(["sessions", "reap", "--retention", "1d"], s.env);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /Pruned 2 sessions past retention/);
      for (const i of [0, 2]) assert.equal(await s.store.readRecord(s.ids[i]!), null);
      // Those its clients ended just now stay.
      for (const id of recent) assert.notEqual(await s.store.readRecord(id), null, id);
      const after = await verify(s.env, ["--verification-key", s.vk]);
      assert.equal(after.code, 0, JSON.stringify(after.report.problems));
    });
  });
}
