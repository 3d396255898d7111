/** How session records are stored. */
import type { SessionRecord } from "../../sessions/session.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Records are stored as UTF-8 JSON so their size is exactly what validation bounded. */
export function encodeRecord(record: SessionRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

/** Reads a stored record back. */
export function decodeRecord(bytes: Uint8Array): SessionRecord {
  return JSON.parse(decoder.decode(bytes)) as SessionRecord;
}
