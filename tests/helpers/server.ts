/**
 * Starting the real server as a subprocess, with exactly the flags `deno task start` and
 * `deno task compile` use (the `server` permission set, the V8 flags of the start task
 * and the `unstable` list of deno.json), and speaking MCP to it with the SDK's client
 * over stdio.
 */
import { Client } from "@modelcontextprotocol/sdk/client";
import { StdioClientTransport as UntypedStdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { SignJWT } from "jose";
import { fileURLToPath } from "node:url";
import denoJson from "../../deno.json" with { type: "json" };

/** The repository's root folder. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The deno.json that holds the one definition of the server's flags. */
export const CONFIG = `${ROOT}deno.json`;
/** The program's entry point. */
export const MAIN = `${ROOT}main.ts`;

export { DEV_FLAGS } from "./dev_flags.ts";

/**
 * The runtime flags of `deno task start` (what stands between `deno run` and `main.ts`):
 * the one definition that tests, the benchmark and its baselines run with, and that
 * tests/e2e/permissions_test.ts holds the compile tasks to.
 */
export const RUNTIME_FLAGS: string[] = (() => {
  const words = denoJson.tasks.start.split(/\s+/);
  const from = words.indexOf("run");
  const to = words.indexOf("main.ts");
  if (words[0] !== "deno" || from !== 1 || to < from) {
    throw new Error(`tasks.start is not 'deno run <flags> main.ts': ${denoJson.tasks.start}`);
  }
  return words.slice(from + 1, to);
})();

/**
 * The command that runs the program: the compiled binary when `SESSION_BUDDY_BIN` is set
 * and `binary` is asked for, else `deno run` with the shipped permission set.
 */
export function programCommand(args: string[] = []): { command: string; args: string[] } {
  return {
    command: Deno.execPath(),
    args: ["run", ...RUNTIME_FLAGS, "--config", CONFIG, MAIN, ...args],
  };
}

/** Where a compiled binary is, if this run has one. */
export function compiledBinary(): string | null {
  return Deno.env.get("SESSION_BUDDY_BIN") || null;
}

/**
 * Deno's cache folder, passed on to servers so that a test may point HOME elsewhere
 * without the child losing its module cache.
 */
export const DENO_DIR: string = Deno.env.get("DENO_DIR") ?? JSON.parse(
  new TextDecoder().decode(
    new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stderr: "null" }).outputSync()
      .stdout,
  ),
).denoDir;

/** Environment every child gets before a test's own variables. */
function childEnv(env: Record<string, string> | undefined): Record<string, string> {
  return { NO_COLOR: "1", DENO_DIR, ...runtimeEnv(), ...env };
}

/**
 * Variables the runtime itself reads to find programs and to download packages on a cold
 * cache (a proxy, a CA bundle, another registry). They are Deno's, not the program's: the
 * program's own env permission never reaches them.
 */
const RUNTIME_ENV = [
  "PATH",
  "NODE_EXTRA_CA_CERTS",
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "NPM_CONFIG_REGISTRY",
];

