/**
 * Sealing keys, hex strings everywhere. A key moves forward one way each period, so a
 * thief of today's key cannot forge yesterday's seals. No part of a key may reach an
 * error message or a log.
 */
import { bytesHex, hexBytes, hmacHex, isHex, randomBytes, sha256Hex } from "./hash.ts";

const EVOLVE_PREFIX = new TextEncoder().encode("session-buddy/seal-evolve/1\n");
const ID_PREFIX = "session-buddy/seal-id/1\n";
const VK_PREFIX = "sbvk1";

/** A new sealing key k0: 32 random bytes as hex. */
export function newSealingKey(random: () => Uint8Array = () => randomBytes(32)): string {
  const bytes = random();
  if (bytes.length < 32) {
    throw new RangeError(`Cannot make a sealing key from ${bytes.length} random bytes (need 32)`);
  }
  return bytesHex(bytes.subarray(0, 32));
}

function checkKey(keyHex: string, attempted: string): void {
  if (!isHex(keyHex, 64)) {
    throw new RangeError(`Cannot ${attempted}: the key is not 64 lowercase hex characters`);
  }
}

/** One one-way step: SHA-256 of "session-buddy/seal-evolve/1\n" and the key's bytes. */
export function evolveKey(keyHex: string): string {
  checkKey(keyHex, "evolve a sealing key");
  const key = hexBytes(keyHex);
  const data = new Uint8Array(EVOLVE_PREFIX.length + key.length);
  data.set(EVOLVE_PREFIX);
  data.set(key, EVOLVE_PREFIX.length);
  return sha256Hex(data);
}

/** The key of period n: k0 evolved n times. */
export function keyAt(k0Hex: string, n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`Cannot take the key of period ${n}: not a whole number >= 0`);
  }
  let key = k0Hex;
  checkKey(key, `take the key of period ${n}`);
  for (let i = 0; i < n; i++) key = evolveKey(key);
  return key;
}

/** The public id of a key: the first 16 hex characters of SHA-256 of a prefix and k0's hex. */
export function keyIdOf(k0Hex: string): string {
  checkKey(k0Hex, "take the id of a sealing key");
  return sha256Hex(ID_PREFIX + k0Hex).slice(0, 16);
}

/** HMAC-SHA256 of a text under a key, as hex. */
export function sealMac(keyHex: string, text: string): string {
  checkKey(keyHex, "compute a seal's mac");
  return hmacHex(hexBytes(keyHex), text);
}

/** The verification key an operator keeps: `sbvk1.<keyId>.<k0Hex>`. */
export function formatVerificationKey(k0Hex: string): string {
  return `${VK_PREFIX}.${keyIdOf(k0Hex)}.${k0Hex}`;
}

/**
 * Parses a verification key into its id and k0; a RangeError says what is wrong without
 * quoting the key material.
 */
export function parseVerificationKey(text: string): { keyId: string; k0: string } {
  if (typeof text !== "string") {
    throw new RangeError(`Cannot parse a verification key from a ${typeof text}`);
  }
  const parts = text.trim().split(".");
  const head = parts[0] ?? "";
  if (head !== VK_PREFIX) {
    // Quote a short wrong prefix only: a long one may be key material pasted alone.
    const found = head.length <= 8 && !/[0-9a-f]{6}/.test(head) ? `, not '${head}'` : "";
    throw new RangeError(
      `Cannot parse the verification key: it must start with '${VK_PREFIX}.'${found} ` +
        `(a key printed by 'session-buddy seal init')`,
    );
  }
  if (parts.length !== 3) {
    throw new RangeError(
      `Cannot parse the verification key: expected 3 parts separated by '.', found ${parts.length}`,
    );
  }
  const [, keyId = "", k0 = ""] = parts;
  if (!isHex(keyId, 16)) {
    throw new RangeError(
      "Cannot parse the verification key: its id (second part) must be 16 lowercase hex characters",
    );
  }
  if (!isHex(k0, 64)) {
    throw new RangeError(
      `Cannot parse the verification key: its key (third part) must be 64 lowercase hex ` +
        `characters, found ${k0.length} characters`,
    );
  }
  if (keyIdOf(k0) !== keyId) {
    throw new RangeError(
      `Cannot parse the verification key: its id does not match its key (a character was lost ` +
        `or changed in copying)`,
    );
  }
  return { keyId, k0 };
}
