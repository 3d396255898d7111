/** The text of `session-buddy --help`. */

/** Renders the help text, naming the default store for this machine. */
export function helpText(version: string, defaultDb: string | null): string {
  const store = defaultDb ?? "(none: HOME is not set, so SESSION_BUDDY_DB is required)";
  return `session-buddy ${version}
Tracks admin shell sessions for MCP clients: verifies their JWTs and records each
session's start and end in a Deno KV store.

Usage:
  session-buddy [serve] [options]   run the MCP server on stdin/stdout (the default)
  session-buddy --help              show this help
  session-buddy --version           show the version

Options (each also an environment variable; the flag wins):
  --db PATH            SESSION_BUDDY_DB          store: a file path or :memory:
                                                 default: ${store}
  --log-file PATH      SESSION_BUDDY_LOG_FILE    also append log lines to this file
  --log-level LEVEL    SESSION_BUDDY_LOG_LEVEL   debug, info, warning, error (default info)
  --stale-after DUR    SESSION_BUDDY_STALE_AFTER active sessions unseen this long are stale
                                                 (90m, 12h, 7d; default 12h)
  -                    SESSION_BUDDY_SECRET      HS256 secret, at least 32 characters;
                                                 set = every call needs a token

stdout carries MCP messages only; log lines go to stderr and the log file.
Exit status: 0 success, 1 runtime failure (store or log cannot be opened), 2 usage error.
`;
}
