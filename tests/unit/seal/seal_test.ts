import assert from "node:assert/strict";
import { checkSeal, duePeriods, headBefore, makeSeal } from "../../../src/seal/seal.ts";
import { advance, type KeyFile } from "../../../src/seal/key_file.ts";
import { keyIdOf } from "../../../src/seal/keys.ts";

const K0 = "22".repeat(32);
const T0 = Date.UTC(2026, 11, 7, 10, 0, 0);
const P = 15 * 60_000;
const FILE: KeyFile = { keyId: keyIdOf(K0), n: 0, from: T0, key: K0 };

Deno.test("duePeriods counts the periods over by now minus the settle time", () => {
  assert.equal(duePeriods(FILE, P, T0, 5000), 0);
  assert.equal(duePeriods(FILE, P, T0 + P, 5000), 0);
  assert.equal(duePeriods(FILE, P, T0 + P + 5000, 5000), 1);
  assert.equal(duePeriods(FILE, P, T0 + 3 * P + 4999, 5000), 2);
  assert.equal(duePeriods(FILE, P, T0 - P, 0), 0);
});

Deno.test("makeSeal seals period n of the key file and checkSeal accepts it", () => {
  const heads = { w1: { s: 3, h: "a".repeat(64) } };
  const seal = makeSeal(FILE, P, heads, T0 + P + 1000);
  assert.deepEqual({ ...seal, mac: "" }, {
    v: 1,
    key: FILE.keyId,
    n: 0,
    from: T0,
    until: T0 + P,
    heads,
    at: T0 + P + 1000,
    mac: "",
  });
  assert.equal(checkSeal(seal, K0), true);
  const later = makeSeal(advance(FILE, 5, P), P, {}, T0 + 6 * P);
  assert.equal(later.from, T0 + 5 * P);
  assert.equal(checkSeal(later, K0), true);
  // Walking back down after a later seal still works (the cache restarts from k0).
  assert.equal(checkSeal(seal, K0), true);
});

Deno.test("checkSeal fails for any change to a seal, its period number included", () => {
  const file = advance(FILE, 2, P);
  const seal = makeSeal(file, P, { w1: { s: 3, h: "a".repeat(64) } }, T0 + 3 * P);
  assert.equal(checkSeal(seal, K0), true);
  assert.equal(checkSeal({ ...seal, n: 3 }, K0), false);
  assert.equal(checkSeal({ ...seal, n: 1 }, K0), false);
  assert.equal(checkSeal({ ...seal, until: seal.until + 1 }, K0), false);
  assert.equal(checkSeal({ ...seal, heads: { w1: { s: 2, h: "a".repeat(64) } } }, K0), false);
  assert.equal(checkSeal(seal, "33".repeat(32)), false);
});

Deno.test("headBefore takes the newest entry dated before until", () => {
  const entries = [
    { s: 3, h: "c", at: 300 },
    { s: 2, h: "b", at: 200 },
    { s: 1, h: "a", at: 100 },
  ];
  assert.deepEqual(headBefore(entries, 301), { s: 3, h: "c" });
  assert.deepEqual(headBefore(entries, 300), { s: 2, h: "b" });
  assert.equal(headBefore(entries, 100), null);
  assert.equal(headBefore([], 100), null);
});
