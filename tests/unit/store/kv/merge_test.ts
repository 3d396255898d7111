/** Merging an index listing with the positions of sessions not yet indexed. */
import assert from "node:assert/strict";
import fc from "fast-check";
import { comparePositions, mergePositions } from "../../../../src/store/kv/merge.ts";
import type { CursorPosition } from "../../../../src/sessions/query.ts";

async function* listing(positions: CursorPosition[]): AsyncGenerator<CursorPosition> {
  for (const p of positions) yield p;
}

async function collect(it: AsyncIterable<CursorPosition>): Promise<CursorPosition[]> {
  const out = [];
  for await (const p of it) out.push(p);
  return out;
}

const position = fc.record({
  at: fc.integer({ min: 0, max: 20 }),
  id: fc.constantFrom("a", "a-2", "a-10", "b", "mahavishnu-20260206-123456"),
});

Deno.test("mergePositions: the sorted union, each id once, in both directions", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(position, { selector: (p) => `${p.at}|${p.id}`, maxLength: 30 }),
      fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }),
      fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }),
      fc.boolean(),
      async (all, inIndex, inExtra, reverse) => {
        // Ids are unique per session: keep the first position of each id.
        const sessions = all.filter((p, i) => all.findIndex((q) => q.id === p.id) === i);
        const sign = reverse ? -1 : 1;
        const order = (a: CursorPosition, b: CursorPosition) => sign * comparePositions(a, b);
        // Every session is in the index, in the extra list, or in both (indexed meanwhile).
        const indexed = sessions.filter((_, i) => inIndex[i] || !inExtra[i]).sort(order);
        const extra = sessions.filter((_, i) => inExtra[i]);
        const merged = await collect(mergePositions(listing(indexed), extra, reverse));
        assert.deepEqual(merged, [...sessions].sort(order));
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("comparePositions: start time first, then the id as Deno KV orders ASCII", () => {
  assert.ok(comparePositions({ at: 1, id: "z" }, { at: 2, id: "a" }) < 0);
  assert.ok(comparePositions({ at: 2, id: "a-10" }, { at: 2, id: "a-2" }) < 0);
  assert.equal(comparePositions({ at: 2, id: "b" }, { at: 2, id: "b" }), 0);
  assert.ok(comparePositions({ at: 3, id: "a" }, { at: 2, id: "b" }) > 0);
});

Deno.test("positions compare as Deno KV orders the index keys they come from", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const positions = [];
    for (let i = 0; i < 200; i++) {
      const id = `c${i % 3}-20260206-1234${i % 7}${i % 2 ? `-${i}` : ""}`;
      positions.push({ at: 1_700_000_000_000 + (i % 5), id });
      await kv.set(["by_start", positions[i]!.at, id], null);
    }
    const fromKv = (await Array.fromAsync(kv.list({ prefix: ["by_start"] })))
      .map((e) => ({ at: e.key[1] as number, id: e.key[2] as string }));
    const unique = [...new Map(positions.map((p) => [`${p.at}|${p.id}`, p])).values()];
    assert.deepEqual(unique.sort(comparePositions), fromKv);
  } finally {
    kv.close();
  }
});
