/** The operator commands that read the store (and `reap`, which closes stale sessions). */
import type { StoreCommand } from "./grammar.ts";
import { type SessionView, statsOf, statsWindow, viewOf } from "../sessions/query.ts";
import type { SessionStore } from "../store/port.ts";
import { formatDuration, formatLocal, paintStatus, table } from "./format.ts";
import { historyLines, pruneCommand, readExport, verifyCommand } from "./history.ts";
import { tail } from "./tail.ts";

/** What a command needs around it; `write` prints one line to stdout. */
export interface CommandContext {
  store: SessionStore;
  write: (line: string) => Promise<void>;
  now: () => Date;
  staleAfterMs: number;
  json: boolean;
  colour: boolean;
  /** Resolves when the operator interrupts a command that follows the store. */
  stopped?: Promise<void>;
  /** How often `tail` looks for news, in milliseconds. */
  pollMs?: number;
  /** The whole input of `sessions import` (its file, or stdin). */
  readInput?: () => Promise<string>;
  /** Tells the operator something on stderr (one line) while a command goes on. */
  warn?: (line: string) => Promise<void>;
}

/** A command's outcome: its exit status, and a message for stderr when it failed. */
export interface CommandOutcome {
  code: number;
  error?: string;
}

function sessionRows(views: SessionView[], colour: boolean): string {
  return table(
    ["SESSION", "STATUS", "USER", "HOST", "SHELL", "STARTED", "DURATION"],
    views.map((v) => [
      v.session_id,
      paintStatus(v.status, colour),
      v.user.username,
      v.hostname,
      v.shell_type,
      formatLocal(v.started_at),
      v.status === "ended"
        ? formatDuration(v.duration_seconds)
        : `${formatDuration((Date.now() - Date.parse(v.started_at)) / 1000)}+`,
    ]),
  );
}

