/**
 * Speaking MCP 2026-07-28 and the handshake revisions to the real server (SPEC 8.6): the
 * official SDK v2 client over stdio and Streamable HTTP, raw `fetch` requests with the
 * 2026-07-28 envelope and headers, raw HTTP/1.1 exchanges (for header spellings `fetch`
 * normalises away), and a raw line-by-line stdio peer (for batches, cancellations and
 * what the SDK client never sends).
 */
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { type HttpRunning, withCollector as withHttpCollector } from "./http.ts";
import { DENO_DIR, programCommand, ROOT, runtimeEnv, spawnPiped, tempDir } from "./server.ts";

/** The stateless revision. */
export const MODERN = "2026-07-28";
/** The revisions negotiated by `initialize`, newest first. */
export const HANDSHAKE = ["2025-11-25", "2025-06-18", "2025-03-26"] as const;
/** What `server/discover` lists, newest first. */
export const SUPPORTED = [MODERN, ...HANDSHAKE];

/** `_meta` keys of the 2026-07-28 envelope. */
export const PROTOCOL_VERSION_KEY = "io.modelcontextprotocol/protocolVersion";
export const CLIENT_CAPABILITIES_KEY = "io.modelcontextprotocol/clientCapabilities";
export const CLIENT_INFO_KEY = "io.modelcontextprotocol/clientInfo";
export const SERVER_INFO_KEY = "io.modelcontextprotocol/serverInfo";

/** JSON-RPC codes the revisions answer with. */
export const CODES = {
  headerMismatch: -32020,
  unsupportedVersion: -32022,
  authentication: -32001,
  methodNotFound: -32601,
  invalidParams: -32602,
} as const;

/** The server's tools, by name. */
export const TOOL_NAMES = [
  "get_session",
  "import_history",
  "import_sessions",
  "list_sessions",
  "session_stats",
  "track_session_end",
  "track_session_heartbeat",
  "track_session_start",
];

/** A JSON-RPC message as it came over the wire. */
export type Message = Record<string, unknown>;

/** How the v2 client picks its revision. */
export type Negotiation =
  | { mode: "legacy"; version?: (typeof HANDSHAKE)[number] }
  | { mode: "auto" }
  | { mode: "pin"; version: string };

/** A v2 SDK client connected to the server, with what the server sent it. */
export interface V2Session {
  client: Client;
  /** Every JSON-RPC message the server sent after the connection was made, in order. */
  received: Message[];
  /** What the server wrote to stderr so far (stdio only; empty over HTTP). */
  stderr(): string;
  close(): Promise<void>;
}

function clientFor(negotiation: Negotiation): Client {
  const info = { name: "session-buddy-v2-tests", version: "1.0.0" };
  switch (negotiation.mode) {
    case "legacy":
      return new Client(info, {
        versionNegotiation: { mode: "legacy" },
        ...(negotiation.version ? { supportedProtocolVersions: [negotiation.version] } : {}),
      });
    case "auto":
      return new Client(info, { versionNegotiation: { mode: "auto" } });
    case "pin":
      return new Client(info, { versionNegotiation: { mode: { pin: negotiation.version } } });
  }
}

/** Records every message the transport hands the client from now on. */
function record(transport: { onmessage?: (...args: never[]) => void }): Message[] {
  const received: Message[] = [];
  const original = transport.onmessage as ((...args: unknown[]) => void) | undefined;
  transport.onmessage = ((...args: unknown[]) => {
    received.push(structuredClone(args[0]) as Message);
    original?.(...args);
  }) as never;
  return received;
}

/** Starts the shipped program on stdio and connects the v2 client to it. */
export async function connectStdioV2(
  negotiation: Negotiation,
  env: Record<string, string>,
): Promise<V2Session> {
  const command = programCommand();
  const transport = new StdioClientTransport({
    command: command.command,
    args: command.args,
    env: { NO_COLOR: "1", DENO_DIR, ...runtimeEnv(), ...env },
    cwd: ROOT,
    stderr: "pipe",
  });
  let errText = "";
  const decoder = new TextDecoder();
  const stderr = transport.stderr;
  const ended = new Promise<void>((resolve) => {
    if (!stderr) return resolve();
    stderr.on("data", (chunk: Uint8Array | string) => {
      errText += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    });
    stderr.on("end", () => resolve());
    stderr.on("close", () => resolve());
  });
  const client = clientFor(negotiation);
  try {
    await client.connect(transport);
  } catch (error) {
    await client.close().catch(() => {});
    await settle(ended, 2000);
    throw new Error(`connect over stdio failed (${(error as Error).message}); stderr:\n${errText}`);
  }
  const received = record(transport);
  return {
    client,
    received,
    stderr: () => errText,
    async close() {
      await client.close();
      await settle(ended, 5000);
    },
  };
}

