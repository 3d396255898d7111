/**
 * Index keys follow a start's commit in batches: until they are written, every reader
 * still finds the session (from its marker), exactly once, with the right status; a
 * marker left by a process that died is indexed by the next writable open.
 */
import assert from "node:assert/strict";
import { KvSessionStore } from "../../../../src/store/kv/kv_store.ts";
import { openKvStore } from "../../../../src/store/kv/open.ts";
import { INDEX_BATCH } from "../../../../src/store/kv/index_writer.ts";
import { indexKeys, unindexedKey, unindexedOf } from "../../../../src/store/kv/keys.ts";
import { encodeRecord } from "../../../../src/store/kv/records.ts";
import {
  parseEndEvent,
  parseStartEvent,
  type SessionStartEvent,
} from "../../../../src/sessions/events.ts";
import { type SessionRecord, startRecord } from "../../../../src/sessions/session.ts";
import type { SessionFilter } from "../../../../src/sessions/query.ts";
import { endArgs, startArgs, tempDir } from "../../../helpers/server.ts";

const HOUR = 3600 * 1000;

function event(overrides: Record<string, unknown> = {}): SessionStartEvent {
  const parsed = parseStartEvent(startArgs(overrides));
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

async function count(kv: Deno.Kv, prefix: Deno.KvKey): Promise<number> {
  let n = 0;
  for await (const _ of kv.list({ prefix })) n++;
  return n;
}

async function listed(store: KvSessionStore, filter: Partial<SessionFilter> = {}) {
  const page = await store.list({ status: "all", ...filter }, 500, null, Date.now(), 12 * HOUR);
  return page.sessions.map((s) => s.session_id);
}

async function collect(records: AsyncIterable<SessionRecord>): Promise<string[]> {
  const ids = [];
  for await (const r of records) ids.push(r.session_id);
  return ids;
}

/** Runs `fn` on a store over a fresh in-memory KV, then closes both (index keys written). */
async function withMemoryStore(
  fn: (kv: Deno.Kv, store: KvSessionStore) => Promise<void>,
): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  const store = new KvSessionStore(kv);
  try {
    await fn(kv, store);
  } finally {
    await store.close();
    kv.close();
  }
}

async function tracked(store: KvSessionStore, e: SessionStartEvent): Promise<SessionRecord> {
  const result = await store.start(e, null, new Date());
  if (result.kind !== "tracked") throw new Error(`not tracked: ${result.kind}`);
  return result.record;
}

Deno.test("a start is listed before its index keys are written, and once after", async () => {
  await withMemoryStore(async (kv, store) => {
    const t = Date.now();
    const a = await tracked(store, event({ timestamp: new Date(t - 2000).toISOString() }));
    const b = await tracked(
      store,
      event({ timestamp: new Date(t - 1000).toISOString(), component_name: "other" }),
    );
    // Answered after the record's commit; the index keys wait for the batch.
    assert.equal(await count(kv, ["unindexed"]), 2);
    assert.equal(await count(kv, ["by_start"]), 0);
    assert.equal(await count(kv, ["feed"]), 0);
    const readers = async () => ({
      all: await listed(store),
      other: await listed(store, { component_name: "other" }),
      active: await listed(store, { status: "active" }),
      ended: await listed(store, { status: "ended" }),
      range: await collect(store.range(t - 1500, t)),
      reapable: await collect(store.active()),
    });
    const expected = {
      all: [b.session_id, a.session_id],
      other: [b.session_id],
      active: [b.session_id, a.session_id],
      ended: [],
      range: [b.session_id],
      reapable: [a.session_id, b.session_id],
    };
    assert.deepEqual(await readers(), expected);
    await store.flushIndexes();
    assert.equal(await count(kv, ["unindexed"]), 0);
    for (const r of [a, b]) {
      for (const key of indexKeys(r)) assert.ok((await kv.get(key)).versionstamp, `${key}`);
    }
    assert.equal(await count(kv, ["feed"]), 2);
    assert.deepEqual(await readers(), expected);
  });
});

Deno.test("an end before the index commit leaves the ended status key only", async () => {
  await withMemoryStore(async (kv, store) => {
    const r = await tracked(store, event());
    const end = parseEndEvent(endArgs(r.session_id));
    if (!end.ok) throw new Error(end.reason);
    assert.equal((await store.end(end.value)).kind, "ended");
    assert.deepEqual(await listed(store, { status: "ended" }), [r.session_id]);
    assert.deepEqual(await listed(store, { status: "active" }), []);
    await store.flushIndexes();
    assert.equal(await count(kv, ["unindexed"]), 0);
    assert.equal(await count(kv, ["by_status", "active"]), 0);
    assert.equal(await count(kv, ["by_status", "ended"]), 1);
    assert.equal(await count(kv, ["by_start"]), 1);
    assert.deepEqual(await listed(store, { status: "ended" }), [r.session_id]);
    assert.deepEqual(await collect(store.active()), []);
  });
});

