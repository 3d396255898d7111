import assert from "node:assert/strict";
import { groupSize, KvSessionStore } from "../../../../src/store/kv/kv_store.ts";
import { MAX_GROUP } from "../../../../src/store/kv/starts.ts";
import { parseStartEvent, type SessionStartEvent } from "../../../../src/sessions/events.ts";
import { startArgs } from "../../../helpers/server.ts";

function event(overrides: Record<string, unknown> = {}): SessionStartEvent {
  const parsed = parseStartEvent(startArgs({ timestamp: "2026-02-06T12:34:56Z", ...overrides }));
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

Deno.test("concurrent starts are grouped yet get distinct ids in order, retries included", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new KvSessionStore(kv);
    const events = Array.from({ length: 60 }, () => event());
    const retried = events.slice(0, 10);
    const conflicting = event({ event_id: events[20]!.event_id, hostname: "elsewhere" });
    const now = new Date();
    const results = await Promise.all([
      ...events.map((e) => store.start(e, null, now)),
      ...retried.map((e) => store.start(e, null, now)),
      store.start(conflicting, null, now),
    ]);
    // A start and its retry race; whichever commits first is tracked, the other replays.
    const idOf = (r: (typeof results)[number]) =>
      r.kind === "tracked" ? r.record.session_id : r.sessionId;
    const ids = results.slice(0, 60).map(idOf);
    for (let i = 0; i < 10; i++) {
      assert.equal(idOf(results[60 + i]!), ids[i]);
      assert.deepEqual(
        [results[i]!.kind, results[60 + i]!.kind].sort(),
        ["replayed", "tracked"],
      );
    }
    assert.equal(results.filter((r) => r.kind === "tracked").length, 60);
    const base = "mahavishnu-20260206-123456";
    assert.deepEqual(
      [...ids].sort(),
      [base, ...Array.from({ length: 59 }, (_, i) => `${base}-${i + 2}`)].sort(),
    );
    assert.deepEqual(results[70], { kind: "conflict", sessionId: ids[20] });
    let stored = 0;
    for await (const _ of kv.list({ prefix: ["session"] })) stored++;
    assert.equal(stored, 60);
    await store.close();
  } finally {
    kv.close();
  }
});

Deno.test("two stores sharing one KV take turns on a base without gaps or clashes", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    // Each store remembers the counters it wrote; the other's writes must invalidate that.
    const stores = [new KvSessionStore(kv), new KvSessionStore(kv)];
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const result = await stores[i % 2 === 0 || i > 8 ? 0 : 1]!.start(event(), null, new Date());
      assert.equal(result.kind, "tracked");
      if (result.kind === "tracked") ids.push(result.record.session_id);
    }
    const base = "mahavishnu-20260206-123456";
    assert.deepEqual(ids, [base, ...Array.from({ length: 11 }, (_, i) => `${base}-${i + 2}`)]);
    await Promise.all(stores.map((s) => s.close()));
  } finally {
    kv.close();
  }
});

Deno.test("a burst from a stale counter, with a stored start retried inside, still commits right", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const [a, b] = [new KvSessionStore(kv), new KvSessionStore(kv)];
    const first = event();
    const now = new Date();
    assert.equal((await a.start(first, null, now)).kind, "tracked");
    // Another writer moves the counter, so what `a` remembers is stale.
    for (let i = 0; i < 2; i++) assert.equal((await b.start(event(), null, now)).kind, "tracked");
    const burst = Array.from({ length: 7 }, () => event());
    const results = await Promise.all([
      ...burst.map((e) => a.start(e, null, now)),
      a.start(first, null, now),
      ...burst.slice(0, 3).map((e) => a.start(e, null, now)),
    ]);
    const base = "mahavishnu-20260206-123456";
    assert.deepEqual(results[7], { kind: "replayed", sessionId: base });
    const ids = results.slice(0, 7).map((r) => r.kind === "tracked" ? r.record.session_id : null);
    assert.deepEqual(
      [...ids].sort(),
      Array.from({ length: 7 }, (_, i) => `${base}-${i + 4}`).sort(),
    );
    // The repeats inside the burst replay the ids their first copies got.
    for (let i = 0; i < 3; i++) {
      const r = results[8 + i]!;
      assert.equal(r.kind, "replayed");
      assert.equal(r.kind === "replayed" && r.sessionId, ids[i]);
    }
    let stored = 0;
    for await (const _ of kv.list({ prefix: ["session"] })) stored++;
    assert.equal(stored, 10);
    await Promise.all([a.close(), b.close()]);
  } finally {
    kv.close();
  }
});

/**
 * A model of `n` calls in flight on one connection: while one group commits, the callers of
 * the group before it send their next calls. Returns the sizes of the groups committed,
 * starting from the worst split (all calls but one together).
 */
function groupTurns(n: number, turns: number): number[] {
  let last = Math.max(1, n - 1);
  let returning = n - 1;
  let queued = 1;
  const sizes = [];
  while (sizes.length < turns) {
    if (queued === 0) {
      // Nothing to commit: the answers go out and the next calls come in.
      queued = returning;
      returning = 0;
      continue;
    }
    const size = groupSize(last, queued, MAX_GROUP);
    sizes.push(size);
    queued += returning - size;
    returning = size;
    last = size;
  }
  return sizes;
}

Deno.test("groupSize: calls in flight settle into two equal groups taking turns", () => {
  assert.deepEqual(groupTurns(1, 5), [1, 1, 1, 1, 1]);
  assert.deepEqual(groupTurns(16, 6), [1, 8, 8, 8, 8, 8]);
  for (const n of [2, 3, 7, 16, 31, 48]) {
    const settled = groupTurns(n, 40).slice(-10);
    for (let i = 1; i < settled.length; i++) {
      assert.equal(settled[i - 1]! + settled[i]!, n, `n=${n}: ${settled}`);
      assert.ok(Math.abs(settled[i - 1]! - settled[i]!) <= 1, `n=${n}: ${settled}`);
    }
  }
  // More than two full groups in flight: every group is full, and nothing waits forever.
  assert.deepEqual(groupTurns(64, 40).slice(-5), [24, 24, 24, 24, 24]);
  assert.equal(groupSize(1, 0, MAX_GROUP), 0);
});

Deno.test("a listing whose signal is aborted stops walking the store and rejects", async () => {
  const kv = await Deno.openKv(":memory:");
  const store = new KvSessionStore(kv);
  try {
    const now = new Date();
    await Promise.all(Array.from({ length: 30 }, () => store.start(event(), null, now)));
    await store.flushIndexes();
    const filter = { status: "all" as const };
    const whole = await store.list(filter, 50, null, now.getTime(), 3600_000);
    assert.equal(whole.sessions.length, 30);
    const cancelled = new AbortController();
    cancelled.abort(new DOMException("cancelled by the client", "AbortError"));
    await assert.rejects(
      () => store.list(filter, 50, null, now.getTime(), 3600_000, undefined, cancelled.signal),
      (error: Error) => error.name === "AbortError",
    );
  } finally {
    await store.close();
    kv.close();
  }
});