/** The runtime's own variables that are set here. */
export function runtimeEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of RUNTIME_ENV) {
    const value = Deno.env.get(name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** Spawns a command from the repository root with piped stdio and only the child env. */
export function spawnPiped(
  command: { command: string; args: string[] },
  env?: Record<string, string>,
): Deno.ChildProcess {
  return new Deno.Command(command.command, {
    args: command.args,
    env: childEnv(env),
    clearEnv: true,
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** A temporary folder removed by `cleanup`. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "session-buddy-test-" });
  return { dir, cleanup: () => Deno.remove(dir, { recursive: true }).catch(() => {}) };
}

type ClientTransport = Parameters<Client["connect"]>[0] & {
  readonly stderr: ReadableStream<Uint8Array> | null;
  readonly pid: number | null;
};
type StdioParams = {
  command: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  stderr?: "pipe" | "inherit" | "ignore";
};
const StdioClientTransport = UntypedStdioClientTransport as unknown as new (
  params: StdioParams,
) => ClientTransport;

/** A running server and an MCP client connected to it. */
export interface Running {
  client: Client;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  pid: number;
  /** Calls a tool and returns its structured result. */
  call(name: string, args: unknown): Promise<Record<string, unknown>>;
  /** Calls a tool and returns the whole MCP result. */
  callRaw(name: string, args: unknown): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** Options for {@linkcode startServer}. */
export interface StartOptions {
  /** Environment of the server (HOME defaults to the store's folder). */
  env?: Record<string, string>;
  args?: string[];
  command?: { command: string; args: string[] };
}

/** Starts the server and connects an MCP client to it. */
export async function startServer(options: StartOptions = {}): Promise<Running> {
  const base = options.command ?? programCommand(options.args);
  const transport = new StdioClientTransport({
    command: base.command,
    args: base.args,
    env: childEnv(options.env),
    cwd: ROOT,
    stderr: "pipe",
  });
  let errText = "";
  const client = new Client({ name: "session-buddy-tests", version: "1.0.0" });
  const pump = (async () => {
    // The stderr stream exists once the process is spawned, inside connect().
    while (!transport.stderr) await new Promise((r) => setTimeout(r, 5));
    const decoder = new TextDecoder();
    for await (const chunk of transport.stderr) errText += decoder.decode(chunk, { stream: true });
  })();
  try {
    await client.connect(transport);
  } catch (error) {
    // A server that exits at start (a refused store, a usage error) says why on stderr.
    await client.close().catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      pump.catch(() => {}),
      new Promise((r) => timer = setTimeout(r, 2000)),
    ]);
    clearTimeout(timer);
    throw new Error(`the server did not start (${(error as Error).message}); stderr:\n${errText}`);
  }
  const callRaw = async (name: string, args: unknown) =>
    await client.callTool({ name, arguments: args as Record<string, unknown> }) as Record<
      string,
      unknown
    >;
  return {
    client,
    stderr: () => errText,
    pid: transport.pid ?? 0,
    callRaw,
    async call(name, args) {
      const result = await callRaw(name, args);
      return result.structuredContent as Record<string, unknown>;
    },
    async close() {
      await client.close();
      await pump.catch(() => {});
    },
  };
}

/** Runs the program to completion and returns its exit status and output. */
export async function runProgram(
  args: string[],
  env: Record<string, string> = {},
  stdin = "",
  command = programCommand(args),
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawnPiped(command, env);
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const out = await child.output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** A secret long enough for the server to accept. */
export const SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz";

/**
 * Mints a token as the seed's Python does (`jwt.encode(..., algorithm="HS256")` with
 * user_id, exp, iat, type "access", iss "session-buddy"); `claims` overrides or adds.
 */
export async function mintToken(
  claims: Record<string, unknown> = {},
  secret = SECRET,
  alg = "HS256",
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = {
    user_id: "admin-shell",
    exp: now + 24 * 3600,
    iat: now,
    type: "access",
    iss: "session-buddy",
    ...claims,
  };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  return await new SignJWT(payload).setProtectedHeader({ alg, typ: "JWT" }).sign(
    new TextEncoder().encode(secret),
  );
}

/** An MCP `initialize` request (id 1) from a client named `client`. */
export function initializeRequest(client = "session-buddy-tests"): Record<string, unknown> {
  return {
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: client, version: "1.0.0" },
    },
  };
}

/** A valid `track_session_start` argument object as the seed's shell sends it. */
export function startArgs(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    event_version: "1.0",
    event_id: crypto.randomUUID(),
    event_type: "session_start",
    component_name: "mahavishnu",
    shell_type: "MahavishnuShell",
    timestamp: new Date().toISOString(),
    pid: 12345,
    user: { username: "john", home: "/home/john" },
    hostname: "server01",
    environment: {
      python_version: "3.13.0",
      platform: "Linux-6.5.0-x86_64",
      cwd: "/home/john/projects/mahavishnu",
    },
    metadata: {},
    token: null,
    ...overrides,
  };
}

/** A valid `track_session_end` argument object. */
export function endArgs(
  sessionId: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    session_id: sessionId,
    timestamp: new Date().toISOString(),
    event_type: "session_end",
    metadata: { exit_reason: "user_exit" },
    token: null,
    ...overrides,
  };
}

/** Opens a store file directly, to look at what the server committed. */
export async function withStore<T>(path: string, fn: (kv: Deno.Kv) => Promise<T>): Promise<T> {
  const kv = await Deno.openKv(path);
  try {
    return await fn(kv);
  } finally {
    kv.close();
  }
}

/** Reads a stored session record (records are UTF-8 JSON bytes). */
export async function readRecord(
  path: string,
  sessionId: string,
): Promise<Record<string, unknown> | null> {
  return await withStore(path, async (kv) => {
    const entry = await kv.get<Uint8Array>(["session", sessionId]);
    return entry.value ? JSON.parse(new TextDecoder().decode(entry.value)) : null;
  });
}

/** What a command printed, and its exit status. */
export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs any program to its end (with `env` added to this process's environment, or, with
 * `clearEnv`, as its whole environment); null when the program does not exist.
 */
export async function runCommand(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; clearEnv?: boolean; cwd?: string; stdin?: string } = {},
): Promise<Output | null> {
  try {
    const child = new Deno.Command(command, {
      args,
      env: options.env,
      clearEnv: options.clearEnv ?? false,
      cwd: options.cwd,
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(options.stdin));
      await writer.close();
    }
    const out = await child.output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}
