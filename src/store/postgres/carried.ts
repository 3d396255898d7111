/**
 * A forwarding host's history in a fleet's PostgreSQL store (SPEC 10), as
 * src/store/kv/carried.ts keeps it in Deno KV: entries in `session_buddy.carried_entries`,
 * seals in `session_buddy.carried_seals`, apart from the store's own, never replaced; a
 * copy that arrives different, or a head that says the host's chain is now shorter, goes to
 * `session_buddy.carried_conflicts` for `sessions verify` to name.
 */
import type { CarriedConflict } from "../../seal/verify.ts";
import type { CarriedHistory, CarryOutcome } from "../port.ts";
import type { PgContext } from "./connection.ts";

/** Stores what a host sent, in one transaction; `nowMs` dates any conflict found. */
export async function carryHistory(
  ctx: PgContext,
  history: CarriedHistory,
  nowMs: number,
): Promise<CarryOutcome> {
  return await ctx.retrying("a history import", async () => {
    const client = await ctx.pool.connect();
    let done = false;
    try {
      await client.query("BEGIN");
      const outcome: CarryOutcome = { written: 0, unchanged: 0, conflicts: 0 };
      const conflict = async (kind: string, a: string, b: number, value: unknown) => {
        await client.query(
          `INSERT INTO session_buddy.carried_conflicts (kind, a, b, at_ms, value)
           VALUES ($1, $2, $3, $4, $5)`,
          [kind, a, b, nowMs, JSON.stringify(value)],
        );
        outcome.conflicts++;
      };
      // A copy new here is written; one held already is the same (its hash or mac) or a
      // conflict.
      const items = [
        ...history.entries.map((e) => ({
          sql: ["carried_entries", "writer, seq, entry", "writer = $1 AND seq = $2", "entry"],
          keys: [e.w, e.s] as [string, number],
          value: e as unknown as Record<string, unknown>,
          field: "h",
          kind: "entry",
        })),
        ...history.seals.map((seal) => ({
          sql: ["carried_seals", "key_id, n, seal", "key_id = $1 AND n = $2", "seal"],
          keys: [seal.key, seal.n] as [string, number],
          value: seal as unknown as Record<string, unknown>,
          field: "mac",
          kind: "seal",
        })),
      ];
      for (const { sql: [table, columns, where, column], keys, value, field, kind } of items) {
        const put = await client.query<Record<string, string>>(
          `WITH put AS (INSERT INTO session_buddy.${table} (${columns})
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1)
           SELECT ${column} AS held FROM session_buddy.${table}
            WHERE ${where} AND NOT EXISTS (SELECT 1 FROM put)`,
          [...keys, JSON.stringify(value)],
        );
        const held = put.rows[0]?.held;
        if (held === undefined) outcome.written++;
        else if (fieldOf(held, field) === value[field]) outcome.unchanged++;
        else await conflict(kind, keys[0], keys[1], value);
      }
      // A head behind the copy held: the host's chain lost entries it had forwarded.
      for (const [w, head] of Object.entries(history.heads)) {
        const beyond = await client.query(
          "SELECT 1 FROM session_buddy.carried_entries WHERE writer = $1 AND seq > $2 LIMIT 1",
          [w, head.s],
        );
        if (beyond.rowCount) await conflict("head", w, head.s, head);
      }
      await client.query("COMMIT");
      done = true;
      return outcome;
    } finally {
      if (!done) await client.query("ROLLBACK").catch(() => {});
      client.release(!done);
    }
  });
}

/** A field of stored JSON text, or null when the text is not what was written. */
function fieldOf(text: string, field: string): unknown {
  try {
    return JSON.parse(text)?.[field] ?? null;
  } catch {
    return null;
  }
}

/** The conflicts kept so far, oldest first, for the verifier. */
export async function* carriedConflicts(
  query: <R>(text: string, values: unknown[]) => Promise<R[]>,
): AsyncIterable<CarriedConflict> {
  const rows = await query<{ kind: CarriedConflict["kind"]; a: string; b: string; at_ms: string }>(
    "SELECT kind, a, b, at_ms FROM session_buddy.carried_conflicts ORDER BY at_ms LIMIT 10000",
    [],
  );
  for (const r of rows) {
    const at = Number(r.at_ms);
    yield r.kind === "seal"
      ? { kind: r.kind, key: r.a, n: Number(r.b), at }
      : { kind: r.kind, w: r.a, s: Number(r.b), at };
  }
}
