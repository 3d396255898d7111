/** Reading stored values that may be anything an intruder wrote as entries and seals. */
import { type Entry, ENTRY_KINDS, type EntryKind, fromEntryText } from "./entry.ts";
import { isHex } from "./hash.ts";
import type { Seal } from "./seal.ts";

const ENTRY_FIELDS = new Set(["v", "w", "s", "p", "at", "k", "id", "r", "pruned", "x", "h"]);
const SEAL_FIELDS = new Set(["v", "key", "n", "from", "until", "heads", "at", "mac"]);
const KINDS = new Set<string>(ENTRY_KINDS);

/** Whether a value is a non-null object that is not an array. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function unexpected(o: Record<string, unknown>, known: Set<string>): string | null {
  for (const k of Object.keys(o)) {
    if (!known.has(k) && o[k] !== undefined) return `it has an unexpected field '${k}'`;
  }
  return null;
}

/** The value as an Entry, or a reason it is not one. */
export function parseEntry(stored: unknown): Entry | string {
  // A store's own form: the hash, then the canonical text (src/seal/entry.ts).
  const value = typeof stored === "string" ? fromEntryText(stored) ?? stored : stored;
  if (!isObject(value)) return `it is not an object but ${describe(value)}`;
  const bad = unexpected(value, ENTRY_FIELDS);
  if (bad !== null) return bad;
  const { v, w, s, p, at, k, id, r, pruned, x, h } = value;
  if (v !== 1) return "its version v is not 1";
  if (typeof w !== "string" || w === "") return "its writer w is not a string";
  if (!Number.isSafeInteger(s) || (s as number) < 1) return "its seq s is not a whole number >= 1";
  if (!isHex(p, 64)) return "its link p is not a sha256 hex";
  if (!Number.isSafeInteger(at)) return "its time at is not epoch ms";
  if (typeof k !== "string" || !KINDS.has(k)) return "its kind k is not an entry kind";
  if (typeof id !== "string") return "its session id is not a string";
  if (!isHex(h, 64)) return "its hash h is not a sha256 hex";
  if (x !== undefined && x !== 1) return "its stub mark x is not 1";
  if (k === "prune") {
    if (r !== undefined) return "it is a prune with a record";
    if (
      !isObject(pruned) || typeof pruned.before !== "string" || !Array.isArray(pruned.ids) ||
      !pruned.ids.every((i) => typeof i === "string") || Object.keys(pruned).length !== 2
    ) {
      return "it is a prune without a valid list of pruned sessions";
    }
  } else {
    if (pruned !== undefined) return `it is a ${k} with a list of pruned sessions`;
    if (x === 1 && r !== undefined) return "it is a stub with a record";
    if (x === undefined && !isObject(r)) return "its record r is missing or not an object";
  }
  return value as unknown as Entry & { k: EntryKind };
}

/** The value as a Seal, or a reason it is not one. */
export function parseSeal(value: unknown): Seal | string {
  if (!isObject(value)) return `it is not an object but ${describe(value)}`;
  const bad = unexpected(value, SEAL_FIELDS);
  if (bad !== null) return bad;
  const { v, key, n, from, until, heads, at, mac } = value;
  if (v !== 1) return "its version v is not 1";
  if (!isHex(key, 16)) return "its key id is not 16 hex characters";
  if (!Number.isSafeInteger(n) || (n as number) < 0) return "its period n is not a whole number";
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(until)) {
    return "its period bounds are not epoch ms";
  }
  if ((until as number) <= (from as number)) return "its period ends before it starts";
  if (!Number.isSafeInteger(at)) return "its time at is not epoch ms";
  if (!isHex(mac, 64)) return "its mac is not a sha256 hex";
  if (!isObject(heads)) return "its heads are not an object";
  for (const head of Object.values(heads)) {
    if (
      !isObject(head) || !Number.isSafeInteger(head.s) || (head.s as number) < 1 ||
      !isHex(head.h, 64)
    ) {
      return "one of its heads is not {s, h}";
    }
  }
  return value as unknown as Seal;
}

/** A head marker {s, h}, or null when the value is not one. */
export function parseHead(value: unknown): { s: number; h: string } | null {
  if (!isObject(value) || !Number.isSafeInteger(value.s) || (value.s as number) < 1) return null;
  if (!isHex(value.h, 64)) return null;
  return { s: value.s as number, h: value.h as string };
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return "bytes";
  return `a ${typeof value}`;
}
