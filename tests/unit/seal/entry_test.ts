import assert from "node:assert/strict";
import { Chain, entryHash, GENESIS, newWriterId, stubOf } from "../../../src/seal/entry.ts";
import { canonicalJson } from "../../../src/sessions/session.ts";
import { record } from "./_history.ts";

Deno.test("entryHash is the same whatever the order of an entry's keys, and ignores h", () => {
  const r = record("web-20261207-101500");
  const a = { v: 1 as const, w: "w1", s: 1, p: GENESIS, at: 5, k: "start" as const, id: "x", r };
  const reversed = Object.fromEntries(Object.entries(a).reverse()) as typeof a;
  const shuffledRecord = Object.fromEntries(Object.entries(r).reverse()) as typeof r;
  assert.equal(entryHash(a), entryHash(reversed));
  assert.equal(entryHash(a), entryHash({ ...a, r: shuffledRecord }));
  assert.equal(entryHash(a), entryHash({ ...a, h: "f".repeat(64) }));
  assert.notEqual(entryHash(a), entryHash({ ...a, at: 6 }));
  assert.match(entryHash(a), /^[0-9a-f]{64}$/);
  assert.equal(canonicalJson({ b: 1, a: { d: 1, c: 2 } }), '{"a":{"c":2,"d":1},"b":1}');
});

Deno.test("newWriterId is w and 16 hex characters from the random source", () => {
  assert.equal(newWriterId(() => new Uint8Array([1, 2, 3, 4, 5, 6, 7, 255])), "w01020304050607ff");
  assert.match(newWriterId(), /^w[0-9a-f]{16}$/);
  assert.notEqual(newWriterId(), newWriterId());
  assert.throws(() => newWriterId(() => new Uint8Array(3)), RangeError);
});

Deno.test("Chain.draft links entries from the head without moving it", () => {
  const chain = new Chain("w1", null);
  const r = record("a");
  const drafted = chain.draft([{ k: "start", id: "a", r }, { k: "end", id: "a", r }], 100);
  assert.equal(chain.head, null);
  assert.deepEqual(drafted.map((e) => [e.s, e.at]), [[1, 100], [2, 100]]);
  assert.equal(drafted[0]!.p, GENESIS);
  assert.equal(drafted[1]!.p, drafted[0]!.h);
  for (const e of drafted) assert.equal(e.h, entryHash(e));
  // Drafting again gives the same entries: nothing moved.
  assert.deepEqual(chain.draft([{ k: "start", id: "a", r }], 100)[0], drafted[0]);
  chain.advance(drafted);
  assert.deepEqual(chain.head, { s: 2, h: drafted[1]!.h, at: 100 });
  // A clock that went back still gives entries no earlier than the head.
  const next = chain.draft([{ k: "prune", id: "", pruned: { before: "t", ids: ["a"] } }], 50);
  assert.equal(next[0]!.at, 100);
  assert.equal(next[0]!.s, 3);
  assert.equal(next[0]!.p, drafted[1]!.h);
  assert.equal("r" in next[0]!, false);
});

Deno.test("Chain.advance refuses entries that do not follow its head", () => {
  const chain = new Chain("w1", { s: 4, h: "a".repeat(64), at: 10 });
  const r = record("a");
  const good = chain.draft([{ k: "start", id: "a", r }], 20);
  const other = new Chain("w2", { s: 4, h: "a".repeat(64), at: 10 }).draft([
    { k: "start", id: "a", r },
  ], 20);
  assert.throws(() => chain.advance(other), /Cannot advance chain w1 past entry w2#5/);
  assert.throws(() => chain.advance([{ ...good[0]!, s: 6 }]), /does not follow #4/);
  assert.throws(() => chain.advance([{ ...good[0]!, p: GENESIS }]), RangeError);
  assert.equal(chain.head?.s, 4);
  chain.advance(good);
  assert.equal(chain.head?.s, 5);
  assert.throws(() => chain.advance(good), RangeError);
});

Deno.test("stubOf keeps the link and hash and drops the record", () => {
  const [e] = new Chain("w1", null).draft([{ k: "start", id: "a", r: record("a") }], 1);
  const stub = stubOf(e!);
  assert.deepEqual(stub, {
    v: 1,
    w: "w1",
    s: 1,
    p: GENESIS,
    at: 1,
    k: "start",
    id: "a",
    x: 1,
    h: e!.h,
  });
});
