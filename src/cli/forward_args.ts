/**
 * `session-buddy forward`'s command line (SPEC 8.7): where to send (`--collector URL` or
 * `--to-db LOCATION`), how (`--once`, `--batch-size`), or `--status [--json]`. The token
 * for a collector comes from `SESSION_BUDDY_FORWARD_TOKEN` or `--forward-token-file`,
 * read here by the outer process and handed to the Worker, which reads no file and no
 * variable.
 */
import { absolute } from "../path.ts";
import { parseLocation } from "../store/location.ts";
import type { StoreLocation } from "../store/location.ts";
import { UsageError } from "../usage_error.ts";
import { StartupError } from "../config.ts";
import { allowOnly, type Flags } from "./flags.ts";

/** Where forwarded records go. */
export type ForwardTargetSpec =
  | { kind: "collector"; url: string }
  | { kind: "store"; location: StoreLocation };

/** What `forward` was asked to do. */
export type ForwardCommand =
  | { mode: "status"; json: boolean }
  | { mode: "send"; target: ForwardTargetSpec; once: boolean; batch: number };

/** Records per delivery unless `--batch-size` says otherwise. */
export const DEFAULT_BATCH = 500;
/** The largest batch a collector's `import_sessions` takes. */
export const MAX_BATCH = 1000;

/** Reads `forward`'s words after the command name and its flags. */
export function parseForwardCommand(rest: string[], flags: Flags, cwd: string): ForwardCommand {
  if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]!.slice(0, 64)}'`);
  if (flags["--status"] === "true") {
    allowOnly("forward --status", flags, ["--status", "--json"]);
    return { mode: "status", json: flags["--json"] === "true" };
  }
  allowOnly("forward", flags, [
    "--collector",
    "--to-db",
    "--once",
    "--batch-size",
    "--forward-token-file",
    "--seal-key-file",
    "--seal-every",
  ]);
  const collector = flags["--collector"];
  const toDb = flags["--to-db"];
  if ((collector === undefined) === (toDb === undefined)) {
    throw new UsageError("forward needs one target: --collector URL or --to-db LOCATION");
  }
  if (toDb !== undefined && flags["--forward-token-file"] !== undefined) {
    throw new UsageError("--forward-token-file is for --collector (a store is reached directly)");
  }
  const target: ForwardTargetSpec = collector !== undefined
    ? { kind: "collector", url: collectorUrl(collector) }
    : { kind: "store", location: parseLocation(toDb!, cwd, "--to-db") };
  const batchText = flags["--batch-size"] ?? String(DEFAULT_BATCH);
  const batch = /^\d{1,4}$/.test(batchText) ? Number(batchText) : NaN;
  if (!(batch >= 1 && batch <= MAX_BATCH)) {
    throw new UsageError(
      `invalid --batch-size '${batchText.slice(0, 16)}': use a whole number from 1 to ${MAX_BATCH}`,
    );
  }
  return { mode: "send", target, once: flags["--once"] === "true", batch };
}

/**
 * A collector's MCP endpoint: `http(s)://host[:port]/path`, `/mcp` when no path is given.
 * Credentials in the URL are refused (the token travels as a bearer, from its own place).
 */
export function collectorUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new UsageError(
      `invalid --collector '${text.slice(0, 64)}': use http(s)://HOST[:PORT]/mcp`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`invalid --collector: use an http:// or https:// URL`);
  }
  if (url.username || url.password) {
    throw new UsageError(
      "--collector must not carry credentials: give the token in SESSION_BUDDY_FORWARD_TOKEN or --forward-token-file",
    );
  }
  if (url.pathname === "/") url.pathname = "/mcp";
  url.hash = "";
  return url.href;
}

/**
 * The bearer token for a collector: `--forward-token-file` (its first line) or
 * `SESSION_BUDDY_FORWARD_TOKEN`; null when neither is given (a collector without a secret).
 */
export function readForwardToken(
  flags: Flags,
  env: Record<string, string | undefined>,
  cwd: string,
  readTextFile?: (path: string) => string,
): string | null {
  const file = flags["--forward-token-file"];
  const fromEnv = env.SESSION_BUDDY_FORWARD_TOKEN || null;
  if (file === undefined) return fromEnv?.trim() || null;
  if (fromEnv !== null) {
    throw new UsageError(
      "SESSION_BUDDY_FORWARD_TOKEN and --forward-token-file are both set: use one",
    );
  }
  const path = absolute(file, cwd);
  let text: string;
  try {
    if (!readTextFile) throw new Error("no file access");
    text = readTextFile(path);
  } catch (error) {
    throw new StartupError(
      `cannot read the token file ${path}: ${error instanceof Error ? error.name : "error"}`,
    );
  }
  const token = text.split("\n", 1)[0]!.trim();
  if (token === "") {
    throw new UsageError(`the token file ${path} is empty: its first line is the token`);
  }
  return token;
}