/** Connects the v2 client to `url` over Streamable HTTP. */
export async function connectHttpV2(
  negotiation: Negotiation,
  url: string,
  headers: Record<string, string> = {},
): Promise<V2Session> {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers },
  });
  const client = clientFor(negotiation);
  await client.connect(transport);
  const received = record(transport);
  return { client, received, stderr: () => "", close: () => client.close() };
}

/** Waits for `promise`, at most `ms`. */
async function settle(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    promise.catch(() => {}),
    new Promise((resolve) => timer = setTimeout(resolve, ms)),
  ]);
  clearTimeout(timer);
}

/** A 2026-07-28 `_meta` envelope; `overrides` replaces keys (undefined removes one). */
export function modernMeta(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const meta: Record<string, unknown> = {
    [PROTOCOL_VERSION_KEY]: MODERN,
    [CLIENT_CAPABILITIES_KEY]: {},
    [CLIENT_INFO_KEY]: { name: "session-buddy-raw-tests", version: "1.0.0" },
    ...overrides,
  };
  for (const [key, value] of Object.entries(meta)) if (value === undefined) delete meta[key];
  return meta;
}

/** A 2026-07-28 request: `params` with the envelope (or `meta`, when given) as `_meta`. */
export function modernRequest(
  id: string | number,
  method: string,
  params: Record<string, unknown> = {},
  meta: Record<string, unknown> | null = modernMeta(),
): Message {
  return {
    jsonrpc: "2.0",
    id,
    method,
    params: meta === null ? params : { ...params, _meta: meta },
  };
}

/** A request of a handshake revision (no envelope). */
export function legacyRequest(
  id: string | number,
  method: string,
  params?: Record<string, unknown>,
): Message {
  return { jsonrpc: "2.0", id, method, ...(params ? { params } : {}) };
}

/** An `initialize` request asking for `version`. */
export function initialize(id: string | number, version: string): Message {
  return legacyRequest(id, "initialize", {
    protocolVersion: version,
    capabilities: {},
    clientInfo: { name: "session-buddy-raw-tests", version: "1.0.0" },
  });
}

/** A `tools/call` request of the 2026-07-28 revision. */
export function modernCall(id: string | number, name: string, args: unknown): Message {
  return modernRequest(id, "tools/call", { name, arguments: args });
}

/**
 * The headers a 2026-07-28 client sends with `message` over HTTP: JSON both ways,
 * `MCP-Protocol-Version` as its `_meta` claims, `Mcp-Method`, and `Mcp-Name` for the methods
 * that have one.
 */
export function modernHeaders(message: Message): Record<string, string> {
  const params = (message.params ?? {}) as Record<string, unknown>;
  const meta = (params._meta ?? {}) as Record<string, unknown>;
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": String(meta[PROTOCOL_VERSION_KEY] ?? MODERN),
    "mcp-method": String(message.method),
  };
  if (message.method === "tools/call" || message.method === "prompts/get") {
    headers["mcp-name"] = String(params.name);
  } else if (message.method === "resources/read") {
    headers["mcp-name"] = String(params.uri);
  }
  return headers;
}

/** What an HTTP exchange answered. */
export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** The body as JSON, or undefined when it is empty or not JSON. */
  json: unknown;
}

/** The answer's body as a JSON-RPC message (throws when it is not one object). */
export function body(answer: Answer): Message {
  if (typeof answer.json !== "object" || answer.json === null || Array.isArray(answer.json)) {
    throw new Error(`not one JSON-RPC message (HTTP ${answer.status}): ${answer.text}`);
  }
  return answer.json as Message;
}

