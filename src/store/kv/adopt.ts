/**
 * A store written before the history began (layout 2) takes its records into the history
 * once: each record as an `adopt` entry, twenty to a commit, so that from then on every
 * record is explained by its entries (SPEC 10). What was done to a record before that
 * cannot be vouched for; the verifier says from when the history holds.
 */
import type { EntryBody } from "../../seal/entry.ts";
import type { KvContext } from "./context.ts";
import { decodeRecord } from "./records.ts";
import { withRetry } from "./retry.ts";

const PER_COMMIT = 20;

/** Writes an `adopt` entry for every record in the store; returns how many. */
export async function adoptRecords(ctx: KvContext): Promise<number> {
  let group: Deno.KvEntry<Uint8Array>[] = [];
  let count = 0;
  const flush = async () => {
    const part = group;
    group = [];
    await withRetry(async () => {
      const bodies: EntryBody[] = [];
      const op = ctx.kv.atomic();
      for (const entry of part) {
        const record = decodeRecord(entry.value);
        op.check(entry);
        bodies.push({ k: "adopt", id: record.session_id, r: record });
      }
      // A record changed meanwhile was written with an entry of its own.
      return (await ctx.record(op, bodies)).ok ? true : undefined;
    }, ctx.retry);
    count += part.length;
  };
  for await (const entry of ctx.kv.list<Uint8Array>({ prefix: ["session"] })) {
    group.push(entry);
    if (group.length === PER_COMMIT) await flush();
  }
  if (group.length > 0) await flush();
  return count;
}