Deno.test("many starts at once are indexed in batches, the longest fields included", async () => {
  await withMemoryStore(async (kv, store) => {
    const errors: unknown[] = [];
    store.onIndexError = (error) => errors.push(error);
    const n = 3 * INDEX_BATCH + 5;
    const long = {
      component_name: "c".repeat(64),
      hostname: "h".repeat(253),
      user: { username: "u".repeat(100), home: "/home/u" },
    };
    await Promise.all(Array.from({ length: n }, () => store.start(event(long), null, new Date())));
    await store.flushIndexes();
    assert.deepEqual(errors, []);
    assert.equal(await count(kv, ["unindexed"]), 0);
    for (const index of ["by_start", "by_component", "by_host", "by_user", "by_status"]) {
      assert.equal(await count(kv, [index]), n, index);
    }
    assert.equal((await listed(store, { hostname: "h".repeat(253) })).length, n);
  });
});

Deno.test("close writes what waits, without waiting for the batch timer", async () => {
  const kv = await Deno.openKv(":memory:");
  const store = new KvSessionStore(kv);
  try {
    await tracked(store, event());
    await store.close();
    assert.equal(await count(kv, ["unindexed"]), 0);
    assert.equal(await count(kv, ["by_start"]), 1);
  } finally {
    kv.close();
  }
});

Deno.test("markers a dead process left are indexed by the next writable open", async () => {
  const { dir, cleanup } = await tempDir();
  const path = `${dir}/s.kv`;
  try {
    const now = Date.now();
    // What a process that died right after answering leaves: a record and its marker.
    const orphan = startRecord(event(), "mahavishnu-orphan", null, new Date(now - 60_000));
    const fresh = startRecord(event(), "mahavishnu-fresh", null, new Date(now));
    const kv = await Deno.openKv(path);
    for (const [r, at] of [[orphan, now - 60_000], [fresh, now]] as const) {
      await kv.atomic().set(["session", r.session_id], encodeRecord(r))
        .set(unindexedKey(r.session_id), unindexedOf(r, at)).commit();
    }
    kv.close();

    // A reading command leaves the store as it is, and still lists both.
    const reader = await openKvStore({ kind: "file", path }, { readOnly: true });
    try {
      assert.deepEqual(
        (await listed(reader.kvStore)).sort(),
        ["mahavishnu-fresh", "mahavishnu-orphan"],
      );
      assert.equal(await count(reader.kv, ["unindexed"]), 2);
    } finally {
      await reader.store.close();
    }

    // A writable open indexes the old marker; the fresh one may belong to a live writer.
    const writer = await openKvStore({ kind: "file", path });
    try {
      assert.deepEqual(
        (await Array.fromAsync(writer.kv.list({ prefix: ["unindexed"] }))).map((e) => e.key),
        [unindexedKey("mahavishnu-fresh")],
      );
      for (const key of indexKeys(orphan)) {
        assert.ok((await writer.kv.get(key)).versionstamp, `${key}`);
      }
      const feed = await writer.store.feedSince(0);
      assert.deepEqual(feed, [{ at: now - 60_000, sessionId: "mahavishnu-orphan", kind: "start" }]);
      assert.deepEqual(
        (await listed(writer.kvStore)).sort(),
        ["mahavishnu-fresh", "mahavishnu-orphan"],
      );
      assert.equal(await writer.kvStore.sweep(now + 60_000), 1);
      assert.equal(await count(writer.kv, ["unindexed"]), 0);
    } finally {
      await writer.store.close();
    }
  } finally {
    await cleanup();
  }
});

Deno.test("an index commit that fails is reported, its sessions stay listed and are written later", async () => {
  const real = await Deno.openKv(":memory:");
  let failCommits = false;
  // The real store, except that its commits fail while `failCommits` is set.
  const kv = new Proxy(real, {
    get(target, prop) {
      if (prop !== "atomic") {
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      }
      return () => {
        const op = target.atomic();
        const commit = op.commit.bind(op);
        op.commit = () => failCommits ? Promise.reject(new Error("disk I/O error")) : commit();
        return op;
      };
    },
  });
  const store = new KvSessionStore(kv);
  const errors: string[] = [];
  store.onIndexError = (error) => errors.push(String(error));
  try {
    const r = await tracked(store, event());
    failCommits = true;
    await store.flushIndexes();
    assert.deepEqual(errors, ["Error: disk I/O error"]);
    assert.deepEqual(await listed(store), [r.session_id]);
    assert.equal(await count(real, ["unindexed"]), 1);
    failCommits = false;
    await store.flushIndexes();
    assert.equal(await count(real, ["unindexed"]), 0);
    assert.equal(await count(real, ["by_start"]), 1);
    assert.deepEqual(await listed(store), [r.session_id]);
  } finally {
    await store.close();
    real.close();
  }
});

Deno.test("pages follow each other across indexed and waiting sessions, each session once", async () => {
  await withMemoryStore(async (kv, store) => {
    const t = Date.now() - 60_000;
    const at = (i: number) => ({ timestamp: new Date(t + i * 1000).toISOString() });
    const ids = [];
    for (const i of [0, 2, 4]) ids.push((await tracked(store, event(at(i)))).session_id);
    await store.flushIndexes();
    for (const i of [1, 3]) ids.push((await tracked(store, event(at(i)))).session_id);
    assert.equal(await count(kv, ["unindexed"]), 2);
    const seen: string[] = [];
    let after = null;
    for (let page = 0; page < 5; page++) {
      const { sessions, next } = await store.list({ status: "all" }, 2, after, Date.now(), HOUR);
      seen.push(...sessions.map((s) => s.session_id));
      if (!next) break;
      after = next;
    }
    assert.deepEqual(seen, [ids[2], ids[4], ids[1], ids[3], ids[0]]);
  });
});
