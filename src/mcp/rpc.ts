/**
 * The server side of MCP's JSON-RPC: requests are routed by method to handlers, in the
 * revision each request belongs to (`revisions.ts`): `initialize` and `ping` in the
 * handshake revisions, `server/discover` in the stateless 2026-07-28 one, whose results
 * also carry the server's identity and caching hints. It stands in for the SDK's
 * `Server`, which adds more to a cold start than the benchmark's limit allows
 * (docs/performance.md, bench/decisions.ts). The SDK stays the reference: the end-to-end
 * tests speak to this server through its clients, v1 and v2, in both eras.
 *
 * @example
 * ```ts
 * const server = new RpcServer({ name: "demo", version: "1.0.0" }, { capabilities: { tools: {} } });
 * server.handle("tools/list", () => ({ tools: [] }), { cache: { ttlMs: 0, cacheScope: "public" } });
 * await server.connect(transport);
 * ```
 */

import type { AuthOutcome } from "../auth/verifier.ts";
import { envelopeError, errorResponse, INVALID_REQUEST, isId, isNotification } from "./jsonrpc.ts";
import {
  BATCH_VERSION,
  claimsModern,
  classify,
  HANDSHAKE_VERSIONS,
  MISSING_CLIENT_CAPABILITY,
  type Refusal,
  type RevisionHeaders,
  SERVER_INFO_KEY,
  SUPPORTED_VERSIONS,
} from "./revisions.ts";

/** One JSON-RPC 2.0 message, as a transport passes it (envelopes are checked there). */
export type JsonRpcMessage = Record<string, unknown>;

/** What a transport knows about a request beyond its message. */
export interface RequestContext {
  /**
   * The outcome of checking the request's own credentials (an HTTP bearer token), which
   * then stand for every tool's `token` argument. Absent over stdio.
   */
  auth?: Extract<AuthOutcome, { ok: true }>;
  /** The HTTP headers that name the revision, method and name; absent over stdio. */
  headers?: RevisionHeaders;
  /** Aborted when the request is cancelled: its work stops and nobody reads an answer. */
  signal?: AbortSignal;
}

/** What carries messages: the stdio transport in production, in-memory ones in tests. */
export interface Transport {
  start(): Promise<void>;
  send(message: JsonRpcMessage | JsonRpcMessage[]): Promise<void>;
  close(): Promise<void>;
  /** Told that a request read earlier will get no answer (it was cancelled). */
  forget?(id: Id): void;
  /** Set by the server: whether a JSON-RPC batch may be passed on. */
  acceptsBatches?: () => boolean;
  onmessage?: (message: JsonRpcMessage | JsonRpcMessage[]) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
}

/** JSON-RPC error codes this server answers with. */
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;

/** The handshake revisions, newest first; the first is offered to others. */
export const SUPPORTED_PROTOCOL_VERSIONS = HANDSHAKE_VERSIONS;

/** A failure a handler reports to the client as a JSON-RPC error with its own code. */
export class JsonRpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** Answers one request's params; a thrown {@linkcode JsonRpcError} becomes the error response. */
export type Handler = (params: Record<string, unknown>, context: RequestContext) => unknown;

/** A result the 2026-07-28 revision lets clients cache: how long, and for whom. */
export interface CacheHint {
  ttlMs: number;
  cacheScope: "public" | "private";
}

/** In which revisions a method exists, and the caching hint of its results. */
export interface MethodOptions {
  /** `legacy`: handshake revisions only; `modern`: 2026-07-28 only; default both. */
  era?: "legacy" | "modern";
  cache?: CacheHint;
}

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

/** A response and the HTTP status it is sent with (stdio sends only the message). */
export interface Reply {
  message: JsonRpcMessage;
  status: number;
}

interface Route {
  handler: Handler;
  options: MethodOptions;
}

