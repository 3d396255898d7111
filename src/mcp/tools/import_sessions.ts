/**
 * `import_sessions`: a collector's side of `session-buddy forward` (SPEC 8.7) and of fleet
 * moves. A batch of exported records meets this store under the import rules of SPEC 8.3,
 * the ones `sessions import` applies (src/sessions/imported.ts): a record whose id is free
 * is written as it is, one whose event is stored brings what the stored one lacks, one whose
 * id belongs to another event is renumbered. Sending a batch again changes nothing.
 */
import { ImportSessionsSchema, parseImportArgs } from "../../sessions/import_args.ts";
import { baseSessionId, type SessionRecord } from "../../sessions/session.ts";
import type { ImportOutcome } from "../../store/port.ts";
import { defineTool, IDEMPOTENT_WRITE } from "../define_tool.ts";
import { ImportResultSchema } from "../results.ts";

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

/** The import tool, for `session-buddy forward` and moves between stores. */
export const importSessions = defineTool({
  name: "import_sessions",
  title: "Import session records (forwarding)",
  description:
    "For `session-buddy forward` and for moving sessions between session-buddy stores; an admin shell never calls this (it uses track_session_start, track_session_heartbeat and track_session_end). " +
    "Takes 1-1000 session records exactly as `session-buddy sessions export` writes them and brings each into this store: " +
    "a record whose session_id is free is written as it is; one whose event_id is stored brings what the stored session lacks (an end, a later last_seen_at); " +
    "one whose session_id belongs to another event is stored under the next free id and keeps its former id as origin_session_id. " +
    "Every record is checked first: one invalid record refuses the whole call and nothing is written. Sending the same records again changes nothing. " +
    'Returns {status: "imported"|"error", outcomes: [{event_id, session_id, kind: "written"|"renumbered"|"updated"|"unchanged"}] in the order of the records, error}.',
  annotations: IDEMPOTENT_WRITE,
  input: ImportSessionsSchema,
  output: ImportResultSchema,
  parse: parseImportArgs,
  errorPrefix: "Import failed",
  errorResult: (error) => ({ status: "error", outcomes: null, error }),
  // A cancelled call starts no more records; the store calls themselves are not cut short.
  cancellable: true,
  async run(records, { deps, signal }) {
    const { log, metrics } = deps;
    const counts = { written: 0, renumbered: 0, updated: 0, unchanged: 0 };
    const outcomes = await importInOrder(records, (record) => deps.store.importRecord(record), {
      signal,
      onOutcome: (outcome) => {
        counts[outcome.kind]++;
        metrics?.importedRecord(outcome.kind);
      },
    });
    outcomes.forEach((outcome, i) => {
      if (outcome.kind === "renumbered") {
        log.info(
          `Session imported under a new id: session_id=${outcome.sessionId}, origin_session_id=${
            records[i]!.origin_session_id ?? records[i]!.session_id
          }`,
        );
      }
    });
    log.info(
      `Sessions imported: records=${records.length}, written=${counts.written}, renumbered=${counts.renumbered}, updated=${counts.updated}, unchanged=${counts.unchanged}`,
    );
    return {
      status: "imported",
      outcomes: outcomes.map((outcome, i) => ({
        event_id: records[i]!.event_id,
        session_id: outcome.sessionId,
        kind: outcome.kind,
      })),
      error: null,
    };
  },
});
