/** The id counters this Deno KV store's process wrote last, so that a start can skip its read. */

/** An id counter as read from the store, or as this process last wrote it. */
export interface Counter {
  key: Deno.KvKey;
  value: number | null;
  versionstamp: string | null;
}

// Counters are per second and component, so only the most recent few are worth keeping.
const SEQ_CACHE_SIZE = 256;

/** The newest counters this process wrote, per id base, the most recent few. */
export class SeqCache {
  readonly #counters = new Map<string, Counter>();

  /** The counter this process wrote last for `base`, if it is still kept. */
  get(base: string): Counter | undefined {
    return this.#counters.get(base);
  }

  /** Forgets the counter of `base`. */
  delete(base: string): void {
    this.#counters.delete(base);
  }

  /** Keeps the newest counters this process wrote, so the next start can skip its read. */
  remember(base: string, key: Deno.KvKey, value: number, versionstamp: string): void {
    this.#counters.delete(base);
    this.#counters.set(base, { key, value, versionstamp });
    if (this.#counters.size > SEQ_CACHE_SIZE) {
      this.#counters.delete(this.#counters.keys().next().value!);
    }
  }
}
