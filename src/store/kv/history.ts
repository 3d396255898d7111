/**
 * The history (SPEC 10) on a Deno KV store: each writer's chain under
 * `["entry", writer, seq]` with its head at `["head", writer]`, written in the same atomic
 * commit as the change the entries describe; seals under `["seal", key id, period]`.
 * Writers are per process (src/store/lanes.ts), so no two processes share a key.
 */
import { type Entry, entryText, fromEntryText } from "../../seal/entry.ts";
import type { Seal } from "../../seal/seal.ts";
import type { HistorySource } from "../../seal/verify.ts";
import type { SessionRecord } from "../../sessions/session.ts";
import type { SealedHeads, StoreHistory } from "../port.ts";
import type { KvHandle } from "./deadline.ts";
import { carriedConflicts } from "./carried.ts";
import { decodeRecord } from "./records.ts";
import { withRetry } from "./retry.ts";

/** Where entry `seq` of `writer` is kept. */
export function entryKey(writer: string, seq: number): Deno.KvKey {
  return ["entry", writer, seq];
}

/** Where a writer's head (its last entry's seq, hash and time) is kept. */
export function headKey(writer: string): Deno.KvKey {
  return ["head", writer];
}

/** Where the seal of period `n` under key `keyId` is kept. */
export function sealKey(keyId: string, n: number): Deno.KvKey {
  return ["seal", keyId, n];
}

/** The heads a key's last seal vouched for, so the next seal names only heads that moved. */
export function sealedHeadsKey(keyId: string): Deno.KvKey {
  return ["sealed_heads", keyId];
}

/** What a head marker holds. */
export interface Head {
  s: number;
  h: string;
  at: number;
}

/** Adds `entries` (consecutive, of one writer) and the writer's new head to `op`. */
export function addEntries(op: Deno.AtomicOperation, entries: readonly Entry[]): void {
  for (const e of entries) op.set(entryKey(e.w, e.s), entryText(e));
  const last = entries.at(-1);
  if (last) op.set(headKey(last.w), { s: last.s, h: last.h, at: last.at } satisfies Head);
}

/** An entry as a Deno KV store keeps it (its stored text), or null for anything else. */
export function storedEntry(value: unknown): Entry | null {
  return typeof value === "string" ? fromEntryText(value) as Entry | null : null;
}

/** Every value under `prefix`, in key order. */
function under<T>(kv: KvHandle, prefix: Deno.KvKey): AsyncIterable<Deno.KvEntry<T>> {
  return kv.list<T>({ prefix }, { batchSize: 1000 });
}

/** A Deno KV store's history: its heads, seals and chains, for sealing and verifying. */
export class KvHistory implements StoreHistory {
  readonly #kv: KvHandle;

  constructor(kv: KvHandle) {
    this.#kv = kv;
  }

  /** Each writer's last entry dated before `until` (ms), for the heads that moved since `since`. */
  async headsBefore(until: number, since: SealedHeads): Promise<SealedHeads> {
    const heads: SealedHeads = {};
    for await (const { key, value } of under<Head>(this.#kv, ["head"])) {
      const writer = key[1] as string;
      let head: { s: number; h: string } | null = value;
      if (value.at >= until) {
        head = null;
        const back = this.#kv.list({ prefix: ["entry", writer] }, { reverse: true });
        for await (const { value } of back) {
          const e = storedEntry(value);
          if (e && e.at < until) {
            head = { s: e.s, h: e.h };
            break;
          }
        }
      }
      const before = since[writer];
      // A head only moves on: one a seal vouched for is never taken back.
      if (head && (!before || head.s > before.s)) heads[writer] = { s: head.s, h: head.h };
    }
    return heads;
  }

  /** The heads the last seal of `keyId` vouched for, all writers together. */
  async sealedHeads(keyId: string): Promise<SealedHeads> {
    const entry = await withRetry(() => this.#kv.get<SealedHeads>(sealedHeadsKey(keyId)));
    return entry.value ?? {};
  }

  /**
   * Stores `seal` unless its period is sealed already (another process with the same key
   * got there first: then nothing is written); `all` is every head vouched for so far.
   */
  async putSeal(seal: Seal, all: SealedHeads): Promise<boolean> {
    return await withRetry(async () => {
      const key = sealKey(seal.key, seal.n);
      const res = await this.#kv.atomic().check({ key, versionstamp: null })
        .set(key, seal).set(sealedHeadsKey(seal.key), all).commit();
      return res.ok;
    });
  }

  /** The store as the verifier reads it: its own history, then what hosts forwarded. */
  source(): HistorySource {
    const kv = this.#kv;
    const carried = new Set<string>();
    const carriedKeys = new Set<string>();
    return {
      carried,
      carriedKeys,
      chains: async function* () {
        yield* chainsOf(kv, ["entry"]);
        for await (const chain of chainsOf(kv, ["carried"])) {
          carried.add(chain.writer);
          yield chain;
        }
      },
      conflicts: () => carriedConflicts(kv),
      heads: async () => {
        const heads = new Map<string, unknown>();
        for await (const { key, value } of under(kv, ["head"])) heads.set(String(key[1]), value);
        return heads;
      },
      seals: async function* () {
        for await (const { value } of under(kv, ["seal"])) yield value;
        for await (const { key, value } of under(kv, ["carried_seal"])) {
          carriedKeys.add(String(key[1]));
          yield value;
        }
      },
      records: async function* (): AsyncIterable<SessionRecord> {
        for await (const { value } of under<Uint8Array>(kv, ["session"])) {
          yield decodeRecord(value);
        }
      },
      entry: async (w, s) => (await kv.get(entryKey(w, s))).value,
    };
  }
}

/** Every chain under `prefix`, writer by writer, read in one pass. */
async function* chainsOf(kv: KvHandle, prefix: Deno.KvKey) {
  const all = under(kv, prefix)[Symbol.asyncIterator]();
  let next = await all.next();
  while (!next.done) {
    const writer = String(next.value.key[1]);
    const entries = async function* () {
      while (!next.done && String(next.value.key[1]) === writer) {
        const { key, value } = next.value;
        next = await all.next();
        yield { key: { w: writer, s: Number(key[2]) }, value };
      }
    };
    const chain = entries();
    yield { writer, entries: chain };
    // Whatever of this chain the verifier left unread is skipped.
    for await (const _ of chain);
  }
}
