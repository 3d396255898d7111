/** SHA-256 and HMAC-SHA256 as lowercase hex, synchronous (node:crypto). */
import { createHash, createHmac } from "node:crypto";

const HEX_RE = /^[0-9a-f]*$/;

/** SHA-256 of a UTF-8 string or of bytes, as 64 lowercase hex characters. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** HMAC-SHA256 of a UTF-8 text under a key given as bytes, as 64 lowercase hex characters. */
export function hmacHex(key: Uint8Array, text: string): string {
  return createHmac("sha256", key).update(text).digest("hex");
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

/** Lowercase hex of bytes. */
export function bytesHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}
