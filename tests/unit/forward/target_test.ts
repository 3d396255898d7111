import assert from "node:assert/strict";
import { bySize } from "../../../src/forward/target.ts";
import type { SessionRecord } from "../../../src/sessions/session.ts";

const record = (i: number, pad: number) =>
  ({ session_id: `s-${i}`, pad: "x".repeat(pad) }) as unknown as SessionRecord;

Deno.test("bySize: a batch is split where its JSON would pass the limit, order kept", () => {
  const records = Array.from({ length: 10 }, (_, i) => record(i, 80));
  const size = JSON.stringify(records[0]).length + 1;
  const runs = bySize(records, size * 3);
  assert.deepEqual(runs.map((r) => r.length), [3, 3, 3, 1]);
  assert.deepEqual(runs.flat(), records);
  assert.deepEqual(bySize(records, 10 * size).map((r) => r.length), [10]);
  assert.deepEqual(bySize([], 100), []);
});

Deno.test("bySize: a record larger than the limit travels alone rather than not at all", () => {
  const runs = bySize([record(1, 10), record(2, 500), record(3, 10)], 100);
  assert.deepEqual(runs.map((r) => r.map((x) => x.session_id)), [["s-1"], ["s-2"], ["s-3"]]);
});
