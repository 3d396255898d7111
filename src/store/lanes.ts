/**
 * The writers of one process's history (SPEC 10): a few hash chains, each taken by one
 * commit at a time, so that commits under way together never share a chain, and no two
 * processes ever write the same key or row. A commit whose outcome is unknown (it threw)
 * retires its chain: the next commit starts a new writer rather than guess where the old
 * one ended.
 */
import { Chain, type Entry, type EntryBody, newWriterId } from "../seal/entry.ts";

/** At most this many chains per process; more commits at once wait for one. */
const MAX_LANES = 16;

/** A pool of this process's chains. */
export class Lanes {
  readonly #free: Chain[] = [];
  readonly #waiting: ((chain: Chain) => void)[] = [];
  #count = 0;

  /**
   * Drafts the entries of `bodies` on a chain of its own and runs `write` with them; the
   * chain moves past them when `write` says they were committed.
   */
  async commit<T>(
    bodies: readonly EntryBody[],
    write: (entries: Entry[]) => Promise<{ ok: boolean; value: T }>,
  ): Promise<T> {
    const chain = await this.#take();
    let keep = false;
    try {
      const entries = chain.draft(bodies, Date.now());
      const { ok, value } = await write(entries);
      if (ok) chain.advance(entries);
      keep = true;
      return value;
    } finally {
      this.#give(keep ? chain : null);
    }
  }

  async #take(): Promise<Chain> {
    const free = this.#free.pop();
    if (free) return free;
    if (this.#count < MAX_LANES) {
      this.#count++;
      return new Chain(newWriterId(), null);
    }
    return await new Promise<Chain>((resolve) => this.#waiting.push(resolve));
  }

  /** Returns a chain to the pool; `null` retires it (a fresh writer takes its place). */
  #give(chain: Chain | null): void {
    const next = chain ?? new Chain(newWriterId(), null);
    const waiter = this.#waiting.shift();
    if (waiter) waiter(next);
    else this.#free.push(next);
  }
}
