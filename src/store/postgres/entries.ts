/**
 * How the PostgreSQL store writes its history (SPEC 10): entries as the JSON text they were
 * hashed from, in `session_buddy.entries` keyed by (writer, seq), and each writer's head in
 * `session_buddy.heads`, always in the same transaction as the change they describe.
 * Writers are this process's own (src/store/lanes.ts): no two processes share a row.
 */
import type { Entry, EntryBody } from "../../seal/entry.ts";
import type { PgContext } from "./connection.ts";
import type { PoolClient } from "./driver.ts";

/**
 * The CTEs that add `entries` (consecutive, of one writer) and move its head, their
 * parameters appended to `values`; with `guard` (the name of a CTE before them), only when
 * that CTE returned a row.
 */
export function entryCtes(entries: readonly Entry[], values: unknown[], guard?: string): string[] {
  const last = entries.at(-1);
  if (!last) return [];
  const n = values.length;
  values.push(
    last.w,
    entries.map((e) => e.s),
    entries.map((e) => JSON.stringify(e)),
    last.s,
    last.h,
    last.at,
  );
  const only = guard ? ` WHERE EXISTS (SELECT 1 FROM ${guard})` : "";
  return [
    `history_e AS (INSERT INTO session_buddy.entries (writer, seq, entry)
       SELECT $${n + 1}, x.s, x.t FROM unnest($${n + 2}::bigint[], $${
      n + 3
    }::text[]) AS x(s, t)${only})`,
    `history_h AS (INSERT INTO session_buddy.heads (writer, s, h, at_ms)
       SELECT $${n + 1}, $${n + 4}::bigint, $${n + 5}, $${n + 6}::bigint${only}
       ON CONFLICT (writer) DO UPDATE SET s = EXCLUDED.s, h = EXCLUDED.h, at_ms = EXCLUDED.at_ms)`,
  ];
}

/** Adds `entries` and the writer's new head, in the transaction under way on `client`. */
export async function addEntries(client: PoolClient, entries: readonly Entry[]): Promise<void> {
  const values: unknown[] = [];
  const ctes = entryCtes(entries, values);
  if (ctes.length === 0) return;
  await client.query(`WITH ${ctes.join(", ")} SELECT 1`, values);
}

/**
 * Runs `work` in one transaction on one connection and commits it with the history entries
 * of the bodies it returns. The connection is taken before a chain, so that whoever holds a
 * chain holds a connection too (a pool of 8, 16 chains: one is always free). A commit whose
 * outcome is unknown (it threw) retires its chain (Lanes does); a try after it drafts anew.
 */
export async function transact<T>(
  ctx: PgContext,
  work: (client: PoolClient) => Promise<{ value: T; bodies: EntryBody[] }>,
): Promise<T> {
  const client = await ctx.pool.connect();
  const began = performance.now();
  let done = false;
  try {
    await client.query("BEGIN");
    const { value, bodies } = await work(client);
    if (bodies.length === 0) await client.query("COMMIT");
    else {
      await ctx.lanes.commit(bodies, async (entries) => {
        await addEntries(client, entries);
        await client.query("COMMIT");
        return { ok: true, value: undefined };
      });
    }
    done = true;
    return value;
  } finally {
    ctx.observer?.commit((performance.now() - began) / 1000);
    if (!done) await client.query("ROLLBACK").catch(() => {});
    // A connection that failed mid-transaction is not handed to the next caller.
    client.release(!done);
  }
}
