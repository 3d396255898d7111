/** `track_session_start`: records that an admin shell started (SPEC 3.1). */
import { parseStartEvent, SessionStartSchema } from "../../sessions/events.ts";
import { defineTool, IDEMPOTENT_WRITE } from "../define_tool.ts";
import { StartResultSchema } from "../results.ts";

/** The seed's start tool. */
export const trackSessionStart = defineTool({
  name: "track_session_start",
  title: "Track admin shell session start",
  description:
    "Record that an admin shell session has started. Call once when the shell starts, with a fresh UUID v4 as event_id; " +
    "keep the returned session_id and pass it to track_session_end when the shell exits. " +
    "Retrying with the same event_id is safe: it returns the same session_id. " +
    'Returns {session_id, status: "tracked"|"error", error}; on "error", `error` says which field was wrong.',
  annotations: IDEMPOTENT_WRITE,
  input: SessionStartSchema,
  output: StartResultSchema,
  parse: parseStartEvent,
  errorPrefix: "Session start tracking failed",
  errorResult: (error) => ({ session_id: null, status: "error", error }),
  async run(event, { deps, trackedBy, fail }) {
    const outcome = await deps.store.start(event, trackedBy, deps.now());
    switch (outcome.kind) {
      case "tracked":
        deps.log.info(
          `Session start tracked: session_id=${outcome.record.session_id}, component=${event.component_name}, shell_type=${event.shell_type}, pid=${event.pid}, status=tracked`,
        );
        return { session_id: outcome.record.session_id, status: "tracked", error: null };
      case "replayed":
        deps.log.debug(
          `Session start retried: event_id=${event.event_id}, session_id=${outcome.sessionId}`,
        );
        return { session_id: outcome.sessionId, status: "tracked", error: null };
      case "conflict":
        return fail(
          `event_id ${event.event_id} already belongs to session ${outcome.sessionId} with different event data`,
        );
    }
  },
});
