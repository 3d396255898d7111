/**
 * Entries of the append-only history: each change a store records, hash-chained per
 * writer (SPEC 10). Pure: no clock, no I/O; randomness only through a parameter.
 */
import { canonicalJson, type SessionRecord } from "../sessions/session.ts";
import { bytesHex, randomBytes, sha256Hex } from "./hash.ts";

/** What an entry records: a session started, ended, reaped, revived, imported, adopted, or a prune. */
export type EntryKind = "start" | "end" | "reap" | "revive" | "import" | "adopt" | "prune";

/** Every entry kind, in a fixed order. */
export const ENTRY_KINDS: readonly EntryKind[] = [
  "start",
  "end",
  "reap",
  "revive",
  "import",
  "adopt",
  "prune",
];

/** The sessions a prune removed: its cut-off and their ids (the tombstone). */
export interface PrunedSessions {
  before: string;
  ids: string[];
}

/** One link of a writer's chain. */
export interface Entry {
  v: 1;
  /** Writer id. */
  w: string;
  /** Sequence number in the writer's chain: 1, 2, 3 ... contiguous. */
  s: number;
  /** Hash of the writer's previous entry; GENESIS for s = 1. */
  p: string;
  /** Epoch ms when committed; never less than the previous entry's `at`. */
  at: number;
  k: EntryKind;
  /** The session id the change is about ("" for prune). */
  id: string;
  /** The session's full record after the change (all kinds but prune). */
  r?: SessionRecord;
  /** Prune only: the sessions removed. */
  pruned?: PrunedSessions;
  /** A stub: the body of an entry of a session pruned later was dropped; `h` kept. */
  x?: 1;
  /** SHA-256 hex of canonicalJson of the entry without `h`. */
  h: string;
}

/** What a caller asks to record; the chain supplies the rest. */
export interface EntryBody {
  k: EntryKind;
  id: string;
  r?: SessionRecord;
  pruned?: PrunedSessions;
}

/** The last entry of a chain as far as its writer knows. */
export interface ChainHead {
  s: number;
  h: string;
  at: number;
}

/** The `p` of a chain's first entry. */
export const GENESIS: string = "0".repeat(64);

/** Hash of an entry: SHA-256 hex of canonicalJson of all its fields but `h`. */
export function entryHash(e: Omit<Entry, "h"> | Entry): string {
  const { h: _h, ...rest } = e as Entry;
  return sha256Hex(canonicalJson(rest));
}

/** A new writer id: "w" and 16 lowercase hex characters from 8 random bytes. */
export function newWriterId(random: () => Uint8Array = () => randomBytes(8)): string {
  const bytes = random();
  if (bytes.length < 8) {
    throw new RangeError(`Cannot make a writer id from ${bytes.length} random bytes (need 8)`);
  }
  return `w${bytesHex(bytes.subarray(0, 8))}`;
}

/** A writer's chain as this process knows it; drafting does not mutate, advance does. */
export class Chain {
  /** The writer id every entry of this chain carries. */
  readonly writer: string;
  #head: ChainHead | null;

  /** A chain for `writer` whose last committed entry is `head` (null for an empty chain). */
  constructor(writer: string, head: ChainHead | null) {
    this.writer = writer;
    this.#head = head === null ? null : { ...head };
  }

  /** The last committed entry, or null before the first. */
  get head(): ChainHead | null {
    return this.#head === null ? null : { ...this.#head };
  }

  /** Consecutive entries after the head; each `at` is max(atMs, head.at). */
  draft(bodies: readonly EntryBody[], atMs: number): Entry[] {
    if (!Number.isFinite(atMs)) {
      throw new RangeError(`Cannot draft entries at a time that is not a number: ${atMs}`);
    }
    let s = this.#head?.s ?? 0;
    let p = this.#head?.h ?? GENESIS;
    const at = Math.max(atMs, this.#head?.at ?? atMs);
    const out: Entry[] = [];
    for (const body of bodies) {
      s += 1;
      const e: Omit<Entry, "h"> = { v: 1, w: this.writer, s, p, at, k: body.k, id: body.id };
      if (body.r !== undefined) e.r = body.r;
      if (body.pruned !== undefined) e.pruned = body.pruned;
      const text = canonicalJson(e);
      const h = sha256Hex(text);
      const entry: Entry = { ...e, h };
      TEXTS.set(entry, text);
      out.push(entry);
      p = h;
    }
    return out;
  }

  /** Moves the head past entries a commit wrote; throws if they do not follow the head. */
  advance(entries: readonly Entry[]): void {
    let head = this.#head;
    for (const e of entries) {
      const s = (head?.s ?? 0) + 1;
      const p = head?.h ?? GENESIS;
      if (e.w !== this.writer || e.s !== s || e.p !== p || e.at < (head?.at ?? e.at)) {
        throw new RangeError(
          `Cannot advance chain ${this.writer} past entry ${e.w}#${e.s}: ` +
            `it does not follow #${s - 1}`,
        );
      }
      head = { s: e.s, h: e.h, at: e.at };
    }
    this.#head = head;
  }
}

/** The canonical text of entries read from, or written as, their stored form. */
const TEXTS = new WeakMap<Entry, string>();

/**
 * How a store keeps an entry: its hash, then the canonical JSON the hash is of. A reader
 * checks the hash on these very bytes, without serialising the entry again.
 */
export function entryText(e: Entry): string {
  let text = TEXTS.get(e);
  if (text === undefined) {
    const { h: _h, ...rest } = e;
    text = canonicalJson(rest);
  }
  return e.h + text;
}

/**
 * An entry from its stored form (see {@linkcode entryText}), with the text its hash should
 * be of (for {@linkcode storedText}); null when `stored` is not in that form.
 */
export function fromEntryText(stored: string): Record<string, unknown> | null {
  if (stored.length < 66 || stored.charCodeAt(64) !== 123 /* { */) return null;
  const text = stored.slice(64);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
  const e = value as Record<string, unknown>;
  e.h = stored.slice(0, 64);
  TEXTS.set(e as unknown as Entry, text);
  return e;
}

/** The text an entry read from its stored form was hashed from, if it was read so. */
export function storedText(e: Entry): string | undefined {
  return TEXTS.get(e);
}

/** The stub of an entry: the same link and hash, its body dropped. */
export function stubOf(e: Entry): Entry {
  return { v: 1, w: e.w, s: e.s, p: e.p, at: e.at, k: e.k, id: e.id, x: 1, h: e.h };
}
