/**
 * The history (SPEC 10) on a PostgreSQL store, for sealing and verifying: each writer's
 * chain in `session_buddy.entries`, its head in `session_buddy.heads`, seals in
 * `session_buddy.seals` and what a key's seals vouched for in `session_buddy.sealed_heads`.
 * Everything is read in pages (keyset on the primary key), never a whole table at once;
 * what is stored is handed on as it is, since an intruder may have written anything.
 */
import type { Seal } from "../../seal/seal.ts";
import type { HistorySource } from "../../seal/verify.ts";
import type { SessionRecord } from "../../sessions/session.ts";
import type { SealedHeads, StoreHistory } from "../port.ts";
import { deadline, type PgContext } from "./connection.ts";
import { carriedConflicts } from "./carried.ts";
import { transact } from "./entries.ts";

/** Rows per query of a paged read. */
const PAGE = 1000;
/** Entries per query when a head is looked for backwards. */
const BACK_PAGE = 100;

/** Stored JSON text parsed, or the text itself when it is not JSON (an intruder's). */
function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The PostgreSQL store's history. */
export class PgHistory implements StoreHistory {
  readonly #ctx: PgContext;

  constructor(ctx: PgContext) {
    this.#ctx = ctx;
  }

  async #query<R>(text: string, values: unknown[]): Promise<R[]> {
    const res = await deadline(() => this.#ctx.pool.query<R>(text, values), "a history read");
    return res.rows;
  }

  /** Each writer's last entry dated before `until` (ms), of the heads that moved since `since`. */
  async headsBefore(until: number, since: SealedHeads): Promise<SealedHeads> {
    const heads: SealedHeads = {};
    let after = "";
    let first = true;
    while (true) {
      const rows = await this.#query<{ writer: string; s: string; h: string; at_ms: string }>(
        `SELECT writer, s, h, at_ms FROM session_buddy.heads
         WHERE $1 OR writer > $2 ORDER BY writer LIMIT $3`,
        [first, after, PAGE],
      );
      first = false;
      for (const row of rows) {
        const before = since[row.writer]?.s ?? 0;
        // A head only moves on: one a seal vouched for is never taken back.
        if (Number(row.s) <= before) continue;
        const head = Number(row.at_ms) < until
          ? { s: Number(row.s), h: row.h }
          : await this.#lastBefore(row.writer, Number(row.s), until, before);
        if (head) heads[row.writer] = head;
      }
      if (rows.length < PAGE) return heads;
      after = rows.at(-1)!.writer;
    }
  }

  /** The last entry of `writer` at or below `s` dated before `until`, above `floor`. */
  async #lastBefore(
    writer: string,
    s: number,
    until: number,
    floor: number,
  ): Promise<{ s: number; h: string } | null> {
    let below = s + 1;
    while (below - 1 > floor) {
      const rows = await this.#query<{ seq: string; entry: string }>(
        `SELECT seq, entry FROM session_buddy.entries WHERE writer = $1 AND seq < $2 AND seq > $3
         ORDER BY seq DESC LIMIT $4`,
        [writer, below, floor, BACK_PAGE],
      );
      for (const row of rows) {
        const e = parsed(row.entry) as { at?: unknown; h?: unknown } | null;
        if (typeof e?.at === "number" && e.at < until && typeof e.h === "string") {
          return { s: Number(row.seq), h: e.h };
        }
      }
      if (rows.length < BACK_PAGE) return null;
      below = Number(rows.at(-1)!.seq);
    }
    return null;
  }

  /** Every head the seals of `keyId` have vouched for so far. */
  async sealedHeads(keyId: string): Promise<SealedHeads> {
    const rows = await this.#query<{ heads: string }>(
      "SELECT heads FROM session_buddy.sealed_heads WHERE key_id = $1",
      [keyId],
    );
    return rows[0] ? JSON.parse(rows[0].heads) as SealedHeads : {};
  }

  /**
   * Stores `seal` unless its period is sealed already (another process with the same key
   * got there first: then nothing is written); `all`, every head vouched for so far, in the
   * same transaction.
   */
  async putSeal(seal: Seal, all: SealedHeads): Promise<boolean> {
    return await this.#ctx.retrying("a seal", () =>
      transact(this.#ctx, async (client) => {
        const put = await client.query(
          `INSERT INTO session_buddy.seals (key_id, n, seal) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING`,
          [seal.key, seal.n, JSON.stringify(seal)],
        );
        const inserted = put.rowCount === 1;
        if (inserted) {
          await client.query(
            `INSERT INTO session_buddy.sealed_heads (key_id, heads) VALUES ($1, $2)
             ON CONFLICT (key_id) DO UPDATE SET heads = EXCLUDED.heads`,
            [seal.key, JSON.stringify(all)],
          );
        }
        return { value: inserted, bodies: [] };
      }));
  }

  /** The store as the verifier reads it: its own history, then what hosts forwarded. */
  source(): HistorySource {
    const query = <R>(text: string, values: unknown[]) => this.#query<R>(text, values);
    const carried = new Set<string>();
    const carriedKeys = new Set<string>();
    return {
      carried,
      carriedKeys,
      chains: async function* () {
        yield* chainsOf(query, "session_buddy.entries");
        for await (const chain of chainsOf(query, "session_buddy.carried_entries")) {
          carried.add(chain.writer);
          yield chain;
        }
      },
      conflicts: () => carriedConflicts(query),
      heads: async () => {
        const heads = new Map<string, unknown>();
        const rows = paged<{ writer: string; s: string; h: string; at_ms: string }>(
          query,
          "SELECT writer, s, h, at_ms FROM session_buddy.heads",
          ["writer"],
        );
        for await (const row of rows) {
          heads.set(row.writer, { s: Number(row.s), h: row.h, at: Number(row.at_ms) });
        }
        return heads;
      },
      seals: async function* () {
        const rows = paged<{ key_id: string; n: string; seal: string }>(
          query,
          "SELECT key_id, n, seal FROM session_buddy.seals",
          ["key_id", "n"],
        );
        for await (const row of rows) yield parsed(row.seal);
        const theirs = paged<{ key_id: string; n: string; seal: string }>(
          query,
          "SELECT key_id, n, seal FROM session_buddy.carried_seals",
          ["key_id", "n"],
        );
        for await (const row of theirs) {
          carriedKeys.add(row.key_id);
          yield parsed(row.seal);
        }
      },
      records: async function* () {
        const rows = paged<{ session_id: string; record: string }>(
          query,
          "SELECT session_id, record FROM session_buddy.sessions",
          ["session_id"],
        );
        // A record that is not JSON is handed on as its text: the verifier names it.
        for await (const row of rows) yield parsed(row.record) as SessionRecord;
      },
      entry: async (w, s) => {
        const rows = await query<{ entry: string }>(
          "SELECT entry FROM session_buddy.entries WHERE writer = $1 AND seq = $2",
          [w, s],
        );
        return rows[0] ? parsed(rows[0].entry) : null;
      },
    };
  }
}

