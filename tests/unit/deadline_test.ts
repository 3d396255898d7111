import assert from "node:assert/strict";
import { withDeadline } from "../../src/deadline.ts";

Deno.test("withDeadline: the work's answer, or the late error after the time", async () => {
  assert.equal(await withDeadline(Promise.resolve(7), 1000, () => new Error("late")), 7);
  assert.equal(await withDeadline(() => Promise.resolve(8), 1000, () => new Error("late")), 8);
  await assert.rejects(
    () => withDeadline(new Promise(() => {}), 10, () => new RangeError("too late")),
    RangeError,
  );
  await assert.rejects(
    () => withDeadline(Promise.reject(new TypeError("own")), 1000, () => new Error("late")),
    TypeError,
  );
});

Deno.test("withDeadline: a function that throws at once leaves no timer behind", async () => {
  await assert.rejects(
    () =>
      withDeadline(
        () => {
          throw new TypeError("at once");
        },
        50,
        () => new Error("late"),
      ),
    TypeError,
  );
  // Deno's sanitizer fails this test if a timer were still pending.
});
