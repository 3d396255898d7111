/**
 * `GET /metrics` (SPEC 8.2), once its method and bearer token have passed: the Prometheus
 * text exposition, with the open sessions counted from the store at scrape time.
 */
import type { Log } from "../log.ts";
import type { Metrics, OpenSessions, Snapshot } from "../metrics.ts";
import type { ForwardBacklog } from "../store/port.ts";
import { AUTH_PREFIX } from "../mcp/results.ts";
import { reportedStatus } from "../sessions/query.ts";
import type { SessionRecord } from "../sessions/session.ts";
import { text } from "./_response.ts";
import { CHALLENGE } from "./bearer.ts";
import type { Next } from "./compose.ts";

/** What the metrics route is built from. */
export interface MetricsRouteOptions {
  metrics: Pick<Metrics, "render">;
  store: {
    /** Every session not ended, from every process writing the store. */
    active(): AsyncIterable<SessionRecord>;
    /** What waits for `session-buddy forward` (absent or null: not forwarded from). */
    forwardBacklog?(): Promise<ForwardBacklog | null>;
  };
  log: Pick<Log, "error">;
  now: () => Date;
  staleAfterMs: number;
  version: string;
  /** Seconds since the epoch at which the process started. */
  startSeconds: number;
  rssBytes: () => number;
}

/** The 401 of `/metrics` for a scrape without a token while a secret is set. */
export function tokenRequired(): Response {
  return text(401, `${AUTH_PREFIX}a bearer token is required (SESSION_BUDDY_SECRET is set)\n`, {
    "www-authenticate": CHALLENGE,
  });
}

/** Builds the `/metrics` route. */
export function metricsRoute(options: MetricsRouteOptions): Next {
  return async () => {
    let openSessions: OpenSessions[];
    let forward: Snapshot["forward"] = null;
    const nowMs = options.now().getTime();
    try {
      openSessions = await countOpen(options.store, nowMs, options.staleAfterMs);
      const backlog = await options.store.forwardBacklog?.();
      if (backlog) {
        const age = backlog.oldestAt === null ? 0 : (nowMs - backlog.oldestAt) / 1000;
        forward = { waiting: backlog.waiting, oldestAgeSeconds: age };
      }
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      options.log.error(`Metrics scrape failed: store error: ${reason}`);
      return text(503, `store unavailable: ${reason}\n`);
    }
    const body = options.metrics.render({
      version: options.version,
      openSessions,
      rssBytes: options.rssBytes(),
      startSeconds: options.startSeconds,
      forward,
    });
    return text(200, body, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  };
}

/** Sessions not ended, per component, by reported status: O(open sessions). */
export async function countOpen(
  store: MetricsRouteOptions["store"],
  nowMs: number,
  staleAfterMs: number,
): Promise<OpenSessions[]> {
  const counts = new Map<string, OpenSessions>();
  for await (const record of store.active()) {
    let row = counts.get(record.component_name);
    if (!row) {
      counts.set(
        record.component_name,
        row = { component: record.component_name, active: 0, stale: 0 },
      );
    }
    const status = reportedStatus(record, nowMs, staleAfterMs);
    if (status === "active" || status === "stale") {
      row[status]++;
      const age = (nowMs - Date.parse(record.started_at)) / 1000;
      if (Number.isFinite(age)) row.oldestSeconds = Math.max(row.oldestSeconds ?? 0, age);
    }
  }
  return [...counts.values()];
}