/** POSTs `payload` (a value to serialise, or a raw string) with exactly `headers`. */
export async function post(
  url: string,
  payload: unknown,
  headers: Record<string, string>,
): Promise<Answer> {
  const response = await fetch(url, {
    method: "POST",
    headers,
    body: typeof payload === "string" ? payload : JSON.stringify(payload),
  });
  const text = await response.text();
  let json: unknown = undefined;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch { /* not JSON */ }
  return { status: response.status, headers: response.headers, text, json };
}

/**
 * POSTs a 2026-07-28 message with the headers {@linkcode modernHeaders} gives it, changed by
 * `overrides` (a null value leaves that header out).
 */
export async function postModern(
  url: string,
  message: Message,
  overrides: Record<string, string | null> = {},
): Promise<Answer> {
  const headers: Record<string, string> = modernHeaders(message);
  for (const [name, value] of Object.entries(overrides)) {
    const key = name.toLowerCase();
    if (value === null) delete headers[key];
    else headers[key] = value;
  }
  return await post(url, message, headers);
}

/** POSTs a message of a handshake revision, with `MCP-Protocol-Version: version` when given. */
export async function postLegacy(
  url: string,
  payload: unknown,
  version: string | null = "2025-11-25",
  extra: Record<string, string> = {},
): Promise<Answer> {
  return await post(url, payload, {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    ...(version ? { "mcp-protocol-version": version } : {}),
    ...extra,
  });
}

/**
 * One raw HTTP/1.1 exchange on a new connection (`Connection: close` is the caller's to
 * send): the status, the head and the body as sent.
 */
export async function rawExchange(
  port: number,
  request: string,
): Promise<{ status: number; head: string; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(request));
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(16 * 1024);
    let text = "";
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
      text = new TextDecoder().decode(concat(chunks));
      const headEnd = text.indexOf("\r\n\r\n");
      if (headEnd < 0) continue;
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, headEnd));
      if (
        length && concat(chunks).length - (byteLength(text.slice(0, headEnd)) + 4) >= +length[1]!
      ) {
        break;
      }
    }
    const headEnd = text.indexOf("\r\n\r\n");
    const head = headEnd < 0 ? text : text.slice(0, headEnd);
    return {
      status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]),
      head,
      body: headEnd < 0 ? "" : text.slice(headEnd + 4),
    };
  } finally {
    conn.close();
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function byteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}

/** A raw `POST /mcp` request for {@linkcode rawExchange}, with `headerLines` as given. */
export function rawPost(port: number, headerLines: string[], payload: unknown): string {
  const text = typeof payload === "string" ? payload : JSON.stringify(payload);
  return [
    "POST /mcp HTTP/1.1",
    `Host: 127.0.0.1:${port}`,
    ...headerLines,
    `Content-Length: ${byteLength(text)}`,
    "Connection: close",
    "",
    text,
  ].join("\r\n");
}

/** Runs `fn` with `serve --http` on a fresh store; always stops it and removes the folder. */
export function withCollector(
  fn: (server: HttpRunning, dir: string) => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  return withHttpCollector(fn, { env });
}

/**
 * The shipped program on stdio, spoken to line by line: what it writes to stdout is parsed
 * as it arrives (a line that is no JSON is kept as `{ unparsed: line }`).
 */
export class RawStdio {
  /** Every message the server wrote, in order. */
  readonly received: Message[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #pumps: Promise<void>[];
  readonly #waiters = new Set<() => void>();
  #stderr = "";
  #closed = false;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    const decoder = new TextDecoder();
    this.#pumps = [
      (async () => {
        let pending = "";
        for await (const chunk of child.stdout) {
          pending += decoder.decode(chunk, { stream: true });
          let newline: number;
          while ((newline = pending.indexOf("\n")) >= 0) {
            const line = pending.slice(0, newline).trim();
            pending = pending.slice(newline + 1);
            if (line === "") continue;
            let message: Message;
            try {
              message = JSON.parse(line);
            } catch {
              message = { unparsed: line };
            }
            this.received.push(message);
            for (const wake of this.#waiters) wake();
          }
        }
        this.#closed = true;
        for (const wake of this.#waiters) wake();
      })(),
      (async () => {
        const errDecoder = new TextDecoder();
        for await (const chunk of child.stderr) {
          this.#stderr += errDecoder.decode(chunk, { stream: true });
        }
      })(),
    ];
  }

  /** Starts the program on stdio with `env` (HOME and the store are the caller's). */
  static start(env: Record<string, string>): RawStdio {
    return new RawStdio(spawnPiped(programCommand(), env));
  }

  /** What the server wrote to stderr so far. */
  stderr(): string {
    return this.#stderr;
  }

  /** Writes `text` as it is (one write: several lines arrive together). */
  async write(text: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(text));
  }

