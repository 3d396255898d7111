/**
 * The command line's tokenizer: `--flag value` and `--flag=value` into a record, the
 * words left in order. Which command takes which flag is checked by {@linkcode allowOnly}.
 */
import { UsageError } from "../usage_error.ts";

const VALUE_FLAGS = [
  "--db",
  "--db-ca",
  "--log-file",
  "--log-level",
  "--stale-after",
  "--user",
  "--ttl",
  "--status",
  "--component",
  "--host",
  "--since",
  "--until",
  "--limit",
  "--group-by",
  "--older-than",
  "--http",
  "--tls-cert",
  "--tls-key",
  "--allowed-origin",
  "--allowed-host",
  "--secret-file",
  "--collector",
  "--to-db",
  "--forward-token-file",
  "--batch-size",
  "--key-file",
  "--seal-key-file",
  "--seal-every",
  "--verification-key",
  "--file",
  "--before",
  "--retention",
] as const;
/** Flags that take no value. */
const SWITCHES = ["--json", "--plain-http", "--require-auth", "--once"] as const;
/** `forward --status` asks for the forwarder's status; elsewhere `--status` takes a value. */
const FORWARD_SWITCHES: readonly string[] = [...SWITCHES, "--status"];
/** Any flag the program knows. */
export type Flag = typeof VALUE_FLAGS[number] | typeof SWITCHES[number];
/** The flags given, each with its last value (`"true"` for a switch). */
export type Flags = Partial<Record<Flag, string>>;

/** The flags that may come more than once, each with every value given. */
export interface Repeated {
  origins: string[];
  hosts: string[];
}

/**
 * Splits `--flag value` and `--flag=value` forms; anything unknown is a usage error.
 * `--allowed-origin` and `--allowed-host` may come more than once; their values are
 * collected in `repeated`.
 *
 * @example
 * ```ts
 * readFlags(["sessions", "--json", "--limit=5"]).flags; // { "--json": "true", "--limit": "5" }
 * ```
 */
export function readFlags(args: string[]): { flags: Flags; rest: string[]; repeated: Repeated } {
  // `forward --status` is read with `--status` as a switch; any other command as a value.
  let forward;
  try {
    forward = readWith(args, FORWARD_SWITCHES);
  } catch {
    forward = null;
  }
  return forward?.rest[0] === "forward" ? forward : readWith(args, SWITCHES);
}

function readWith(
  args: string[],
  switches: readonly string[],
): { flags: Flags; rest: string[]; repeated: Repeated } {
  const flags: Flags = {};
  const rest: string[] = [];
  const repeated: Repeated = { origins: [], hosts: [] };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("-") || arg === "-") {
      rest.push(arg);
      continue;
    }
    if (arg === "--help" || arg === "-h" || arg === "--version" || arg === "-V") {
      rest.push(arg);
      continue;
    }
    if (switches.includes(arg)) {
      flags[arg as Flag] = "true";
      continue;
    }
    const eq = arg.indexOf("=");
    const name = (eq >= 0 ? arg.slice(0, eq) : arg) as typeof VALUE_FLAGS[number];
    if (!VALUE_FLAGS.includes(name)) throw new UsageError(`unknown flag '${arg.slice(0, 64)}'`);
    const value = eq >= 0 ? arg.slice(eq + 1) : args[++i];
    if (value === undefined) throw new UsageError(`${name} needs a value`);
    flags[name] = value;
    if (name === "--allowed-origin") repeated.origins.push(value);
    if (name === "--allowed-host") repeated.hosts.push(value);
  }
  return { flags, rest, repeated };
}

/** Flags every command takes. */
const GLOBAL_FLAGS: Flag[] = ["--db", "--db-ca", "--log-file", "--log-level", "--stale-after"];

/** Refuses flags a command does not take. */
export function allowOnly(command: string, flags: Flags, allowed: Flag[]): void {
  for (const name of Object.keys(flags) as Flag[]) {
    if (!GLOBAL_FLAGS.includes(name) && !allowed.includes(name)) {
      throw new UsageError(`'${command}' does not take ${name}`);
    }
  }
}
