/** `track_session_heartbeat`: keeps a long session from being reported stale (SPEC 3.3). */
import { HeartbeatSchema } from "../../sessions/query_args.ts";
import { defineTool, IDEMPOTENT_WRITE } from "../define_tool.ts";
import { HeartbeatResultSchema } from "../results.ts";
import { givenSessionId } from "../tool.ts";

/** The heartbeat tool. */
export const trackSessionHeartbeat = defineTool({
  name: "track_session_heartbeat",
  title: "Track admin shell heartbeat",
  description:
    "Tell the server an admin shell session is still alive, so a long session is not reported stale. Call every few minutes with the session_id from track_session_start. " +
    'Returns {session_id, status: "alive"|"not_found"|"error", error}.',
  annotations: IDEMPOTENT_WRITE,
  input: HeartbeatSchema,
  output: HeartbeatResultSchema,
  errorPrefix: "Session heartbeat failed",
  errorResult: (error, args) => ({ session_id: givenSessionId(args), status: "error", error }),
  async run({ session_id: id }, { deps, fail }) {
    const outcome = await deps.store.heartbeat(id, deps.now());
    // The id as parsed (trimmed), not as given.
    if (outcome === "ended") return { ...fail(`session ${id} has already ended`), session_id: id };
    if (outcome === "alive") deps.log.debug(`Session heartbeat: session_id=${id}`);
    return { session_id: id, status: outcome, error: null };
  },
});
