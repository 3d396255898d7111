/** `sessions tail`: follows session starts and ends as they happen. */
import { type SessionView, viewOf } from "../sessions/query.ts";
import type { FeedEntry } from "../store/port.ts";
import type { CommandContext, CommandOutcome } from "./commands.ts";
import { formatDuration, formatLocal } from "./format.ts";

/**
 * Follows starts and ends from every process writing the store. KV `watch()` sees only
 * this process's writes, so the change feed is polled, looking back a little in case a
 * slower writer commits an entry stamped just before the last poll. A store that fails
 * (a database restarting) is said once on stderr and polled on until it answers again.
 */
export async function tail(ctx: CommandContext): Promise<CommandOutcome> {
  const LOOKBACK_MS = 5000;
  const seen = new Map<string, number>();
  let from = ctx.now().getTime();
  let running = true;
  let primed = false;
  let failing = false;
  ctx.stopped?.then(() => running = false);
  if (!ctx.json) await ctx.write("Following session starts and ends (Ctrl-C to stop)...");
  const poll = async () => {
    const entries = await ctx.store.feedSince(from - LOOKBACK_MS);
    for (const e of entries) {
      const key = `${e.at}|${e.sessionId}|${e.kind}`;
      if (seen.has(key)) continue;
      // What happened before the command started is history, not news.
      if (primed) {
        const record = await ctx.store.get(e.sessionId);
        if (record) {
          await ctx.write(tailLine(ctx, e, viewOf(record, ctx.now().getTime(), ctx.staleAfterMs)));
        }
      }
      seen.set(key, e.at);
      from = Math.max(from, e.at);
    }
    primed = true;
    for (const [key, at] of seen) if (at < from - 2 * LOOKBACK_MS) seen.delete(key);
  };
  while (running) {
    try {
      await poll();
      if (failing) await ctx.warn?.("the store answers again; following");
      failing = false;
    } catch (error) {
      if (!ctx.warn || error instanceof Deno.errors.BrokenPipe) throw error;
      if (!failing) {
        await ctx.warn(
          `the store failed (${
            error instanceof Error ? error.message : String(error)
          }); still following, trying again`,
        );
      }
      failing = true;
    }
    await Promise.race([
      new Promise((resolve) => setTimeout(resolve, ctx.pollMs ?? 500)),
      ctx.stopped,
    ]);
  }
  return { code: 0 };
}

/** One line of `sessions tail`. */
function tailLine(ctx: CommandContext, e: FeedEntry, v: SessionView): string {
  const at = new Date(e.at).toISOString();
  if (ctx.json) return JSON.stringify({ event: e.kind, at, session: v });
  return e.kind === "start"
    ? `${
      formatLocal(at)
    }  start  ${v.session_id}  ${v.user.username}@${v.hostname}  ${v.shell_type}`
    : `${formatLocal(at)}  end    ${v.session_id}  after ${formatDuration(v.duration_seconds)}`;
}
