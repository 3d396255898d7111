/**
 * The history side of `forward` (SPEC 10): the host's entries, seals and chain heads go to
 * the fleet after its records, so that forwarded seals reach the fleet's store and a host
 * whose store is cut short or changed after a forward is caught there. How far each chain
 * and each key has been sent is kept in the host's store, at `["forward", "history"]`, and
 * moves only once the target took a batch: a restart sends at most that batch again, which
 * the fleet finds it holds already.
 */
import type { Entry } from "../seal/entry.ts";
import type { Seal } from "../seal/seal.ts";
import type { KvHandle } from "../store/kv/deadline.ts";
import { storedEntry } from "../store/kv/history.ts";
import { withRetry } from "../store/kv/retry.ts";
import type { CarriedHistory, SealedHeads } from "../store/port.ts";

/** How far the history has been sent: per writer its last seq, per key its last period. */
export interface HistoryPosition {
  writers: Record<string, number>;
  keys: Record<string, number>;
  /** Chains found shorter than what was sent, as last told to the target. */
  cut?: Record<string, number>;
}

const POSITION_KEY: Deno.KvKey = ["forward", "history"];

/** Entries and seals in one delivery: each is a few hundred bytes to a few KiB. */
export const HISTORY_BATCH = 200;

/** The host's history that waits to be sent, from its store. */
export class HistoryOutbox {
  readonly #kv: KvHandle;

  constructor(kv: KvHandle) {
    this.#kv = kv;
  }

  async position(): Promise<HistoryPosition> {
    const entry = await withRetry(() => this.#kv.get<HistoryPosition>(POSITION_KEY));
    return entry.value ?? { writers: {}, keys: {} };
  }

  async save(position: HistoryPosition): Promise<void> {
    await withRetry(async () =>
      (await this.#kv.atomic().set(POSITION_KEY, position).commit()).ok || undefined
    );
  }

  /**
   * The next batch after `from`: up to `limit` entries and seals, every head of the host,
   * and the position once it is delivered; null when nothing waits.
   */
  async next(
    from: HistoryPosition,
    limit = HISTORY_BATCH,
  ): Promise<{ history: CarriedHistory; position: HistoryPosition } | null> {
    const position: HistoryPosition = {
      writers: { ...from.writers },
      keys: { ...from.keys },
      cut: { ...from.cut },
    };
    const heads: SealedHeads = {};
    const entries: Entry[] = [];
    const seals: Seal[] = [];
    for await (
      const { key, value } of this.#kv.list<{ s: number; h: string }>({ prefix: ["head"] })
    ) {
      const w = String(key[1]);
      heads[w] = { s: value.s, h: value.h };
      const sent = position.writers[w] ?? 0;
      if (value.s <= sent || entries.length >= limit) continue;
      const list = this.#kv.list(
        { prefix: ["entry", w], start: ["entry", w, sent + 1] },
        { limit: limit - entries.length },
      );
      for await (const { key, value } of list) {
        // What is not an entry (an intruder's) is not sent: the fleet's copy shows the gap.
        const e = storedEntry(value);
        if (e) entries.push(e);
        position.writers[w] = Number(key[2]);
      }
    }
    for await (const { key, value } of this.#kv.list<Seal>({ prefix: ["seal"] })) {
      if (seals.length + entries.length >= limit) break;
      const keyId = String(key[1]);
      if (Number(key[2]) <= (position.keys[keyId] ?? -1)) continue;
      seals.push(value);
      position.keys[keyId] = Number(key[2]);
    }
    // A chain now shorter than what was sent (or gone): told once, with the heads.
    let cut = false;
    for (const [w, sent] of Object.entries(position.writers)) {
      const now = heads[w]?.s ?? 0;
      if (now >= sent || position.cut![w] === now) continue;
      heads[w] ??= { s: 0, h: "" };
      position.cut![w] = now;
      cut = true;
    }
    if (entries.length === 0 && seals.length === 0 && !cut) return null;
    return { history: { entries, seals, heads }, position };
  }
}