type Query = <R>(text: string, values: unknown[]) => Promise<R[]>;

/**
 * Every row of `select` (a SELECT without WHERE or ORDER BY), in the order of the `keys`
 * columns (the table's primary key), a page at a time.
 */
async function* paged<R extends Record<string, unknown>>(
  query: Query,
  select: string,
  keys: string[],
): AsyncIterable<R> {
  const order = keys.join(", ");
  let last: unknown[] | null = null;
  while (true) {
    const rows: R[] = last === null
      ? await query<R>(`${select} ORDER BY ${order} LIMIT $1`, [PAGE])
      : await query<R>(
        `${select} WHERE (${order}) > (${keys.map((_, i) => `$${i + 2}`).join(", ")})
         ORDER BY ${order} LIMIT $1`,
        [PAGE, ...last],
      );
    yield* rows;
    if (rows.length < PAGE) return;
    const end = rows.at(-1)!;
    last = keys.map((k) => end[k]);
  }
}

/** Every chain of `table`, writer by writer, read in one pass in (writer, seq) order. */
async function* chainsOf(query: Query, table: string) {
  const rows = paged<{ writer: string; seq: string; entry: string }>(
    query,
    `SELECT writer, seq, entry FROM ${table}`,
    ["writer", "seq"],
  );
  const all = rows[Symbol.asyncIterator]();
  let next = await all.next();
  while (!next.done) {
    const writer = next.value.writer;
    const entries = async function* () {
      while (!next.done && next.value.writer === writer) {
        const { seq, entry } = next.value;
        next = await all.next();
        yield { key: { w: writer, s: Number(seq) }, value: parsed(entry) };
      }
    };
    const chain = entries();
    yield { writer, entries: chain };
    // Whatever of this chain the verifier left unread is skipped.
    for await (const _ of chain);
  }
}
