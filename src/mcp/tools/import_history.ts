/**
 * `import_history`: a collector's side of forwarding a host's history (SPEC 10). The host's
 * entries and seals are kept as carried copies, never replacing one held already; one that
 * differs, or a head short of what was forwarded before, is kept as a conflict that
 * `sessions verify` names in the fleet's store.
 */
import { parseCarried } from "../../seal/carried.ts";
import { defineTool, IDEMPOTENT_WRITE } from "../define_tool.ts";
import { ImportHistorySchema } from "../../sessions/import_args.ts";
import { ImportHistoryResultSchema } from "../results.ts";

/** The history tool, for `session-buddy forward`. */
export const importHistory = defineTool({
  name: "import_history",
  title: "Import a host's history (forwarding)",
  description: "For `session-buddy forward` only; an admin shell never calls this. " +
    "Takes up to 1000 history entries and seals of a forwarding host's store, with the heads of its chains, and keeps them as that host's carried history, " +
    "so that the fleet's store can prove the host's sessions untouched (session-buddy sessions verify). " +
    "A copy held already is left as it is; one that differs, or a head behind what was sent before, is kept as a conflict. Sending the same again changes nothing. " +
    'Returns {status: "imported"|"error", written, unchanged, conflicts, error}.',
  annotations: IDEMPOTENT_WRITE,
  input: ImportHistorySchema,
  output: ImportHistoryResultSchema,
  parse: parseCarried,
  errorPrefix: "History import failed",
  errorResult: (error) => ({ status: "error", written: 0, unchanged: 0, conflicts: 0, error }),
  async run(history, { deps, fail }) {
    if (!deps.store.carryHistory) return fail("this store keeps no forwarded history");
    const outcome = await deps.store.carryHistory(history);
    const level = outcome.conflicts > 0 ? "warning" : "info";
    deps.log[level](
      `History imported: entries=${history.entries.length}, seals=${history.seals.length}, written=${outcome.written}, unchanged=${outcome.unchanged}, conflicts=${outcome.conflicts}`,
    );
    return { status: "imported", ...outcome, error: null };
  },
});