/** An MCP server endpoint over one transport. */
export class RpcServer {
  onclose?: () => void;
  readonly #routes = new Map<string, Route>();
  readonly #info: ServerInfo;
  readonly #options: ServerOptions;
  readonly #resultMeta: Record<string, unknown>;
  #transport: Transport | null = null;
  /** Requests of this connection in progress, to cancel by id. */
  readonly #inFlight = new Map<Id, AbortController>();
  /** Whether this connection negotiated the revision whose batches must be accepted. */
  #batches = false;

  constructor(info: ServerInfo, options: ServerOptions) {
    this.#info = info;
    this.#options = options;
    this.#resultMeta = { [SERVER_INFO_KEY]: { name: info.name, version: info.version } };
    this.handle("initialize", (params) => this.#initialize(params), { era: "legacy" });
    this.handle("ping", () => ({}), { era: "legacy" });
    this.handle("server/discover", () => this.#discover(), { era: "modern" });
  }

  /** Routes requests of `method` to `handler` (replacing any earlier one). */
  handle(method: string, handler: Handler, options: MethodOptions = {}): void {
    this.#routes.set(method, { handler, options });
  }

  /** Starts serving on `transport`; resolves once it reads. */
  async connect(transport: Transport): Promise<void> {
    this.#transport = transport;
    transport.onmessage = (message) => this.#receive(message);
    transport.acceptsBatches = () => this.#batches;
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

  /** Whether JSON-RPC batches are answered on this connection (MCP 2025-03-26 only). */
  get acceptsBatches(): boolean {
    return this.#batches;
  }

  /**
   * The response to one message whose envelope the transport checked, or null for a
   * notification or a response (this server sends no requests, so neither needs an
   * answer).
   */
  async respond(
    message: JsonRpcMessage,
    context: RequestContext = {},
  ): Promise<JsonRpcMessage | null> {
    return (await this.reply(message, context))?.message ?? null;
  }

  /**
   * As {@linkcode respond}, with the HTTP status the revision gives the answer: 400 for a
   * refused envelope or header, 404 for a method the stateless revision does not have,
   * else 200 (errors of a handler stay in-band).
   */
  async reply(message: JsonRpcMessage, context: RequestContext = {}): Promise<Reply | null> {
    if (typeof message.method !== "string") return null;
    const method = message.method;
    if (!("id" in message)) {
      this.#notified(method, message.params);
      return null;
    }
    const id = message.id as Id;
    const params = (message.params ?? {}) as Record<string, unknown>;
    const era = classify({ method, params }, context.headers ?? null);
    if (era.kind === "refused") return this.#refusal(id, era.refusal);
    const modern = era.kind === "modern";
    try {
      const route = this.#routes.get(method);
      if (!route || (route.options.era && route.options.era !== era.kind)) {
        const error = new JsonRpcError(
          METHOD_NOT_FOUND,
          `Method not found: ${method.slice(0, 100)}`,
        );
        return { message: this.#errorResponse(id, error), status: modern ? 404 : 200 };
      }
      const result = await route.handler(params, context) as Record<string, unknown>;
      if (context.signal?.aborted) return null;
      return {
        message: {
          jsonrpc: "2.0",
          id,
          result: modern ? this.#modernResult(result, route.options.cache) : result,
        },
        status: 200,
      };
    } catch (error) {
      if (context.signal?.aborted) return null;
      // Handler errors stay in-band, but for the one the revision gives a status of its own.
      const status = modern && error instanceof JsonRpcError &&
          error.code === MISSING_CLIENT_CAPABILITY
        ? 400
        : 200;
      return { message: this.#errorResponse(id, error), status };
    }
  }

  /**
   * Answers each element of a JSON-RPC batch (MCP 2025-03-26): the responses, maybe none.
   * An element that is no message, or that claims the stateless revision (which has no
   * batches), gets its own error response.
   */
  async replyBatch(
    messages: unknown[],
    context: RequestContext = {},
  ): Promise<JsonRpcMessage[]> {
    const replies = await Promise.all(messages.map((m) => {
      const problem = envelopeError(m);
      if (problem) return isNotification(m) ? null : { message: problem, status: 400 };
      if (claimsModern(m)) {
        const id = (m as JsonRpcMessage).id;
        if (!isId(id)) return null;
        return {
          message: errorResponse(
            id,
            INVALID_REQUEST,
            "Invalid Request: a batch may not hold a request of MCP 2026-07-28",
          ),
          status: 400,
        };
      }
      return this.reply(m as JsonRpcMessage, context);
    }));
    return replies.flatMap((r) => r ? [r.message] : []);
  }

  #receive(message: JsonRpcMessage | JsonRpcMessage[]): void {
    if (Array.isArray(message)) {
      void this.replyBatch(message).then(async (responses) => {
        if (responses.length > 0) await this.#transport?.send(responses);
      }).catch((error) => this.#options.onerror?.(error));
      return;
    }
    const id = "id" in message && typeof message.method === "string" ? message.id as Id : undefined;
    const controller = id === undefined ? undefined : new AbortController();
    if (controller) this.#inFlight.set(id!, controller);
    void this.reply(message, controller ? { signal: controller.signal } : {}).then(
      async (reply) => {
        if (reply) await this.#transport?.send(reply.message);
      },
    ).catch((error) => this.#options.onerror?.(error)).finally(() => {
      if (controller && this.#inFlight.get(id!) === controller) this.#inFlight.delete(id!);
    });
  }

  /** A notification: `notifications/cancelled` stops the request it names; others need nothing. */
  #notified(method: string, params: unknown): void {
    if (method !== "notifications/cancelled") return;
    const requestId = typeof params === "object" && params !== null
      ? (params as Record<string, unknown>).requestId
      : undefined;
    if (typeof requestId !== "string" && typeof requestId !== "number") return;
    const controller = this.#inFlight.get(requestId);
    if (!controller) return;
    this.#inFlight.delete(requestId);
    controller.abort();
    // MCP has the receiver of a cancellation send no response for that request.
    this.#transport?.forget?.(requestId);
  }

  #refusal(id: Id, refusal: Refusal): Reply {
    const error: Record<string, unknown> = { code: refusal.code, message: refusal.message };
    if (refusal.data) error.data = refusal.data;
    return { message: { jsonrpc: "2.0", id, error }, status: refusal.status };
  }

  #modernResult(result: Record<string, unknown>, cache?: CacheHint): Record<string, unknown> {
    const meta = typeof result._meta === "object" && result._meta !== null ? result._meta : {};
    // Every 2026-07-28 result says whether it is complete (this server never asks for input).
    return { ...result, ...cache, resultType: "complete", _meta: { ...meta, ...this.#resultMeta } };
  }

  #errorResponse(id: Id, error: unknown): JsonRpcMessage {
    return { jsonrpc: "2.0", id, error: this.#errorOf(error) };
  }

  #errorOf(error: unknown): { code: number; message: string; data?: Record<string, unknown> } {
    if (error instanceof JsonRpcError) {
      return {
        code: error.code,
        message: error.message,
        ...(error.data ? { data: error.data } : {}),
      };
    }
    // Details stay in the log: an unexpected failure's text may name internals.
    this.#options.onerror?.(error);
    return { code: INTERNAL_ERROR, message: "Internal error" };
  }

  #discover() {
    return {
      supportedVersions: [...SUPPORTED_VERSIONS],
      capabilities: this.#options.capabilities,
      ...(this.#options.instructions ? { instructions: this.#options.instructions } : {}),
    };
  }

  #initialize(params: Record<string, unknown>) {
    const requested = params.protocolVersion;
    if (typeof requested !== "string") {
      throw new JsonRpcError(INVALID_PARAMS, "Invalid params: protocolVersion must be a string");
    }
    const known = (HANDSHAKE_VERSIONS as readonly string[]).includes(requested);
    const negotiated = known ? requested : HANDSHAKE_VERSIONS[0];
    this.#batches = negotiated === BATCH_VERSION;
    return {
      protocolVersion: negotiated,
      capabilities: this.#options.capabilities,
      serverInfo: this.#info,
      ...(this.#options.instructions ? { instructions: this.#options.instructions } : {}),
    };
  }
}