  /** Writes each message (or batch) as one line, all in one write. */
  async send(...messages: unknown[]): Promise<void> {
    await this.write(messages.map((m) => JSON.stringify(m) + "\n").join(""));
  }

  /** The first message (from `from` on) that `match` accepts, waiting up to `timeoutMs`. */
  async next(
    match: (message: Message) => boolean,
    options: { from?: number; timeoutMs?: number } = {},
  ): Promise<Message> {
    const from = options.from ?? 0;
    const deadline = Date.now() + (options.timeoutMs ?? 20_000);
    while (true) {
      const found = this.received.slice(from).find(match);
      if (found) return found;
      if (this.#closed) {
        throw new Error(
          `stdout ended without the awaited message; got ${
            JSON.stringify(this.received).slice(0, 2000)
          }\nstderr:\n${this.#stderr}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `no awaited message within ${options.timeoutMs ?? 20_000} ms; got ${
            JSON.stringify(this.received).slice(0, 2000)
          }\nstderr:\n${this.#stderr}`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      let wake: () => void = () => {};
      await new Promise<void>((resolve) => {
        wake = resolve;
        this.#waiters.add(wake);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#waiters.delete(wake);
    }
  }

  /** The response (a single message, not a batch) whose id is `id`. */
  async response(id: unknown, options: { from?: number; timeoutMs?: number } = {}) {
    return await this.next((m) => !Array.isArray(m) && "id" in m && m.id === id, options);
  }

  /** Sends `message` and waits for its response. */
  async request(message: Message, timeoutMs?: number): Promise<Message> {
    const from = this.received.length;
    await this.send(message);
    return await this.response(message.id, { from, timeoutMs });
  }

  /**
   * Closes stdin (the server's cue to finish), waits for its exit and for everything it
   * wrote; kills it if it has not exited after `timeoutMs`.
   */
  async end(timeoutMs = 15_000): Promise<Deno.CommandStatus> {
    try {
      await this.#writer.close();
    } catch { /* already closed */ }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        try {
          this.#child.kill("SIGKILL");
        } catch { /* gone */ }
        resolve();
      }, timeoutMs);
    });
    const status = await Promise.race([this.#child.status, killed.then(() => this.#child.status)]);
    clearTimeout(timer);
    await Promise.all(this.#pumps);
    return status;
  }
}

/** Runs `fn` with a raw stdio server on a fresh store (or on `env`'s); always ends it. */
export async function withRawStdio<T>(
  fn: (server: RawStdio, dir: string) => Promise<T>,
  env: Record<string, string> = {},
): Promise<T> {
  const { dir, cleanup } = await tempDir();
  try {
    const server = RawStdio.start({ HOME: dir, SESSION_BUDDY_DB: `${dir}/s.kv`, ...env });
    try {
      return await fn(server, dir);
    } finally {
      await server.end();
    }
  } finally {
    await cleanup();
  }
}

/** The JSON-RPC error of a response (throws when it is a result). */
export function errorOf(message: Message): { code: number; message: string; data?: unknown } {
  const error = message.error as { code: number; message: string; data?: unknown } | undefined;
  if (!error) throw new Error(`expected an error response, got ${JSON.stringify(message)}`);
  return error;
}

/** The result of a response (throws when it is an error). */
export function resultOf(message: Message): Record<string, unknown> {
  const result = message.result as Record<string, unknown> | undefined;
  if (!result) throw new Error(`expected a result, got ${JSON.stringify(message)}`);
  return result;
}

/** A JSON-RPC error thrown by the v2 client, as `{ code, message, data }`. */
export async function rpcError(
  call: Promise<unknown>,
): Promise<{ code: number; message: string; data?: unknown }> {
  try {
    const result = await call;
    throw new Error(`expected a JSON-RPC error, got ${JSON.stringify(result)}`);
  } catch (error) {
    const e = error as { code?: unknown; message?: string; data?: unknown };
    if (typeof e.code !== "number") throw error;
    return { code: e.code, message: String(e.message), data: e.data };
  }
}
