/**
 * `import_sessions`: a collector's side of `session-buddy forward` (SPEC 8.7) and of fleet
 * moves. A batch of exported records meets this store under the import rules of SPEC 8.3,
 * the ones `sessions import` applies (src/sessions/imported.ts): a record whose id is free
 * is written as it is, one whose event is stored brings what the stored one lacks, one whose
 * id belongs to another event is renumbered. Sending a batch again changes nothing.
 */
import { ImportSessionsSchema, parseImportArgs } from "../../sessions/import_args.ts";
import { defineTool, IDEMPOTENT_WRITE } from "../define_tool.ts";
import { ImportResultSchema } from "../results.ts";

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
    const outcomes = await deps.store.importRecords(records, {
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
