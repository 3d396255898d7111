/**
 * Starting the real server with `serve --http` as a subprocess (the flags of `deno task
 * start`, as for stdio), and speaking MCP to it with the SDK's Streamable HTTP client.
 */
import { Client } from "@modelcontextprotocol/sdk/client";
// @ts-types="npm:/@modelcontextprotocol/sdk@1.32.2/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { programCommand, spawnPiped, tempDir } from "./server.ts";

/** A TCP port nobody listens on right now (the server must be told an exact one). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A running `serve --http` process. */
export interface HttpRunning {
  /** `http://127.0.0.1:PORT` (or `https://...`), without a path. */
  origin: string;
  /** The MCP endpoint, `${origin}/mcp`. */
  mcp: string;
  port: number;
  pid: number;
  child: Deno.ChildProcess;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  /** Everything the server wrote to stdout so far (nothing, in HTTP mode). */
  stdout(): string;
  /** Sends `signal` and waits for the exit status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Options for {@linkcode startHttpServer}. */
export interface HttpStart {
  /** Environment of the server (HOME and the store are the caller's to set). */
  env: Record<string, string>;
  /** Arguments after `serve --http HOST:PORT`. */
  args?: string[];
  host?: string;
  port?: number;
  /** The scheme the origin is reported with (`https` when TLS flags are passed). */
  scheme?: "http" | "https";
  /** How long to wait for the "serving MCP on" log line. */
  timeoutMs?: number;
  /** Wraps the command, e.g. in `prlimit --nofile=128:128`. */
  wrap?: (command: { command: string; args: string[] }) => { command: string; args: string[] };
}

/** Starts `serve --http` and waits until it says it is serving. */
export async function startHttpServer(options: HttpStart): Promise<HttpRunning> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? freePort();
  const listen = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const command = programCommand(["serve", "--http", listen, ...(options.args ?? [])]);
  const child = spawnPiped(options.wrap ? options.wrap(command) : command, options.env);
  await child.stdin.close();
  let errText = "";
  let outText = "";
  const decoder = new TextDecoder();
  const pumps = [
    (async () => {
      for await (const chunk of child.stderr) errText += decoder.decode(chunk, { stream: true });
    })(),
    (async () => {
      for await (const chunk of child.stdout) outText += decoder.decode(chunk, { stream: true });
    })(),
  ];
  const status = child.status;
  const state: { exited: Deno.CommandStatus | null } = { exited: null };
  status.then((s) => state.exited = s);
  const until = Date.now() + (options.timeoutMs ?? 20_000);
  while (!errText.includes("serving MCP on")) {
    if (state.exited || Date.now() > until) {
      if (!state.exited) child.kill("SIGKILL");
      const { code } = await status;
      await Promise.all(pumps);
      throw new Error(`serve --http did not start (exit ${code}):\n${errText}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const origin = `${options.scheme ?? "http"}://${listen}`;
  return {
    origin,
    mcp: `${origin}/mcp`,
    port,
    pid: child.pid,
    child,
    stderr: () => errText,
    stdout: () => outText,
    async stop(signal: Deno.Signal = "SIGTERM") {
      if (!state.exited) {
        try {
          child.kill(signal);
        } catch { /* already gone */ }
      }
      const result = await status;
      await Promise.all(pumps);
      return result;
    },
  };
}

/** An MCP client on the HTTP endpoint. */
export interface HttpClient {
  client: Client;
  /** Calls a tool and returns its structured result. */
  call(name: string, args: unknown): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** Connects the SDK's Streamable HTTP client, with extra headers (a bearer token) if given. */
export async function connectHttp(
  url: string,
  options: { headers?: Record<string, string>; fetch?: typeof fetch } = {},
): Promise<HttpClient> {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: options.headers ?? {} },
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const client = new Client({ name: "session-buddy-http-tests", version: "1.0.0" });
  await client.connect(transport);
  return {
    client,
    async call(name, args) {
      const result = await client.callTool({ name, arguments: args as Record<string, unknown> });
      return result.structuredContent as Record<string, unknown>;
    },
    close: () => client.close(),
  };
}

/** A listener that accepts connections and never answers: a server that hangs at connect. */
export function tarpit(): { port: number; close: () => void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  (async () => {
    try {
      for await (const conn of listener) held.push(conn);
    } catch { /* closed */ }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close() {
      listener.close();
      for (const conn of held) {
        try {
          conn.close();
        } catch { /* gone */ }
      }
    },
  };
}

/** Runs `fn` with a collector on a fresh store; always stops it and removes the folder. */
export async function withCollector(
  fn: (server: HttpRunning, dir: string) => Promise<void>,
  options: { env?: Record<string, string>; args?: (dir: string) => string[]; scheme?: "https" } =
    {},
): Promise<void> {
  const { dir, cleanup } = await tempDir();
  try {
    const server = await startHttpServer({
      env: { HOME: dir, SESSION_BUDDY_DB: `${dir}/s.kv`, ...options.env },
      args: options.args?.(dir),
      scheme: options.scheme,
    });
    try {
      await fn(server, dir);
    } finally {
      await server.stop();
    }
  } finally {
    await cleanup();
  }
}
