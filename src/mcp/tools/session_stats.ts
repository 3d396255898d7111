/** `session_stats`: counts and durations of sessions per group (SPEC 3.3). */
import { statsOf, statsWindow } from "../../sessions/query.ts";
import { SessionStatsSchema } from "../../sessions/query_args.ts";
import { instantMs } from "../../sessions/timestamp.ts";
import { defineTool, READ_ONLY } from "../define_tool.ts";
import { StatsResultSchema } from "../results.ts";

/** The statistics tool; `session-buddy stats` counts the same window. */
export const sessionStats = defineTool({
  name: "session_stats",
  title: "Session statistics",
  description:
    "Count sessions started in a time range (default: the last 24 hours) per component, hostname or username: how many are active, ended and stale, " +
    "and the mean, median (p50) and p95 duration in seconds of the ended ones (nearest rank).",
  annotations: READ_ONLY,
  input: SessionStatsSchema,
  output: StatsResultSchema,
  errorPrefix: "Session stats failed",
  errorResult: (error) => ({ status: "error", groups: [], error }),
  async run({ since, until, group_by }, { deps, signal }) {
    const nowMs = deps.now().getTime();
    const { sinceMs, untilMs } = statsWindow(instantMs(since), instantMs(until), nowMs);
    const records = deps.store.range(sinceMs, untilMs);
    const groups = await statsOf(records, group_by, nowMs, deps.staleAfterMs, signal);
    return { status: "ok", groups, error: null };
  },
});
