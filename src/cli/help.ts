/** The text of `session-buddy --help`. */

/** Renders the help text, naming the default store for this machine. */
export function helpText(version: string, defaultDb: string | null): string {
  const store = defaultDb ?? "(none: HOME is not set, so SESSION_BUDDY_DB is required)";
  return `session-buddy ${version}
Tracks admin shell sessions for MCP clients: verifies their JWTs and records each
session's start and end in a Deno KV store.

Usage:
  session-buddy [serve] [options]   run the MCP server on stdin/stdout (the default)
  session-buddy serve --http [HOST:]PORT [--tls-cert FILE --tls-key FILE]
                      [--allowed-origin ORIGIN]... [--allowed-host NAME]... [--plain-http]
                                    serve MCP over Streamable HTTP at /mcp, with
                                    /healthz and /metrics (HOST: 127.0.0.1)
  session-buddy token [--user NAME] [--ttl 24h] [--secret-file FILE]
                                    print a JWT signed with the secret
  session-buddy secret              print a new random secret (32 bytes, base64url)
  session-buddy sessions [list] [--status active|ended|stale|all] [--component C]
                         [--host H] [--user U] [--since T] [--until T] [--limit N] [--json]
  session-buddy sessions show ID [--json]
  session-buddy sessions tail [--json]       follow starts and ends as they happen
  session-buddy sessions reap [--older-than 12h] [--retention 90d] [--json]
                                    end sessions not seen for that long (default:
                                    the stale-after period), as the reaper; with
                                    --retention also prune what ended before that
  session-buddy sessions export [--since T] [--until T]
                                    every session started in the range, as NDJSON;
                                    a whole store's export carries its history
  session-buddy sessions verify [--verification-key KEY] [--file EXPORT] [--json]
                                    prove the history untouched: exit 0 with what was
                                    proved, 1 naming every problem
  session-buddy sessions prune --before T [--json]
                                    remove sessions ended before T, leaving tombstone
                                    entries so the history still verifies
  session-buddy sessions import [FILE|-] [--json]
                                    write exported NDJSON into --db under the import
                                    rules (nothing is dropped): export | import moves
                                    a store
  session-buddy stats [--group-by component|hostname|username] [--since T]
                      [--until T] [--json]
  session-buddy forward (--collector URL | --to-db LOCATION) [--once] [--batch-size N]
                                    send --db's sessions (starts, heartbeats, ends) to
                                    the fleet: a collector's /mcp, or a store; runs
                                    until SIGTERM, or with --once until all is sent
  session-buddy forward --status [--json]    what waits to be forwarded, and since when
  session-buddy seal init --key-file PATH
                                    create a sealing key (0600, never overwritten) and
                                    print its verification key once: keep it elsewhere
  session-buddy --help | --version

  T is an ISO 8601 time (2026-02-06T12:00:00Z) or a duration ago (90m, 24h, 7d).
  Lists show the newest start first; stats cover the last 24 hours unless told.
  --json prints one JSON record per line for lists, the tool's result otherwise.

Options (each also an environment variable; the flag wins):
  --db PATH|URL        SESSION_BUDDY_DB          store: a file path, :memory:, or
                                                 postgres://USER@HOST[:PORT]/DB
                                                 [?sslmode=disable|require|verify-full]
                                                 [&host=/socket/folder], or a KV Connect
                                                 https://... (http:// on loopback)
                                                 default: ${store}
  --db-ca FILE         SESSION_BUDDY_DB_CA       PEM CA of the PostgreSQL server's cert
  -                    SESSION_BUDDY_DB_PASSWORD PostgreSQL password, if not in the URL
  -                    DENO_KV_ACCESS_TOKEN      access token of a KV Connect store
  --log-file PATH      SESSION_BUDDY_LOG_FILE    also append log lines to this file
  --log-level LEVEL    SESSION_BUDDY_LOG_LEVEL   debug, info, warning, error (default info)
  --stale-after DUR    SESSION_BUDDY_STALE_AFTER active sessions unseen this long are stale
                                                 (90m, 12h, 7d; default 12h)
  -                    SESSION_BUDDY_SECRET      HS256 secret, at least 32 characters;
                                                 set = every call needs a token
  --secret-file FILE   SESSION_BUDDY_SECRET_FILE the secret is this file's first line
                                                 (not together with SESSION_BUDDY_SECRET)
  --require-auth       SESSION_BUDDY_REQUIRE_AUTH=1  refuse to start without a secret

serve --http options:
  --http [HOST:]PORT   SESSION_BUDDY_HTTP        listen there instead of stdio; a host
                                                 other than loopback needs TLS or
                                                 --plain-http
  --tls-cert FILE      SESSION_BUDDY_TLS_CERT    PEM certificate chain: serve HTTPS
  --tls-key FILE       SESSION_BUDDY_TLS_KEY     its PEM private key
  --allowed-origin O   SESSION_BUDDY_ALLOWED_ORIGINS (comma-separated)
                                                 a browser origin allowed to call; may
                                                 repeat (loopback origins need none)
  --allowed-host NAME  SESSION_BUDDY_ALLOWED_HOSTS (comma-separated)
                                                 a Host name a loopback listener also
                                                 answers: the name a proxy in front
                                                 forwards; may repeat
  --plain-http         -                         plain HTTP on a non-loopback host, for a
                                                 TLS-terminating proxy in front

sealing (serve and forward):
  --seal-key-file FILE SESSION_BUDDY_SEAL_KEY_FILE  seal the history with this key (from
                                                 seal init) every period, then move the
                                                 key forward one-way
  --seal-every DUR     SESSION_BUDDY_SEAL_EVERY  the period (1s to 24h; default 15m)

forward options:
  --collector URL      -                         a collector's MCP endpoint
                                                 (http(s)://HOST[:PORT]/mcp)
  -                    SESSION_BUDDY_FORWARD_TOKEN  the collector's bearer token (a JWT
                                                 from its secret: session-buddy token)
  --forward-token-file FILE                      the token is this file's first line
  --to-db LOCATION     -                         a store to write to directly (as --db);
                                                 --db-ca and SESSION_BUDDY_DB_PASSWORD
                                                 then apply to it
  --batch-size N       -                         records per delivery (1-1000, default 500)

stdout carries MCP messages only (stdio mode); log lines go to stderr and the log file.
Colour is used only on a terminal, and never when NO_COLOR is set.
Exit status: 0 success, 1 runtime failure (store or log cannot be opened,
unknown session), 2 usage error.
`;
}
