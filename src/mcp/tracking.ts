/** The seed's two tracking tools: `track_session_start` and `track_session_end`. */
import { parseEndEvent, parseStartEvent } from "../sessions/events.ts";
import { type EndResult, publishedSchema, type StartResult } from "./results.ts";
import type { RequestContext } from "./rpc.ts";
import { argOf, authenticate, type ServerDeps, storeReason, type Tool } from "./tool.ts";

/** Builds the tracking tools. */
export function trackingTools(deps: ServerDeps): Tool[] {
  const { store, log } = deps;

  async function trackStart(args: unknown, context: RequestContext): Promise<StartResult> {
    const fail = (reason: string, level: "warning" | "error" = "warning"): StartResult => {
      const error = `Session start tracking failed: ${reason}`;
      log[level](error);
      return { session_id: null, status: "error", error };
    };
    const auth = await authenticate(deps, "track_session_start", args, context);
    if (!auth.ok) return { session_id: null, status: "error", error: auth.error };
    const parsed = parseStartEvent(args);
    if (!parsed.ok) return fail(parsed.reason);
    const event = parsed.value;
    let outcome;
    try {
      outcome = await store.start(event, auth.trackedBy, deps.now());
    } catch (error) {
      return fail(storeReason(error), "error");
    }
    switch (outcome.kind) {
      case "tracked":
        log.info(
          `Session start tracked: session_id=${outcome.record.session_id}, component=${event.component_name}, shell_type=${event.shell_type}, pid=${event.pid}, status=tracked`,
        );
        return { session_id: outcome.record.session_id, status: "tracked", error: null };
      case "replayed":
        log.debug(
          `Session start retried: event_id=${event.event_id}, session_id=${outcome.sessionId}`,
        );
        return { session_id: outcome.sessionId, status: "tracked", error: null };
      case "conflict":
        return fail(
          `event_id ${event.event_id} already belongs to session ${outcome.sessionId} with different event data`,
        );
    }
  }

  async function trackEnd(args: unknown, context: RequestContext): Promise<EndResult> {
    const given = argOf(args, "session_id");
    const echo = typeof given === "string" ? given : null;
    const fail = (reason: string, level: "warning" | "error" = "warning"): EndResult => {
      const error = `Session end tracking failed: ${reason}`;
      log[level](error);
      return { session_id: echo, status: "error", error };
    };
    const auth = await authenticate(deps, "track_session_end", args, context);
    if (!auth.ok) return { session_id: null, status: "error", error: auth.error };
    const parsed = parseEndEvent(args);
    if (!parsed.ok) return fail(parsed.reason);
    const event = parsed.value;
    let outcome;
    try {
      outcome = await store.end(event);
    } catch (error) {
      return fail(storeReason(error), "error");
    }
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
  }

  return [
    {
      definition: {
        name: "track_session_start",
        title: "Track admin shell session start",
        description:
          "Record that an admin shell session has started. Call once when the shell starts, with a fresh UUID v4 as event_id; " +
          "keep the returned session_id and pass it to track_session_end when the shell exits. " +
          "Retrying with the same event_id is safe: it returns the same session_id. " +
          'Returns {session_id, status: "tracked"|"error", error}; on "error", `error` says which field was wrong.',
        inputSchema: publishedSchema("track_session_start", "input"),
        outputSchema: publishedSchema("track_session_start", "output"),
        annotations: {
          title: "Track admin shell session start",
          readOnlyHint: false,
          destructiveHint: false,
          idempotentHint: true,
          openWorldHint: false,
        },
      },
      run: trackStart,
    },
    {
      definition: {
        name: "track_session_end",
        title: "Track admin shell session end",
        description:
          "Record that an admin shell session has ended. Call once when the shell exits, with the session_id that " +
          "track_session_start returned. Ending an already ended session is safe and keeps the first end. " +
          'Returns {session_id, status: "ended"|"not_found"|"error", error}.',
        inputSchema: publishedSchema("track_session_end", "input"),
        outputSchema: publishedSchema("track_session_end", "output"),
        annotations: {
          title: "Track admin shell session end",
          readOnlyHint: false,
          destructiveHint: false,
          idempotentHint: true,
          openWorldHint: false,
        },
      },
      run: trackEnd,
    },
  ];
}
