import assert from "node:assert/strict";
import { StoreTimeoutError, withCallDeadline } from "../../../../src/store/kv/deadline.ts";

/** A store whose start never answers, with private state behind its other members. */
class Slow {
  #reads = 0;
  #label = "";
  start(): Promise<never> {
    return new Promise(() => {});
  }
  get(id: string): Promise<string> {
    this.#reads++;
    return Promise.resolve(`${this.#label}${id}`);
  }
  reads(): number {
    return this.#reads;
  }
  set label(value: string) {
    this.#label = value;
  }
}

Deno.test("withCallDeadline fails a call that does not answer in its time", async () => {
  const store = withCallDeadline(new Slow(), 50);
  await assert.rejects(() => store.start(), (error: Error) => {
    assert.ok(error instanceof StoreTimeoutError);
    assert.equal(error.message, "the store did not answer a start within 0.05 s");
    return true;
  });
});

Deno.test("withCallDeadline passes answers, other methods and setters through to the store", async () => {
  const store = withCallDeadline(new Slow(), 1000);
  store.label = "id:";
  assert.equal(await store.get("a"), "id:a");
  assert.equal(store.reads(), 1);
});
