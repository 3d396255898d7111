/**
 * One way for the hardening suites to speak to the real server whatever carries the
 * messages: a {@linkcode Wire} is stdio (newline-delimited JSON-RPC on the process's
 * stdin/stdout, {@linkcode RawServer}) or HTTP (raw `fetch` POSTs to `/mcp` of a
 * `serve --http` process, one JSON-RPC request per POST). A suite written against a Wire
 * runs unchanged over both, so the same generated calls and the same attacks meet both
 * transports.
 *
 * Every answer is checked as it arrives. Over stdio that is RawServer's stdout check. Over
 * HTTP: every request gets an HTTP response; a request's response is 200, `application/json`,
 * carries no `Mcp-Session-Id` (the server is stateless) and holds exactly one JSON-RPC
 * response object whose id is the request's; a notification gets 202 with no body. Anything
 * else is recorded in `violations`.
 */
import { type HttpRunning, startHttpServer } from "../helpers/http.ts";
import { type Message, RawServer, serialise } from "./raw.ts";

/** The transports the suites run over. */
export const TRANSPORTS = ["stdio", "http"] as const;
/** One of {@linkcode TRANSPORTS}. */
export type Kind = typeof TRANSPORTS[number];

/** The Accept header of a Streamable HTTP client (MCP 2025-06-18). */
export const ACCEPT = "application/json, text/event-stream";

/** A running server reached over one transport. */
export interface Wire {
  readonly kind: Kind;
  /** Protocol breaches seen so far (see the module doc). */
  readonly violations: string[];
  /**
   * Sends a request and resolves with its JSON-RPC response; `{closed: true, reason}` when
   * no usable response came (the breach is in `violations`).
   */
  request(method: string, params?: unknown): Promise<Message>;
  /** Calls a tool; returns the whole response message. */
  callMessage(name: string, args: unknown): Promise<Message>;
  /** Calls a tool and returns its structured result (throws on a JSON-RPC error). */
  call(name: string, args: unknown): Promise<Record<string, unknown>>;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  /** Whatever else the server wrote that a scan for secrets should see. */
  otherOutput(): string;
  /** Throws unless the server still answers (ping; over HTTP also `/healthz`). */
  assertServing(): Promise<void>;
  /** Stops the server the graceful way (stdin closed, or SIGTERM) and waits for it. */
  close(): Promise<Deno.CommandStatus>;
  /** Kills the server and waits for it. */
  destroy(): Promise<void>;
}

/** Starts the real server on `env` and speaks to it over `kind`. */
export async function startWire(kind: Kind, env: Record<string, string>): Promise<Wire> {
  return kind === "stdio" ? new StdioWire(await RawServer.start({ env })) : HttpWire.start(env);
}

async function structured(wire: Wire, name: string, args: unknown) {
  const msg = await wire.callMessage(name, args);
  if (msg.closed) throw new Error(`no answer over ${wire.kind}: ${msg.reason ?? "closed"}`);
  if (!msg.result) throw new Error(`JSON-RPC error: ${JSON.stringify(msg.error)}`);
  return (msg.result as Record<string, unknown>).structuredContent as Record<string, unknown>;
}

/** stdio: RawServer, whose own checks of stdout become this wire's violations. */
export class StdioWire implements Wire {
  readonly kind = "stdio" as const;
  constructor(readonly server: RawServer) {}

  get violations(): string[] {
    const out = [...this.server.violations];
    for (const m of this.server.nullIdErrors) out.push(`error with id null: ${JSON.stringify(m)}`);
    if (this.server.outstanding > 0) out.push(`${this.server.outstanding} requests unanswered`);
    return out;
  }

  request(method: string, params?: unknown): Promise<Message> {
    return this.server.request(method, params);
  }

  callMessage(name: string, args: unknown): Promise<Message> {
    return this.server.callMessage(name, args);
  }

  call(name: string, args: unknown): Promise<Record<string, unknown>> {
    return structured(this, name, args);
  }

  stderr(): string {
    return this.server.stderr();
  }

  otherOutput(): string {
    return "";
  }

  async assertServing(): Promise<void> {
    const answer = await this.server.request("ping");
    if (JSON.stringify(answer.result) !== "{}") {
      throw new Error(`ping over stdio: ${JSON.stringify(answer)}`);
    }
  }

  close(): Promise<Deno.CommandStatus> {
    return this.server.close();
  }

  destroy(): Promise<void> {
    return this.server.destroy();
  }
}

/** What one POST came to. */
export interface Posted {
  status: number;
  headers: Headers;
  text: string;
}

/** HTTP: raw `fetch` POSTs to `/mcp`, one JSON-RPC message each. */
export class HttpWire implements Wire {
  readonly kind = "http" as const;
  readonly violations: string[] = [];
  /** How many responses of each HTTP status came. */
  readonly statuses: Record<number, number> = {};
  /** POSTs sent. */
  posts = 0;
  #nextId = 1;
  #stopped: Promise<Deno.CommandStatus> | null = null;

