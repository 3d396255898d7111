/**
 * SHA-256 and HMAC-SHA256 as lowercase hex, synchronous. Servers hash with @noble/hashes:
 * importing it costs a server's start next to nothing, where `node:crypto` cost some 50 ms
 * of every cold start (measured: 85-93 ms against 134-151 ms for a script that imports it),
 * and an entry's hash (some 10 µs) is small beside a commit. The verifier, which hashes a
 * million entries and whose start-up matters little, switches to `node:crypto` (about 3 µs
 * a hash) with {@linkcode useNativeHashing}; both give the same digests.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { hmac } from "@noble/hashes/hmac.js";

const HEX_RE = /^[0-9a-f]*$/;
const encoder = new TextEncoder();

const utf8 = (data: string | Uint8Array) => typeof data === "string" ? encoder.encode(data) : data;

let sha256Impl = (data: string | Uint8Array): string => bytesHex(sha256(utf8(data)));
let hmacImpl = (key: Uint8Array, text: string): string =>
  bytesHex(hmac(sha256, key, encoder.encode(text)));

/** From now on, hashes come from `node:crypto` (loaded here): for hashing a great deal. */
export async function useNativeHashing(): Promise<void> {
  const { createHash, createHmac } = await import("node:crypto");
  sha256Impl = (data) => createHash("sha256").update(data).digest("hex");
  hmacImpl = (key, text) => createHmac("sha256", key).update(text).digest("hex");
}

/** SHA-256 of a UTF-8 string or of bytes, as 64 lowercase hex characters. */
export function sha256Hex(data: string | Uint8Array): string {
  return sha256Impl(data);
}

/** HMAC-SHA256 of a UTF-8 text under a key given as bytes, as 64 lowercase hex characters. */
export function hmacHex(key: Uint8Array, text: string): string {
  return hmacImpl(key, text);
}

/** `n` random bytes from the platform's secure source. */
export function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

/** Whether a value is a string of exactly `length` lowercase hex characters. */
export function isHex(value: unknown, length: number): boolean {
  return typeof value === "string" && value.length === length && HEX_RE.test(value);
}

/** Bytes of an even-length lowercase hex string (the caller has checked it with isHex). */
export function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lowercase hex of bytes. */
export function bytesHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!];
  return out;
}
