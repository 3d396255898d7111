/**
 * The operator commands' grammar: `sessions list|show|tail|reap|export|import|verify|prune` and
 * `stats`, with their flags, read into a {@linkcode StoreCommand}. Plain data in; the
 * commands themselves run in `commands.ts`.
 */
import { isDuration, parseDuration } from "../duration.ts";
import { absolute } from "../path.ts";
import { parseInstant } from "../sessions/timestamp.ts";
import { UsageError } from "../usage_error.ts";
import { allowOnly, type Flags } from "./flags.ts";

/** `sessions list`. */
export interface ListCommand {
  name: "list";
  status: "active" | "ended" | "stale" | "all";
  component?: string;
  host?: string;
  user?: string;
  sinceMs?: number;
  untilMs?: number;
  limit: number;
}

/** `stats`. */
export interface StatsCommand {
  name: "stats";
  groupBy: "component" | "hostname" | "username";
  sinceMs?: number;
  untilMs?: number;
}

/** An operator command that reads (or, for reap, closes) sessions in the store. */
export type StoreCommand =
  | ListCommand
  | StatsCommand
  | { name: "show"; id: string }
  | { name: "tail" }
  /** `retentionMs`: also prune the sessions that ended longer ago than that. */
  | { name: "reap"; olderThanMs?: number; retentionMs?: number }
  /** `keys`: verification keys as given; `file`: an export to verify instead of the store. */
  | { name: "verify"; keys: string[]; file: string | null }
  | { name: "prune"; beforeMs: number }
  | { name: "export"; sinceMs?: number; untilMs?: number }
  /** `file`: an absolute path, or null for stdin (`-` or nothing). */
  | { name: "import"; file: string | null };

/**
 * Reads an instant for --since/--until: ISO 8601, or a duration meaning that long ago
 * (`24h`, `7d`).
 */
export function parseWhen(text: string, now: Date, flag: string): number {
  if (isDuration(text)) return now.getTime() - parseDuration(text, flag);
  const ms = parseInstant(text.trim());
  if (ms === null) {
    throw new UsageError(
      `invalid ${flag} '${
        text.slice(0, 64)
      }': use an ISO 8601 time (2026-02-06T12:00:00Z) or a duration ago (24h)`,
    );
  }
  return ms;
}

/**
 * Reads an operator command from the words after the program name (`rest`, flags taken
 * out) and the flags; `now` is the clock for `--since 24h`, `cwd` for an import's file.
 */
export function parseStoreCommand(
  rest: string[],
  flags: Flags,
  now: Date,
  cwd: string,
): { command: StoreCommand; json: boolean } {
  const json = flags["--json"] === "true";
  const [group, sub, arg, extra] = rest;
  const when = (flag: "--since" | "--until") =>
    flags[flag] === undefined ? undefined : parseWhen(flags[flag]!, now, flag);
  if (group === "stats") {
    allowOnly("stats", flags, ["--group-by", "--since", "--until", "--json"]);
    if (sub !== undefined) throw new UsageError(`unexpected argument '${sub.slice(0, 64)}'`);
    const groupBy = flags["--group-by"] ?? "component";
    if (!["component", "hostname", "username"].includes(groupBy)) {
      throw new UsageError(`invalid --group-by '${groupBy}': use component, hostname or username`);
    }
    return {
      command: {
        name: "stats",
        groupBy: groupBy as StatsCommand["groupBy"],
        sinceMs: when("--since"),
        untilMs: when("--until"),
      },
      json,
    };
  }
  const name = sub ?? "list";
  const surplus = name === "show" || name === "import" ? extra : arg;
  if (surplus !== undefined) throw new UsageError(`unexpected argument '${surplus.slice(0, 64)}'`);
  switch (name) {
    case "list": {
      allowOnly("sessions list", flags, [
        "--status",
        "--component",
        "--host",
        "--user",
        "--since",
        "--until",
        "--limit",
        "--json",
      ]);
      const status = flags["--status"] ?? "all";
      if (!["active", "ended", "stale", "all"].includes(status)) {
        throw new UsageError(`invalid --status '${status}': use active, ended, stale or all`);
      }
      const limit = Number(flags["--limit"] ?? "50");
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
        throw new UsageError(`invalid --limit '${flags["--limit"]}': use a whole number 1-500`);
      }
      return {
        command: {
          name: "list",
          status: status as ListCommand["status"],
          component: flags["--component"],
          host: flags["--host"],
          user: flags["--user"],
          sinceMs: when("--since"),
          untilMs: when("--until"),
          limit,
        },
        json,
      };
    }
    case "show":
      allowOnly("sessions show", flags, ["--json"]);
      if (!arg) throw new UsageError("sessions show needs a session id");
      return { command: { name: "show", id: arg }, json };
    case "tail":
      allowOnly("sessions tail", flags, ["--json"]);
      return { command: { name: "tail" }, json };
    case "reap": {
      allowOnly("sessions reap", flags, ["--older-than", "--retention", "--json"]);
      const olderThan = flags["--older-than"];
      const retention = flags["--retention"];
      return {
        command: {
          name: "reap",
          olderThanMs: olderThan === undefined
            ? undefined
            : parseDuration(olderThan, "--older-than"),
          retentionMs: retention === undefined
            ? undefined
            : parseDuration(retention, "--retention"),
        },
        json,
      };
    }
    case "verify": {
      allowOnly("sessions verify", flags, ["--verification-key", "--file", "--json"]);
      const given = flags["--verification-key"];
      if (given !== undefined && given.trim() === "") {
        throw new UsageError("--verification-key needs a value (sbvk1..., from seal init)");
      }
      const keys = given === undefined ? [] : given.split(",").map((k) => k.trim());
      const bad = keys.findIndex((k) => !/^sbvk1\.[0-9a-f]{16}\.[0-9a-f]{64}$/.test(k));
      if (bad >= 0) {
        // Never echo what was given: it may be a key with a typo in it.
        throw new UsageError(
          `invalid --verification-key (number ${
            bad + 1
          }): expected sbvk1.<16 hex>.<64 hex>, as seal init printed it`,
        );
      }
      const file = flags["--file"];
      if (file !== undefined && file.trim() === "") throw new UsageError("--file needs a value");
      return {
        command: {
          name: "verify",
          keys,
          file: file === undefined ? null : absolute(file, cwd),
        },
        json,
      };
    }
    case "prune": {
      allowOnly("sessions prune", flags, ["--before", "--json"]);
      const before = flags["--before"];
      if (before === undefined) {
        throw new UsageError(
          "sessions prune needs --before TIME (ISO 8601, or a duration ago such as 90d)",
        );
      }
      return { command: { name: "prune", beforeMs: parseWhen(before, now, "--before") }, json };
    }
    case "import":
      allowOnly("sessions import", flags, ["--json"]);
      return {
        command: {
          name: "import",
          file: arg === undefined || arg === "-" ? null : absolute(arg, cwd),
        },
        json,
      };
    case "export":
      // Export is NDJSON with or without --json, which every other list takes for it.
      allowOnly("sessions export", flags, ["--since", "--until", "--json"]);
      return {
        command: { name: "export", sinceMs: when("--since"), untilMs: when("--until") },
        json: true,
      };
    default:
      throw new UsageError(`unknown command 'sessions ${name.slice(0, 64)}'`);
  }
}
