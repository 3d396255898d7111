/**
 * A batch of exported records brought into a store record by record, several at a time,
 * with the outcome each would have had if the batch were imported one record after
 * another (SPEC 8.3). What every adapter's `importRecords` rests on; the Deno KV adapter
 * writes the records that meet nothing in one commit per group first (kv/imports.ts).
 */
import { baseSessionId, type SessionRecord } from "../sessions/session.ts";
import type { ImportOutcome } from "./port.ts";

/**
 * How many records of a batch are brought into the store at once. Measured on 500-record
 * batches (2 shared cores, medians of 5-11 runs), 4 at a time against one at a time: on a
 * Deno KV file 1.1-1.4x the records/s for new records and 1.2-2x for records sent again; on
 * PostgreSQL 1.35x and 1.2x. 2 to 16 were alike within the noise; 4 leaves half of
 * PostgreSQL's 8 connections to the shells' own calls.
 */
export const IMPORT_CONCURRENCY = 4;

/**
 * The names of what a record may touch in a store: its event, and every id family it may be
 * written under (its own id's, and its base's, whose next free id a renumbering takes). Two
 * records that share no name cannot change each other's outcome.
 *
 * A record's id is nearly always its base or a `-n` of it: its base names both. An id that is
 * not (written by hand, or by another program) may be another base, or a `-n` of one.
 */
export function touches(record: SessionRecord): string[] {
  const base = baseSessionId(record);
  const names = [`event ${record.event_id.toLowerCase()}`, `base ${base}`];
  const id = record.session_id;
  if (
    id !== base && !(id.startsWith(`${base}-`) && /^-[1-9]\d{0,8}$/.test(id.slice(base.length)))
  ) {
    names.push(`base ${id}`);
    const numbered = /^(.+)-([1-9]\d{0,8})$/.exec(id);
    if (numbered && Number(numbered[2]) >= 2) names.push(`base ${numbered[1]}`);
  }
  return names;
}

/**
 * Imports `records` with at most `concurrency` in flight and gives their outcomes in their
 * order. Records that touch the same event or id family ({@linkcode touches}) go one after
 * another in the batch's order, so every outcome is the one importing the batch record by
 * record would give: the same ids, the same kinds. `onOutcome` hears of each as it lands.
 *
 * A failure, or `signal` aborted, starts no more records; those in flight finish (a record
 * is written whole or not at all), then the first failure (or the signal's reason) is thrown.
 */
export async function importInOrder(
  records: readonly SessionRecord[],
  importOne: (record: SessionRecord) => Promise<ImportOutcome>,
  options: {
    concurrency?: number;
    signal?: AbortSignal;
    onOutcome?: (outcome: ImportOutcome) => void;
  } = {},
): Promise<ImportOutcome[]> {
  const { signal, onOutcome } = options;
  let free = Math.max(1, options.concurrency ?? IMPORT_CONCURRENCY);
  const queued: (() => void)[] = [];
  const slot = () =>
    free > 0 ? (free--, Promise.resolve()) : new Promise<void>((r) => queued.push(r));
  const release = () => {
    const next = queued.shift();
    if (next) next();
    else free++;
  };

  const outcomes: ImportOutcome[] = [];
  let done = 0;
  let failure: { error: unknown } | null = null;
  const last = new Map<string, Promise<void>>();
  const tasks = records.map((record, i) => {
    const names = touches(record);
    const before = names.flatMap((name) => last.get(name) ?? []);
    const task = (async () => {
      if (before.length > 0) await Promise.all(before);
      await slot();
      try {
        if (failure || signal?.aborted) return;
        const outcome = await importOne(record);
        outcomes[i] = outcome;
        done++;
        onOutcome?.(outcome);
      } catch (error) {
        failure ??= { error };
      } finally {
        release();
      }
    })();
    for (const name of names) last.set(name, task);
    return task;
  });
  await Promise.all(tasks);
  if (failure) throw (failure as { error: unknown }).error;
  if (done < records.length) signal?.throwIfAborted();
  return outcomes;
}
