/** `get_session`: one session record by its id (SPEC 3.3). */
import { viewOf } from "../../sessions/query.ts";
import { GetSessionSchema } from "../../sessions/query_args.ts";
import { defineTool, READ_ONLY } from "../define_tool.ts";
import { GetResultSchema } from "../results.ts";

/** The lookup tool. */
export const getSession = defineTool({
  name: "get_session",
  title: "Get one session",
  description:
    'Look up one admin shell session by its session_id. Returns {status: "found"|"not_found"|"error", session, error}; ' +
    "the session record holds who (user, hostname, tracked_by), what (component_name, shell_type, pid), when (started_at, ended_at, last_seen_at), duration_seconds and status (active, ended or stale).",
  annotations: READ_ONLY,
  input: GetSessionSchema,
  output: GetResultSchema,
  errorPrefix: "Session lookup failed",
  errorResult: (error) => ({ status: "error", session: null, error }),
  async run({ session_id }, { deps }) {
    const found = await deps.store.get(session_id);
    if (!found) return { status: "not_found", session: null, error: null };
    const session = viewOf(found, deps.now().getTime(), deps.staleAfterMs);
    return { status: "found", session, error: null };
  },
});
