import assert from "node:assert/strict";
import {
  evolveKey,
  formatVerificationKey,
  keyAt,
  keyIdOf,
  newSealingKey,
  parseVerificationKey,
  sealMac,
} from "../../../src/seal/keys.ts";
import { sha256Hex } from "../../../src/seal/hash.ts";

const K0 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

Deno.test("newSealingKey is 32 random bytes as hex", () => {
  assert.equal(newSealingKey(() => new Uint8Array(32).fill(171)), "ab".repeat(32));
  assert.match(newSealingKey(), /^[0-9a-f]{64}$/);
  assert.notEqual(newSealingKey(), newSealingKey());
  assert.throws(() => newSealingKey(() => new Uint8Array(16)), RangeError);
});

Deno.test("evolveKey is a one-way step and keyAt repeats it", () => {
  const k1 = evolveKey(K0);
  assert.notEqual(k1, K0);
  assert.match(k1, /^[0-9a-f]{64}$/);
  // The documented construction: sha256 of the prefix bytes then the key bytes.
  const prefix = new TextEncoder().encode("session-buddy/seal-evolve/1\n");
  const key = new Uint8Array(K0.match(/../g)!.map((b) => parseInt(b, 16)));
  assert.equal(k1, sha256Hex(new Uint8Array([...prefix, ...key])));
  assert.equal(keyAt(K0, 0), K0);
  assert.equal(keyAt(K0, 3), evolveKey(evolveKey(evolveKey(K0))));
  assert.notEqual(keyAt(K0, 3), keyAt(K0, 2));
  assert.throws(() => keyAt(K0, -1), RangeError);
});

Deno.test("keyIdOf and sealMac are stable hex", () => {
  assert.equal(keyIdOf(K0), sha256Hex(`session-buddy/seal-id/1\n${K0}`).slice(0, 16));
  assert.match(sealMac(K0, "text"), /^[0-9a-f]{64}$/);
  assert.equal(sealMac(K0, "text"), sealMac(K0, "text"));
  assert.notEqual(sealMac(K0, "text"), sealMac(evolveKey(K0), "text"));
});

Deno.test("a verification key round-trips", () => {
  const text = formatVerificationKey(K0);
  assert.equal(text, `sbvk1.${keyIdOf(K0)}.${K0}`);
  assert.deepEqual(parseVerificationKey(text), { keyId: keyIdOf(K0), k0: K0 });
  assert.deepEqual(parseVerificationKey(` ${text}\n`), { keyId: keyIdOf(K0), k0: K0 });
});

Deno.test("parseVerificationKey errors say what is wrong and never quote the key", () => {
  const good = formatVerificationKey(K0);
  const id = keyIdOf(K0);
  const bad = [
    K0,
    `sbvk2.${id}.${K0}`,
    `sbvk1.${K0}`,
    `sbvk1.${id}.${K0}.extra`,
    `sbvk1.${id}.${K0.slice(0, 63)}`,
    `sbvk1.${id}.${K0.toUpperCase()}`,
    `sbvk1.${id.slice(0, 15)}x.${K0}`,
    `sbvk1.${"0".repeat(16)}.${K0}`,
    good.slice(0, -1) + (good.endsWith("f") ? "e" : "f"),
    "",
  ];
  for (const text of bad) {
    assert.throws(() => parseVerificationKey(text), (e: unknown) => {
      assert.ok(e instanceof RangeError, String(e));
      for (let i = 0; i + 8 <= K0.length; i += 4) {
        assert.ok(!e.message.toLowerCase().includes(K0.slice(i, i + 8)), e.message);
      }
      assert.match(e.message, /^Cannot parse the verification key/);
      return true;
    });
  }
  assert.throws(() => parseVerificationKey(`sbvk1.${id}.${K0.slice(0, 63)}`), /63 characters/);
  assert.throws(() => parseVerificationKey(`sbvk1.${"0".repeat(16)}.${K0}`), /does not match/);
});
