/** `list_sessions`: sessions page by page, newest start first (SPEC 3.3). */
import { decodeCursor, encodeCursor, type SessionFilter } from "../../sessions/query.ts";
import { ListSessionsSchema } from "../../sessions/query_args.ts";
import { instantMs } from "../../sessions/timestamp.ts";
import { defineTool, READ_ONLY } from "../define_tool.ts";
import { ListResultSchema } from "../results.ts";

/** The listing tool. */
export const listSessions = defineTool({
  name: "list_sessions",
  title: "List sessions",
  description:
    "List admin shell sessions, newest start first. Filters combine: status, component_name, hostname, username, and since (inclusive) / until (exclusive) on the start time. " +
    "Pages hold up to `limit` sessions (default 50); when next_cursor is not null, call again with the same filters and cursor=next_cursor for the next page. " +
    "A page may hold fewer than `limit` sessions even when more follow.",
  annotations: READ_ONLY,
  input: ListSessionsSchema,
  output: ListResultSchema,
  errorPrefix: "Session listing failed",
  errorResult: (error) => ({ status: "error", sessions: [], next_cursor: null, error }),
  cancellable: true,
  async run(a, { deps, signal, fail }) {
    const filter: SessionFilter = {
      status: a.status,
      component_name: a.component_name,
      hostname: a.hostname,
      username: a.username,
      sinceMs: instantMs(a.since),
      untilMs: instantMs(a.until),
    };
    const position = a.cursor ? decodeCursor(a.cursor, filter) : null;
    if (typeof position === "string") return fail(position);
    // A cursor names the last session of a page it belongs to; one that names no such
    // session was not made by this server for this listing.
    if (position && !(await deps.store.isListPosition(position, filter))) {
      return fail("Invalid cursor: it does not point into this listing");
    }
    const page = await deps.store.list(
      filter,
      a.limit,
      position,
      deps.now().getTime(),
      deps.staleAfterMs,
      undefined,
      signal,
    );
    return {
      status: "ok",
      sessions: page.sessions,
      next_cursor: page.next ? encodeCursor(page.next, filter) : null,
      error: null,
    };
  },
});
