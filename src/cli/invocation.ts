/**
 * The command line as a whole: which command, with which flags and environment, read into
 * an {@linkcode Invocation}. Plain data in; `main.ts` hands over argv and the environment.
 */
import {
  defaultDbPath,
  type Platform,
  readSecret,
  sealConfig,
  type ServeConfig,
  serveConfig,
  storeConfig,
} from "../config.ts";
import { parseDuration } from "../duration.ts";
import { absolute } from "../path.ts";
import { UsageError } from "../usage_error.ts";
import { allowOnly, readFlags } from "./flags.ts";
import { parseStoreCommand, type StoreCommand } from "./grammar.ts";
import { type ForwardCommand, parseForwardCommand, readForwardToken } from "./forward_args.ts";

/** What the command line asks for. */
export type Invocation =
  | { kind: "serve"; config: ServeConfig }
  | { kind: "help"; defaultDb: string | null }
  | { kind: "version" }
  | { kind: "secret" }
  | { kind: "token"; secret: string; user: string; ttlMs: number }
  | { kind: "seal-init"; keyFile: string }
  | { kind: "store"; command: StoreCommand; json: boolean; config: ServeConfig }
  | { kind: "forward"; command: ForwardCommand; token: string | null; config: ServeConfig };

/**
 * Reads the invocation from `args` (without the program name) and `env`.
 * Throws {@linkcode UsageError} for anything an operator must correct.
 */
export function parseInvocation(
  args: string[],
  env: Record<string, string | undefined>,
  platform: Platform,
): Invocation {
  const { flags, rest, repeated } = readFlags(args);
  if (rest.includes("--help") || rest.includes("-h") || rest[0] === "help") {
    return { kind: "help", defaultDb: defaultDbPath(env, platform.os) };
  }
  if (rest.includes("--version") || rest.includes("-V")) return { kind: "version" };
  const command = rest[0] ?? "serve";
  const now = platform.now ?? new Date();
  if (command === "secret") {
    allowOnly("secret", flags, []);
    if (rest.length > 1) throw new UsageError(`unexpected argument '${rest[1]!.slice(0, 64)}'`);
    return { kind: "secret" };
  }
  if (command === "token") {
    allowOnly("token", flags, ["--user", "--ttl", "--secret-file"]);
    if (rest.length > 1) throw new UsageError(`unexpected argument '${rest[1]!.slice(0, 64)}'`);
    const secret = readSecret(flags, env, platform);
    if (!secret) {
      throw new UsageError(
        "token needs a secret to sign with: SESSION_BUDDY_SECRET, SESSION_BUDDY_SECRET_FILE or --secret-file",
      );
    }
    const user = flags["--user"] ?? "admin-shell";
    if (user.trim() === "") throw new UsageError("--user needs a value");
    return { kind: "token", secret, user, ttlMs: parseDuration(flags["--ttl"] ?? "24h", "--ttl") };
  }
  if (command === "seal") {
    allowOnly("seal init", flags, ["--key-file"]);
    if (rest[1] !== "init") {
      throw new UsageError(
        rest[1] === undefined
          ? "seal needs a subcommand: seal init --key-file PATH"
          : `unknown command 'seal ${rest[1].slice(0, 64)}': use seal init --key-file PATH`,
      );
    }
    if (rest.length > 2) throw new UsageError(`unexpected argument '${rest[2]!.slice(0, 64)}'`);
    const file = flags["--key-file"];
    if (file === undefined || file.trim() === "") {
      throw new UsageError("seal init needs --key-file PATH: where to create the sealing key");
    }
    return { kind: "seal-init", keyFile: absolute(file, platform.cwd) };
  }
  if (command === "sessions" || command === "stats") {
    const { command: store, json } = parseStoreCommand(rest, flags, now, platform.cwd);
    return { kind: "store", command: store, json, config: storeConfig(flags, env, platform) };
  }
  if (command === "forward") {
    // `--db-ca` here is the CA of a `--to-db` PostgreSQL server: the local store is Deno KV.
    const { "--db-ca": ca, ...local } = flags;
    const forward = parseForwardCommand(rest.slice(1), flags, platform.cwd);
    const config = storeConfig(local, env, platform);
    config.seal = forward.mode === "send" ? sealConfig(flags, env, platform.cwd) : null;
    if (config.db.kind === "postgres") {
      throw new UsageError(
        "forward sends a Deno KV store's sessions (a file or KV Connect): a PostgreSQL store is a fleet store already",
      );
    }
    if (ca !== undefined) {
      if (
        forward.mode !== "send" || forward.target.kind !== "store" ||
        forward.target.location.kind !== "postgres"
      ) {
        throw new UsageError(
          "--db-ca is for a postgres:// --to-db (the CA of its server's certificate)",
        );
      }
      config.dbCa = absolute(ca, platform.cwd);
    }
    const token = forward.mode === "send" && forward.target.kind === "collector"
      ? readForwardToken(flags, env, platform.cwd, platform.readTextFile)
      : null;
    return { kind: "forward", command: forward, token, config };
  }
  if (command !== "serve") throw new UsageError(`unknown command '${command.slice(0, 64)}'`);
  if (rest.length > 1) throw new UsageError(`unexpected argument '${rest[1]!.slice(0, 64)}'`);
  allowOnly("serve", flags, [
    "--http",
    "--tls-cert",
    "--tls-key",
    "--allowed-origin",
    "--allowed-host",
    "--plain-http",
    "--secret-file",
    "--require-auth",
    "--seal-key-file",
    "--seal-every",
  ]);
  return { kind: "serve", config: serveConfig(flags, repeated, env, platform) };
}
