/**
 * The outbox of `forward` on a real in-memory Deno KV store: every change marks its
 * session, a batch goes on from where the last ended, a marker set again while its batch
 * was under way stays, and a store from before the outbox is marked whole once.
 */
import assert from "node:assert/strict";
import { KvSessionStore } from "../../../../src/store/kv/kv_store.ts";
import { KvOutbox, outboxKey } from "../../../../src/store/kv/outbox.ts";
import {
  parseEndEvent,
  parseStartEvent,
  type SessionStartEvent,
} from "../../../../src/sessions/events.ts";
import { endArgs, startArgs } from "../../../helpers/server.ts";

function event(overrides: Record<string, unknown> = {}): SessionStartEvent {
  const parsed = parseStartEvent(startArgs(overrides));
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

/** Starts `n` sessions a second apart; their ids, oldest first. */
async function started(store: KvSessionStore, n: number, at = Date.now()): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const timestamp = new Date(Date.parse("2026-05-01T00:00:00Z") + i * 1000).toISOString();
    const out = await store.start(event({ timestamp }), null, new Date(at + i));
    assert.equal(out.kind, "tracked");
    if (out.kind === "tracked") ids.push(out.record.session_id);
  }
  return ids;
}

Deno.test("outbox: starts, ends and heartbeats mark their session; the oldest change is kept", async () => {
  const kv = await Deno.openKv(":memory:");
  const store = new KvSessionStore(kv);
  const outbox = new KvOutbox(kv);
  try {
    const [a, b] = await started(store, 2, 1_000_000);
    assert.deepEqual(await outbox.waiting(), { sessions: 2, oldestAt: 1_000_000 });
    const batch = await outbox.next(10);
    assert.deepEqual(batch.map((w) => w.sessionId), [a, b]);
    assert.equal(batch[0]!.record?.session_id, a);
    assert.equal(await outbox.settle(batch), 2);
    assert.deepEqual(await outbox.waiting(), { sessions: 0, oldestAt: null });

    await store.heartbeat(a!, new Date(2_000_000));
    const end = parseEndEvent(endArgs(a!));
    assert.ok(end.ok);
    await store.end(end.value, "client", new Date(3_000_000));
    // The heartbeat's change is the oldest not yet forwarded; the end does not hide it.
    assert.deepEqual(await outbox.waiting(), { sessions: 1, oldestAt: 2_000_000 });
    const [waiting] = await outbox.next(10);
    assert.equal(waiting!.record?.status, "ended");
  } finally {
    await store.close();
    kv.close();
  }
});

Deno.test("outbox: a marker set again while its batch was under way is not settled", async () => {
  const kv = await Deno.openKv(":memory:");
  const store = new KvSessionStore(kv);
  const outbox = new KvOutbox(kv);
  try {
    const ids = await started(store, 12);
    const batch = await outbox.next(12);
    // A minute on: its last-seen differs from the one the batch read, whatever the clock does.
    await store.heartbeat(ids[3]!, new Date(Date.now() + 60_000));
    assert.equal(await outbox.settle(batch), 11);
    const left = await outbox.next(12);
    assert.deepEqual(left.map((w) => w.sessionId), [ids[3]]);
    assert.notEqual(left[0]!.record?.last_seen_at, batch[3]!.record?.last_seen_at);
  } finally {
    await store.close();
    kv.close();
  }
});

Deno.test("outbox: batches go on after the last one and wrap round, so no session starves", async () => {
  const kv = await Deno.openKv(":memory:");
  const store = new KvSessionStore(kv);
  const outbox = new KvOutbox(kv);
  try {
    const ids = await started(store, 5);
    assert.deepEqual((await outbox.next(2)).map((w) => w.sessionId), ids.slice(0, 2));
    assert.deepEqual((await outbox.next(2)).map((w) => w.sessionId), ids.slice(2, 4));
    // Nothing settled: the next batch takes the last one and wraps to the first.
    assert.deepEqual((await outbox.next(2)).map((w) => w.sessionId), [ids[4], ids[0]]);
  } finally {
    await store.close();
    kv.close();
  }
});

Deno.test("outbox: markAll marks only the sessions of a store written before the outbox", async () => {
  const kv = await Deno.openKv(":memory:");
  const store = new KvSessionStore(kv);
  const outbox = new KvOutbox(kv);
  try {
    const ids = await started(store, 13, 5_000);
    // As a store written before the outbox: no markers but one.
    for (const id of ids.slice(1)) await kv.delete(outboxKey(id));
    assert.equal(await outbox.markAll(9_000), 12);
    const waiting = await outbox.waiting();
    assert.deepEqual(waiting, { sessions: 13, oldestAt: 5_000 });
    assert.equal(await outbox.markAll(10_000), 0);
  } finally {
    await store.close();
    kv.close();
  }
});
