/** The reading tools and the heartbeat: sessions as data. */
import {
  decodeCursor,
  encodeCursor,
  type SessionFilter,
  statsOf,
  statsWindow,
  viewOf,
} from "../sessions/query.ts";
import {
  GetSessionSchema,
  HeartbeatSchema,
  ListSessionsSchema,
  parseArgs,
  SessionStatsSchema,
} from "../sessions/query_args.ts";
import { instantMs } from "../sessions/timestamp.ts";
import { publishedSchema } from "./results.ts";
import type { RequestContext } from "./rpc.ts";
import { argOf, authenticate, type ServerDeps, storeReason, type Tool } from "./tool.ts";

const READ_ONLY = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
};

/** Builds `get_session`, `list_sessions`, `session_stats` and `track_session_heartbeat`. */
export function readingTools(deps: ServerDeps): Tool[] {
  const { store, log } = deps;

  /** Checks the token; on failure returns the contract's text (already logged). */
  async function authError(
    tool: string,
    args: unknown,
    context: RequestContext,
  ): Promise<string | null> {
    const auth = await authenticate(deps, tool, args, context);
    return auth.ok ? null : auth.error;
  }

  function failure(
    prefix: string,
    reason: string,
    level: "warning" | "error" | "debug" = "warning",
  ) {
    const error = `${prefix}: ${reason}`;
    log[level](error);
    return error;
  }

  async function getSession(args: unknown, context: RequestContext) {
    const denied = await authError("get_session", args, context);
    if (denied) return { status: "error", session: null, error: denied };
    const parsed = parseArgs(GetSessionSchema, args);
    if (!parsed.ok) {
      return {
        status: "error",
        session: null,
        error: failure("Session lookup failed", parsed.reason),
      };
    }
    try {
      const found = await store.get(parsed.value.session_id);
      if (!found) return { status: "not_found", session: null, error: null };
      return {
        status: "found",
        session: viewOf(found, deps.now().getTime(), deps.staleAfterMs),
        error: null,
      };
    } catch (error) {
      return {
        status: "error",
        session: null,
        error: failure("Session lookup failed", storeReason(error), "error"),
      };
    }
  }

  async function listSessions(args: unknown, context: RequestContext) {
    const fail = (reason: string, level?: "error" | "debug") => ({
      status: "error",
      sessions: [],
      next_cursor: null,
      error: failure("Session listing failed", reason, level),
    });
    const denied = await authError("list_sessions", args, context);
    if (denied) return { status: "error", sessions: [], next_cursor: null, error: denied };
    const parsed = parseArgs(ListSessionsSchema, args);
    if (!parsed.ok) return fail(parsed.reason);
    const a = parsed.value;
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
    try {
      // A cursor names the last session of a page it belongs to; one that names no such
      // session was not made by this server for this listing.
      if (position && !(await store.isListPosition(position, filter))) {
        return fail("Invalid cursor: it does not point into this listing");
      }
      const page = await store.list(
        filter,
        a.limit,
        position,
        deps.now().getTime(),
        deps.staleAfterMs,
        undefined,
        context.signal,
      );
      return {
        status: "ok",
        sessions: page.sessions,
        next_cursor: page.next ? encodeCursor(page.next, filter) : null,
        error: null,
      };
    } catch (error) {
      // A cancelled listing is nobody's failure: its answer is never sent.
      if (context.signal?.aborted) return fail("cancelled by the client", "debug");
      return fail(storeReason(error), "error");
    }
  }

  async function sessionStats(args: unknown, context: RequestContext) {
    const fail = (reason: string, level?: "error") => ({
      status: "error",
      groups: [],
      error: failure("Session stats failed", reason, level),
    });
    const denied = await authError("session_stats", args, context);
    if (denied) return { status: "error", groups: [], error: denied };
    const parsed = parseArgs(SessionStatsSchema, args);
    if (!parsed.ok) return fail(parsed.reason);
    const nowMs = deps.now().getTime();
    const { since, until, group_by } = parsed.value;
    const { sinceMs, untilMs } = statsWindow(instantMs(since), instantMs(until), nowMs);
    try {
      const records = store.range(sinceMs, untilMs);
      const groups = await statsOf(records, group_by, nowMs, deps.staleAfterMs, context.signal);
      return { status: "ok", groups, error: null };
    } catch (error) {
      return fail(storeReason(error), "error");
    }
  }

  async function heartbeat(args: unknown, context: RequestContext) {
    const given = argOf(args, "session_id");
    const echo = typeof given === "string" ? given : null;
    const denied = await authError("track_session_heartbeat", args, context);
    if (denied) return { session_id: null, status: "error", error: denied };
    const parsed = parseArgs(HeartbeatSchema, args);
    if (!parsed.ok) {
      return {
        session_id: echo,
        status: "error",
        error: failure("Session heartbeat failed", parsed.reason),
      };
    }
    const id = parsed.value.session_id;
    try {
      const outcome = await store.heartbeat(id, deps.now());
      if (outcome === "ended") {
        return {
          session_id: id,
          status: "error",
          error: failure("Session heartbeat failed", `session ${id} has already ended`),
        };
      }
      if (outcome === "alive") log.debug(`Session heartbeat: session_id=${id}`);
      return { session_id: id, status: outcome, error: null };
    } catch (error) {
      return {
        session_id: echo,
        status: "error",
        error: failure("Session heartbeat failed", storeReason(error), "error"),
      };
    }
  }

  return [
    {
      definition: {
        name: "get_session",
        title: "Get one session",
        description:
          'Look up one admin shell session by its session_id. Returns {status: "found"|"not_found"|"error", session, error}; ' +
          "the session record holds who (user, hostname, tracked_by), what (component_name, shell_type, pid), when (started_at, ended_at, last_seen_at), duration_seconds and status (active, ended or stale).",
        inputSchema: publishedSchema("get_session", "input"),
        outputSchema: publishedSchema("get_session", "output"),
        annotations: { title: "Get one session", ...READ_ONLY },
      },
      run: getSession,
    },
    {
      definition: {
        name: "list_sessions",
        title: "List sessions",
        description:
          "List admin shell sessions, newest start first. Filters combine: status, component_name, hostname, username, and since (inclusive) / until (exclusive) on the start time. " +
          "Pages hold up to `limit` sessions (default 50); when next_cursor is not null, call again with the same filters and cursor=next_cursor for the next page. " +
          "A page may hold fewer than `limit` sessions even when more follow.",
        inputSchema: publishedSchema("list_sessions", "input"),
        outputSchema: publishedSchema("list_sessions", "output"),
        annotations: { title: "List sessions", ...READ_ONLY },
      },
      run: listSessions,
    },
    {
      definition: {
        name: "session_stats",
        title: "Session statistics",
        description:
          "Count sessions started in a time range (default: the last 24 hours) per component, hostname or username: how many are active, ended and stale, " +
          "and the mean, median (p50) and p95 duration in seconds of the ended ones (nearest rank).",
        inputSchema: publishedSchema("session_stats", "input"),
        outputSchema: publishedSchema("session_stats", "output"),
        annotations: { title: "Session statistics", ...READ_ONLY },
      },
      run: sessionStats,
    },
    {
      definition: {
        name: "track_session_heartbeat",
        title: "Track admin shell heartbeat",
        description:
          "Tell the server an admin shell session is still alive, so a long session is not reported stale. Call every few minutes with the session_id from track_session_start. " +
          'Returns {session_id, status: "alive"|"not_found"|"error", error}.',
        inputSchema: publishedSchema("track_session_heartbeat", "input"),
        outputSchema: publishedSchema("track_session_heartbeat", "output"),
        annotations: {
          title: "Track admin shell heartbeat",
          readOnlyHint: false,
          destructiveHint: false,
          idempotentHint: true,
          openWorldHint: false,
        },
      },
      run: heartbeat,
    },
  ];
}
