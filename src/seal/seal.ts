/**
 * Seals: a MAC under the key of period n over every writer's chain head as of the end
 * of that period. Pure: the clock comes in as `nowMs`.
 */
import { canonicalJson } from "../sessions/session.ts";
import type { Entry } from "./entry.ts";
import { evolveKey, sealMac } from "./keys.ts";
import type { KeyFile } from "./key_file.ts";

/** A sealed period of one key. */
export interface Seal {
  v: 1;
  /** Key id. */
  key: string;
  /** Period number: 0 for the key's first period. */
  n: number;
  /** Period start, epoch ms (inclusive). */
  from: number;
  /** Period end, epoch ms (exclusive). */
  until: number;
  /** Per writer: its last entry with at < until (writers with none omitted). */
  heads: Record<string, { s: number; h: string }>;
  /** When the seal was made. */
  at: number;
  /** sealMac(k_n, canonicalJson(seal without mac)). */
  mac: string;
}

function macOf(seal: Omit<Seal, "mac"> | Seal, keyHex: string): string {
  const { mac: _mac, ...body } = seal as Seal;
  return sealMac(keyHex, canonicalJson(body));
}

/** Seals period `file.n`, which is [file.from, file.from + periodMs), with the heads given. */
export function makeSeal(
  file: KeyFile,
  periodMs: number,
  heads: Seal["heads"],
  nowMs: number,
): Seal {
  if (!Number.isSafeInteger(periodMs) || periodMs <= 0) {
    throw new RangeError(`Cannot seal period ${file.n}: period ${periodMs} ms is not > 0`);
  }
  const body: Omit<Seal, "mac"> = {
    v: 1,
    key: file.keyId,
    n: file.n,
    from: file.from,
    until: file.from + periodMs,
    heads,
    at: nowMs,
  };
  return { ...body, mac: macOf(body, file.key) };
}

/** How many periods, from the key file's next one on, are over by `nowMs - settleMs` (0 if none). */
export function duePeriods(
  file: KeyFile,
  periodMs: number,
  nowMs: number,
  settleMs: number,
): number {
  if (periodMs <= 0) throw new RangeError(`Cannot count due periods of ${periodMs} ms`);
  const over = Math.floor((nowMs - settleMs - file.from) / periodMs);
  return over > 0 ? over : 0;
}

/** The newest entry dated before `until` (entries given newest first), or null if none. */
export function headBefore(
  entriesNewestFirst: Iterable<Pick<Entry, "s" | "h" | "at">>,
  until: number,
): { s: number; h: string } | null {
  for (const e of entriesNewestFirst) {
    if (e.at < until) return { s: e.s, h: e.h };
  }
  return null;
}

// The verifier checks a key's seals in ascending n: each k0's latest key is kept, so the
// next seal evolves from there instead of from k0. A few keys at most are held.
const keyCache = new Map<string, { n: number; key: string }>();
const KEY_CACHE_SIZE = 8;

function periodKey(k0Hex: string, n: number): string {
  let cached = keyCache.get(k0Hex);
  if (cached === undefined || cached.n > n) cached = { n: 0, key: k0Hex };
  let { n: at, key } = cached;
  while (at < n) {
    key = evolveKey(key);
    at += 1;
  }
  keyCache.delete(k0Hex);
  keyCache.set(k0Hex, { n, key });
  if (keyCache.size > KEY_CACHE_SIZE) keyCache.delete(keyCache.keys().next().value!);
  return key;
}

/** Whether a seal's mac is right under the key of its period, derived from k0. */
export function checkSeal(seal: Seal, k0Hex: string): boolean {
  if (!Number.isSafeInteger(seal.n) || seal.n < 0) return false;
  return macOf(seal, periodKey(k0Hex, seal.n)) === seal.mac;
}
