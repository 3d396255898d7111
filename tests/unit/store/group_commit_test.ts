import assert from "node:assert/strict";
import { byEvent, takeGroup } from "../../../src/store/group_commit.ts";

type Item = { event: { event_id: string }; settled?: boolean; n: number };
const item = (id: string, n: number, settled = false): Item => ({
  event: { event_id: id },
  settled,
  n,
});

Deno.test("takeGroup takes from the front up to max, leaving the rest in order", () => {
  const queue = [1, 2, 3, 4, 5].map((n) => item(`e${n}`, n));
  const group = takeGroup(queue, 3, () => false);
  assert.deepEqual(group.map((i) => i.n), [1, 2, 3]);
  assert.deepEqual(queue.map((i) => i.n), [4, 5]);
});

Deno.test("takeGroup drops answered starts and holds busy ones at the front, in order", () => {
  const queue = [item("a", 1), item("b", 2, true), item("c", 3), item("a", 4), item("d", 5)];
  const group = takeGroup(queue, 2, (i) => i.event.event_id === "c");
  assert.deepEqual(group.map((i) => i.n), [1, 4]);
  assert.deepEqual(queue.map((i) => i.n), [3, 5]);
  // Everything busy: an empty group, nothing lost.
  assert.deepEqual(takeGroup(queue, 5, () => true), []);
  assert.deepEqual(queue.map((i) => i.n), [3, 5]);
});

Deno.test("takeGroup ends the group at the first start that does not fit", () => {
  const queue = [1, 2, 3, 4].map((n) => item(`e${n}`, n));
  const group = takeGroup(queue, 10, () => false, (g) => g.length < 2);
  assert.deepEqual(group.map((i) => i.n), [1, 2]);
  assert.deepEqual(queue.map((i) => i.n), [3, 4]);
  // A first start always fits, so a group is never empty for want of room.
  assert.deepEqual(takeGroup(queue, 10, () => false, () => false).map((i) => i.n), [3]);
});

Deno.test("byEvent keeps each event's starts in the order they came", () => {
  const groups = byEvent([item("a", 1), item("b", 2), item("a", 3)]);
  assert.deepEqual([...groups.keys()], ["a", "b"]);
  assert.deepEqual(groups.get("a")!.map((i) => i.n), [1, 3]);
});