/** Runs one store command. */
export async function runStoreCommand(
  command: StoreCommand,
  ctx: CommandContext,
): Promise<CommandOutcome> {
  const nowMs = ctx.now().getTime();
  switch (command.name) {
    case "list": {
      const page = await ctx.store.list(
        {
          status: command.status,
          component_name: command.component,
          hostname: command.host,
          username: command.user,
          sinceMs: command.sinceMs,
          untilMs: command.untilMs,
        },
        command.limit,
        null,
        nowMs,
        ctx.staleAfterMs,
        Number.MAX_SAFE_INTEGER,
      );
      if (ctx.json) {
        for (const v of page.sessions) await ctx.write(JSON.stringify(v));
      } else if (page.sessions.length === 0) {
        await ctx.write("No sessions match.");
      } else {
        await ctx.write(sessionRows(page.sessions, ctx.colour));
        if (page.next) await ctx.write(`(more: raise --limit or narrow with --since/--until)`);
      }
      return { code: 0 };
    }
    case "show": {
      const record = await ctx.store.get(command.id);
      if (!record) {
        if (ctx.json) {
          await ctx.write(JSON.stringify({ status: "not_found", session: null, error: null }));
        }
        return { code: 1, error: `no session '${command.id}'` };
      }
      const v = viewOf(record, nowMs, ctx.staleAfterMs);
      if (ctx.json) {
        await ctx.write(JSON.stringify({ status: "found", session: v, error: null }));
        return { code: 0 };
      }
      const rows: [string, string][] = [
        ["session", v.session_id],
        ["status", paintStatus(v.status, ctx.colour)],
        ["component", v.component_name],
        ["shell", `${v.shell_type} (pid ${v.pid})`],
        ["user", `${v.user.username} (${v.user.home})`],
        ["host", v.hostname],
        ["cwd", v.environment.cwd],
        ["platform", `${v.environment.platform}, runtime ${v.environment.python_version}`],
        ["started", formatLocal(v.started_at)],
        ["ended", formatLocal(v.ended_at)],
        ["duration", formatDuration(v.duration_seconds)],
        ["end source", v.end_source ?? "-"],
        ["last seen", formatLocal(v.last_seen_at)],
        ["tracked by", v.tracked_by ?? "-"],
        ["event id", v.event_id],
      ];
      if (v.origin_session_id) rows.splice(1, 0, ["origin id", v.origin_session_id]);
      if (v.metadata && Object.keys(v.metadata).length > 0) {
        rows.push(["metadata", JSON.stringify(v.metadata)]);
      }
      if (v.end_metadata) rows.push(["end metadata", JSON.stringify(v.end_metadata)]);
      const w = Math.max(...rows.map(([k]) => k.length));
      for (const [k, val] of rows) await ctx.write(`${k.padEnd(w)}  ${val}`);
      return { code: 0 };
    }
    case "stats": {
      const { sinceMs, untilMs } = statsWindow(command.sinceMs, command.untilMs, nowMs);
      const records = ctx.store.range(sinceMs, untilMs);
      const groups = await statsOf(records, command.groupBy, nowMs, ctx.staleAfterMs);
      if (ctx.json) {
        await ctx.write(JSON.stringify({ status: "ok", groups, error: null }));
        return { code: 0 };
      }
      if (groups.length === 0) {
        await ctx.write("No sessions started in that range.");
        return { code: 0 };
      }
      await ctx.write(table(
        [command.groupBy.toUpperCase(), "ACTIVE", "ENDED", "STALE", "MEAN", "P50", "P95"],
        groups.map((g) => [
          g.key,
          String(g.active),
          String(g.ended),
          String(g.stale),
          formatDuration(g.duration_seconds?.mean ?? null),
          formatDuration(g.duration_seconds?.p50 ?? null),
          formatDuration(g.duration_seconds?.p95 ?? null),
        ]),
      ));
      return { code: 0 };
    }
    case "export": {
      const untilMs = command.untilMs ?? nowMs + 1;
      const sinceMs = command.sinceMs ?? -62167219200000;
      for await (const r of ctx.store.range(sinceMs, untilMs)) {
        await ctx.write(JSON.stringify(viewOf(r, nowMs, ctx.staleAfterMs)));
      }
      // A whole store's export carries its history, so that it verifies offline (SPEC 10).
      const history = ctx.store.history?.();
      if (history && command.sinceMs === undefined && command.untilMs === undefined) {
        for await (const line of historyLines(history.source())) await ctx.write(line);
      }
      return { code: 0 };
    }
    case "reap": {
      const olderThan = command.olderThanMs ?? ctx.staleAfterMs;
      const reaped: SessionView[] = [];
      for await (const r of ctx.store.active()) {
        if (nowMs - Date.parse(r.last_seen_at) <= olderThan) continue;
        const outcome = await ctx.store.end(
          {
            session_id: r.session_id,
            timestamp: r.last_seen_at,
            event_type: "session_end",
            metadata: { reason: "reaped: not seen for longer than allowed" },
          },
          "reaper",
          ctx.now(),
        );
        if (outcome.kind === "ended" && outcome.changed) {
          reaped.push(viewOf(outcome.record, nowMs, ctx.staleAfterMs));
        }
      }
      if (ctx.json) {
        for (const v of reaped) await ctx.write(JSON.stringify(v));
      } else {
        await ctx.write(
          reaped.length === 0
            ? "No stale sessions to reap."
            : `Reaped ${reaped.length} session${reaped.length === 1 ? "" : "s"}:\n${
              sessionRows(reaped, ctx.colour)
            }`,
        );
      }
      if (command.retentionMs !== undefined && ctx.store.prune) {
        const { removed } = await ctx.store.prune(nowMs - command.retentionMs);
        if (removed > 0 && !ctx.json) {
          await ctx.write(`Pruned ${removed} session${removed === 1 ? "" : "s"} past retention.`);
        }
      }
      return { code: 0 };
    }
    case "verify":
      return await verifyCommand(ctx, command);
    case "prune":
      return await pruneCommand(ctx, command.beforeMs);
    case "tail":
      return await tail(ctx);
    case "import":
      return await importRecords(ctx);
  }
}

/**
 * `sessions import`: reads export NDJSON, checks every line before writing any, then brings
 * each record into the store (src/sessions/imported.ts: none is dropped). Running it twice
 * changes nothing the second time: every record is then `unchanged`.
 */
async function importRecords(ctx: CommandContext): Promise<CommandOutcome> {
  // An export's history lines belong to the store it came from: this store writes its own.
  const read = readExport(await ctx.readInput!());
  if (typeof read === "string") return { code: 1, error: `${read}; nothing was imported` };
  const { records } = read;
  const counts = { written: 0, renumbered: 0, updated: 0, unchanged: 0 };
  // In batches, as a collector takes them: outcomes as if one record after another.
  for (let i = 0; i < records.length; i += 1000) {
    const outcomes = await ctx.store.importRecords(records.slice(i, i + 1000));
    for (const outcome of outcomes) counts[outcome.kind]++;
  }
  if (ctx.json) {
    await ctx.write(JSON.stringify({ status: "ok", ...counts, error: null }));
  } else {
    const n = records.length;
    await ctx.write(
      `Imported ${n} session${
        n === 1 ? "" : "s"
      }: ${counts.written} written, ${counts.renumbered} ` +
        `renumbered, ${counts.updated} updated, ${counts.unchanged} unchanged`,
    );
  }
  return { code: 0 };
}
