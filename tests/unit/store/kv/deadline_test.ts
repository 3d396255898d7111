import assert from "node:assert/strict";
import { DeadlineKv, DeadlineStore, StoreTimeoutError } from "../../../../src/store/kv/deadline.ts";
import { StoreError } from "../../../../src/store/errors.ts";
import type { SessionStore } from "../../../../src/store/port.ts";

const never = () => new Promise<never>(() => {});

/** A store whose start and check never answer; its reads count and answer at once. */
function slowStore() {
  let reads = 0;
  const store = {
    start: never,
    check: never,
    get: (_id: string) => (reads++, Promise.resolve(null)),
    feedSince: () => Promise.resolve([{ at: 1, sessionId: "s", kind: "start" }]),
    observe: () => {},
    close: () => Promise.resolve(),
  } as unknown as SessionStore;
  return { store, reads: () => reads };
}

Deno.test("DeadlineStore fails a call that does not answer in its time, as a timeout", async () => {
  const store = new DeadlineStore(slowStore().store, 50);
  for (
    const [call, what] of [[() => store.start(null!, null, new Date()), "a start"], [
      () => store.check(),
      "a read",
    ]] as const
  ) {
    await assert.rejects(call, (error: Error) => {
      assert.ok(error instanceof StoreTimeoutError);
      assert.ok(error instanceof StoreError && error.kind === "timeout");
      assert.equal(error.message, `the store did not answer ${what} within 0.05 s`);
      return true;
    });
  }
});

Deno.test("DeadlineStore passes answers through to the store", async () => {
  const slow = slowStore();
  const store = new DeadlineStore(slow.store, 1000);
  assert.equal(await store.get("a"), null);
  assert.equal(slow.reads(), 1);
  assert.deepEqual(await store.feedSince(0), [{ at: 1, sessionId: "s", kind: "start" }]);
});

Deno.test("DeadlineKv holds reads, listings and commits of a KV handle to the deadline", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const held = new DeadlineKv(kv, 1000);
    assert.ok((await held.atomic().set(["a"], 1).commit()).ok);
    assert.equal((await held.get<number>(["a"])).value, 1);
    assert.equal((await held.getMany<[number]>([["a"]]))[0].value, 1);
    const listed = [];
    for await (const entry of held.list({ prefix: [] })) listed.push(entry.key);
    assert.deepEqual(listed, [["a"]]);
    // A handle that never answers: each kind of call times out with its own wording.
    const stuck = new DeadlineKv({
      get: never,
      getMany: never,
      atomic: () => ({ commit: never }),
      list: () => ({ next: never }),
    } as unknown as Deno.Kv, 20);
    await assert.rejects(() => stuck.get(["a"]), /a read within 0.02 s/);
    await assert.rejects(() => stuck.atomic().commit(), /a commit within 0.02 s/);
    await assert.rejects(() => stuck.list({ prefix: [] }).next(), /a listing within 0.02 s/);
  } finally {
    kv.close();
  }
});
