/** `track_session_end`: records that an admin shell exited (SPEC 3.2). */
import { parseEndEvent, SessionEndSchema } from "../../sessions/events.ts";
import { defineTool, IDEMPOTENT_WRITE } from "../define_tool.ts";
import { EndResultSchema } from "../results.ts";
import { givenSessionId } from "../tool.ts";

/** The seed's end tool. */
export const trackSessionEnd = defineTool({
  name: "track_session_end",
  title: "Track admin shell session end",
  description:
    "Record that an admin shell session has ended. Call once when the shell exits, with the session_id that " +
    "track_session_start returned. Ending an already ended session is safe and keeps the first end. " +
    'Returns {session_id, status: "ended"|"not_found"|"error", error}.',
  annotations: IDEMPOTENT_WRITE,
  input: SessionEndSchema,
  output: EndResultSchema,
  parse: parseEndEvent,
  errorPrefix: "Session end tracking failed",
  errorResult: (error, args) => ({ session_id: givenSessionId(args), status: "error", error }),
  async run(event, { deps }) {
    const { log } = deps;
    const outcome = await deps.store.end(event);
    if (outcome.kind === "not_found") {
      log.warning(`Session end for unknown session: session_id=${event.session_id}`);
      return { session_id: event.session_id, status: "not_found", error: null };
    }
    if (!outcome.changed) {
      log.debug(`Session end repeated: session_id=${event.session_id}, first end kept`);
    } else {
      if (outcome.clamped) {
        log.warning(
          `Session end before its start: session_id=${event.session_id}, started_at=${outcome.record.started_at}, ended_at=${outcome.record.ended_at}; duration recorded as 0`,
        );
      }
      log.info(`Session end tracked: session_id=${event.session_id}, status=ended`);
    }
    return { session_id: event.session_id, status: "ended", error: null };
  },
});
