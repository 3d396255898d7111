/**
 * The server side of MCP's JSON-RPC: requests are routed by method to handlers, and
 * `initialize` and `ping` are answered here. It stands in for the SDK's `Server`, whose
 * import (with Ajv for elicitation schemas, which this server never sends) is most of a
 * cold start, and whose per-message schema checks sit on every call's path. The SDK
 * stays the reference: the end-to-end tests speak to this server through its client, and
 * a unit test holds {@linkcode SUPPORTED_PROTOCOL_VERSIONS} to the SDK's list.
 *
 * @example
 * ```ts
 * const server = new RpcServer({ name: "demo", version: "1.0.0" }, { capabilities: { tools: {} } });
 * server.handle("tools/list", () => ({ tools: [] }));
 * await server.connect(transport);
 * ```
 */

import type { AuthOutcome } from "../auth/verifier.ts";

/** One JSON-RPC 2.0 message, as a transport passes it (envelopes are checked there). */
export type JsonRpcMessage = Record<string, unknown>;

/** What a transport knows about a request beyond its message. */
export interface RequestContext {
  /**
   * The outcome of checking the request's own credentials (an HTTP bearer token), which
   * then stand for every tool's `token` argument. Absent over stdio.
   */
  auth?: Extract<AuthOutcome, { ok: true }>;
}

/** What carries messages: the stdio transport in production, in-memory ones in tests. */
export interface Transport {
  start(): Promise<void>;
  send(message: JsonRpcMessage): Promise<void>;
  close(): Promise<void>;
  onmessage?: (message: JsonRpcMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
}

/** JSON-RPC error codes this server answers with. */
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;

/** The MCP revisions this server speaks, newest first; the first is offered to others. */
export const SUPPORTED_PROTOCOL_VERSIONS = [
  "2025-11-25",
  "2025-06-18",
  "2025-03-26",
  "2024-11-05",
  "2024-10-07",
] as const;

/** A failure a handler reports to the client as a JSON-RPC error with its own code. */
export class JsonRpcError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** Answers one request's params; a thrown {@linkcode JsonRpcError} becomes the error response. */
export type Handler = (params: Record<string, unknown>, context: RequestContext) => unknown;

export interface ServerInfo {
  name: string;
  version: string;
}

export interface ServerOptions {
  capabilities: Record<string, unknown>;
  instructions?: string;
  /** Told about handler failures that were answered as "Internal error". */
  onerror?: (error: unknown) => void;
}

type Id = string | number;

/** An MCP server endpoint over one transport. */
export class RpcServer {
  onclose?: () => void;
  readonly #handlers = new Map<string, Handler>();
  readonly #info: ServerInfo;
  readonly #options: ServerOptions;
  #transport: Transport | null = null;

  constructor(info: ServerInfo, options: ServerOptions) {
    this.#info = info;
    this.#options = options;
    this.handle("initialize", (params) => this.#initialize(params));
    this.handle("ping", () => ({}));
  }

  /** Routes requests of `method` to `handler` (replacing any earlier one). */
  handle(method: string, handler: Handler): void {
    this.#handlers.set(method, handler);
  }

  /** Starts serving on `transport`; resolves once it reads. */
  async connect(transport: Transport): Promise<void> {
    this.#transport = transport;
    transport.onmessage = (message) => this.#receive(message);
    transport.onclose = () => {
      this.#transport = null;
      this.onclose?.();
    };
    await transport.start();
  }

  /** Closes the transport; `onclose` follows. */
  async close(): Promise<void> {
    await this.#transport?.close();
  }

  /**
   * The response to one message whose envelope the transport checked, or null for a
   * notification or a response (this server sends no requests, so neither needs an
   * answer). A cancelled request is still answered: the tools finish in milliseconds, and
   * MCP has the client ignore an answer that arrives after its cancellation.
   */
  async respond(
    message: JsonRpcMessage,
    context: RequestContext = {},
  ): Promise<JsonRpcMessage | null> {
    if (typeof message.method !== "string" || !("id" in message)) return null;
    const id = message.id as Id;
    const params = (message.params ?? {}) as Record<string, unknown>;
    try {
      const handler = this.#handlers.get(message.method);
      if (!handler) {
        throw new JsonRpcError(
          METHOD_NOT_FOUND,
          `Method not found: ${message.method.slice(0, 100)}`,
        );
      }
      return { jsonrpc: "2.0", id, result: await handler(params, context) };
    } catch (error) {
      return { jsonrpc: "2.0", id, error: this.#errorOf(error) };
    }
  }

  #receive(message: JsonRpcMessage): void {
    void this.respond(message).then(async (response) => {
      if (response) await this.#transport?.send(response);
    }).catch((error) => this.#options.onerror?.(error));
  }

  #errorOf(error: unknown): { code: number; message: string } {
    if (error instanceof JsonRpcError) return { code: error.code, message: error.message };
    // Details stay in the log: an unexpected failure's text may name internals.
    this.#options.onerror?.(error);
    return { code: INTERNAL_ERROR, message: "Internal error" };
  }

  #initialize(params: Record<string, unknown>) {
    const requested = params.protocolVersion;
    if (typeof requested !== "string") {
      throw new JsonRpcError(INVALID_PARAMS, "Invalid params: protocolVersion must be a string");
    }
    const known = (SUPPORTED_PROTOCOL_VERSIONS as readonly string[]).includes(requested);
    return {
      protocolVersion: known ? requested : SUPPORTED_PROTOCOL_VERSIONS[0],
      capabilities: this.#options.capabilities,
      serverInfo: this.#info,
      ...(this.#options.instructions ? { instructions: this.#options.instructions } : {}),
    };
  }
}