  constructor(readonly server: HttpRunning) {}

  /** Starts `serve --http` on `env`, then `initialize` and `notifications/initialized`. */
  static async start(env: Record<string, string>): Promise<HttpWire> {
    const wire = new HttpWire(await startHttpServer({ env }));
    try {
      const init = await wire.request("initialize", {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "stress", version: "1" },
      });
      if (!init.result) throw new Error(`initialize failed: ${JSON.stringify(init)}`);
      await wire.notify("notifications/initialized");
    } catch (error) {
      await wire.destroy();
      throw error;
    }
    return wire;
  }

  /** POSTs `body` to `/mcp` as a Streamable HTTP client does; throws when no response came. */
  async post(body: string, headers: Record<string, string> = {}): Promise<Posted> {
    this.posts++;
    const response = await fetch(this.server.mcp, {
      method: "POST",
      headers: { "content-type": "application/json", accept: ACCEPT, ...headers },
      body,
    });
    const text = await response.text();
    this.statuses[response.status] = (this.statuses[response.status] ?? 0) + 1;
    return { status: response.status, headers: response.headers, text };
  }

  /** Sends a notification: it must get 202 with an empty body. */
  async notify(method: string, params?: unknown): Promise<void> {
    const posted = await this.post(serialise({ jsonrpc: "2.0", method, params }));
    if (posted.status !== 202 || posted.text !== "") {
      this.violations.push(`notification ${method}: HTTP ${posted.status} ${posted.text}`);
    }
  }

  /** Sends one request with extra headers; checks and returns its response. */
  async requestWith(
    method: string,
    params: unknown,
    headers: Record<string, string>,
  ): Promise<Message> {
    const id = this.#nextId++;
    const body = serialise({ jsonrpc: "2.0", id, method, params });
    let posted: Posted;
    try {
      posted = await this.post(body, headers);
    } catch (error) {
      const reason = `no HTTP response to id ${id}: ${error}`;
      this.violations.push(reason);
      return { closed: true, reason };
    }
    const problem = this.#check(posted, id);
    if (problem) {
      this.violations.push(problem);
      return { closed: true, reason: problem };
    }
    return JSON.parse(posted.text) as Message;
  }

  /** What is wrong with the answer to request `id`, or null. */
  #check(posted: Posted, id: number): string | null {
    const what = `id ${id}: HTTP ${posted.status} ${posted.text.slice(0, 200)}`;
    if (posted.status !== 200) return `not 200 for a request, ${what}`;
    const type = posted.headers.get("content-type") ?? "";
    if (type.split(";")[0]!.trim() !== "application/json") {
      return `content-type ${type}, ${what}`;
    }
    if (posted.headers.has("mcp-session-id")) return `an Mcp-Session-Id was issued, ${what}`;
    let msg: unknown;
    try {
      msg = JSON.parse(posted.text);
    } catch {
      return `body is not JSON, ${what}`;
    }
    if (msg === null || typeof msg !== "object" || Array.isArray(msg)) {
      return `body is not one JSON-RPC object, ${what}`;
    }
    const m = msg as Message;
    if (m.jsonrpc !== "2.0" || "method" in m) return `not a JSON-RPC 2.0 response, ${what}`;
    if (m.id !== id) return `response id ${JSON.stringify(m.id)} for request ${what}`;
    if (("result" in m) === ("error" in m)) return `neither or both result and error, ${what}`;
    return null;
  }

  request(method: string, params?: unknown): Promise<Message> {
    return this.requestWith(method, params, {});
  }

  callMessage(name: string, args: unknown): Promise<Message> {
    return this.request("tools/call", { name, arguments: args });
  }

  call(name: string, args: unknown): Promise<Record<string, unknown>> {
    return structured(this, name, args);
  }

  stderr(): string {
    return this.server.stderr();
  }

  otherOutput(): string {
    return this.server.stdout();
  }

  async assertServing(): Promise<void> {
    const answer = await this.request("ping");
    if (JSON.stringify(answer.result) !== "{}") {
      throw new Error(`ping over HTTP: ${JSON.stringify(answer)}`);
    }
    const health = await fetch(`${this.server.origin}/healthz`);
    const body = await health.json();
    if (health.status !== 200 || body.status !== "ok") {
      throw new Error(`/healthz: HTTP ${health.status} ${JSON.stringify(body)}`);
    }
  }

  close(): Promise<Deno.CommandStatus> {
    return this.#stopped ??= this.server.stop("SIGTERM");
  }

  async destroy(): Promise<void> {
    await (this.#stopped ??= this.server.stop("SIGKILL"));
  }
}
