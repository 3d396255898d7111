import assert from "node:assert/strict";
import { isLockedError, StoreBusyError, withRetry } from "../../../../src/store/kv/retry.ts";

function fakeClock() {
  const sleeps: number[] = [];
  return { sleeps, sleep: (ms: number) => (sleeps.push(ms), Promise.resolve()) };
}

Deno.test("isLockedError: SQLite's locked and busy messages", () => {
  assert.ok(isLockedError(new TypeError("database is locked")));
  assert.ok(isLockedError(new Error("Database is busy")));
  assert.ok(!isLockedError(new Error("unable to open database file")));
  assert.ok(!isLockedError("database is locked"));
});

Deno.test("withRetry: retries locked errors and returns the value", async () => {
  const clock = fakeClock();
  let calls = 0;
  const value = await withRetry(() => {
    calls++;
    if (calls < 4) throw new TypeError("database is locked");
    return Promise.resolve("done");
  }, { sleep: clock.sleep, random: () => 0.5 });
  assert.equal(value, "done");
  assert.equal(calls, 4);
  assert.ok(clock.sleeps.length >= 1 && clock.sleeps.length <= 3, `${clock.sleeps}`);
  for (const ms of clock.sleeps) assert.ok(ms > 0 && ms <= 51, `pause ${ms}`);
});

Deno.test("withRetry: a failed check (undefined) is tried again", async () => {
  const clock = fakeClock();
  let calls = 0;
  const value = await withRetry(
    () => Promise.resolve(++calls < 3 ? undefined : 42),
    { sleep: clock.sleep, random: () => 0 },
  );
  assert.equal(value, 42);
  assert.equal(calls, 3);
});

Deno.test("withRetry: pauses are random, grow, and stay bounded", async () => {
  const clock = fakeClock();
  await assert.rejects(
    withRetry(() => Promise.reject(new TypeError("database is locked")), {
      maxAttempts: 12,
      baseDelayMs: 4,
      sleep: clock.sleep,
      random: () => 1,
    }),
    StoreBusyError,
  );
  assert.ok(clock.sleeps.length >= 10, `${clock.sleeps.length} pauses`);
  for (let i = 1; i < clock.sleeps.length; i++) {
    assert.ok(clock.sleeps[i]! >= clock.sleeps[i - 1]!, `non-decreasing: ${clock.sleeps}`);
  }
  assert.ok(Math.max(...clock.sleeps) <= 51, `capped: ${clock.sleeps}`);
  assert.ok(clock.sleeps.at(-1)! > clock.sleeps[0]!, `grows: ${clock.sleeps}`);

  const zero = fakeClock();
  await assert.rejects(
    withRetry(() => Promise.resolve(undefined), {
      maxAttempts: 5,
      sleep: zero.sleep,
      random: () => 0,
    }),
    StoreBusyError,
  );
  for (const ms of zero.sleeps) assert.ok(ms >= 1, "a pause is never zero");
});

Deno.test("withRetry: StoreBusyError after exactly maxAttempts", async () => {
  const clock = fakeClock();
  let calls = 0;
  const error = await withRetry(() => {
    calls++;
    return Promise.reject(new TypeError("database is locked"));
  }, { maxAttempts: 7, sleep: clock.sleep, random: () => 0.3 }).then(
    () => assert.fail("should have failed"),
    (e) => e,
  );
  assert.ok(error instanceof StoreBusyError);
  assert.equal(error.name, "StoreBusyError");
  assert.match(error.message, /7/);
  assert.equal(calls, 7);
});

Deno.test("withRetry: other errors pass through at once", async () => {
  const clock = fakeClock();
  let calls = 0;
  const boom = new RangeError("value too large");
  await assert.rejects(
    withRetry(() => {
      calls++;
      return Promise.reject(boom);
    }, { sleep: clock.sleep, random: () => 0.5 }),
    (e) => e === boom,
  );
  assert.equal(calls, 1);
  assert.deepEqual(clock.sleeps, []);
});

Deno.test("withRetry: a falsy value other than undefined is a result", async () => {
  assert.equal(await withRetry(() => Promise.resolve(0)), 0);
  assert.equal(await withRetry(() => Promise.resolve(false)), false);
  assert.equal(await withRetry(() => Promise.resolve(null)), null);
});
