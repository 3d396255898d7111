/**
 * Newline-delimited JSON-RPC over byte streams, as MCP's stdio transport frames it, with a
 * bound on message size. Lines that cannot be a message are answered with a JSON-RPC
 * error here, so every request gets exactly one response.
 */
import {
  envelopeError,
  errorResponse,
  INVALID_REQUEST,
  isId,
  isNotification,
  PARSE_ERROR,
} from "./jsonrpc.ts";
import type { JsonRpcMessage, Transport } from "./rpc.ts";

/** The largest message accepted, in bytes of its line (1 MiB). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

/** Requests read but not yet answered, at most; reading pauses while this many are open. */
export const MAX_IN_FLIGHT = 256;

/** How long answers to requests already read may take once input has ended. */
const DRAIN_LIMIT_MS = 10_000;
/** Where the transport reads and writes, as web streams (tests use in-memory ones). */
export interface ByteStreams {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}

/**
 * Where the transport reads and writes, as plain calls: `Deno.stdin.read` and
 * `Deno.stdout.write` in production, which cost less per message than the stream layers.
 */
export interface ByteCalls {
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
}

const READ_BUFFER_BYTES = 64 * 1024;

/** An MCP transport over newline-delimited JSON on two byte streams. */
export class LineTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JsonRpcMessage | JsonRpcMessage[]) => void;
  /** Whether a JSON-RPC batch may be passed on (the server negotiated MCP 2025-03-26). */
  acceptsBatches?: () => boolean;

  readonly #io: ByteStreams | ByteCalls;
  readonly #maxBytes: number;
  readonly #writer?: WritableStreamDefaultWriter<Uint8Array>;
  readonly #encoder = new TextEncoder();
  #unwritten: string[] = [];
  #flushing: Promise<void> | null = null;
  readonly #decoder = new TextDecoder();
  #reader?: ReadableStreamDefaultReader<Uint8Array>;
  #closed = false;
  // Requests read but not yet answered: input may end before their answers are written.
  readonly #outstanding = new Set<string | number>();
  #drained: (() => void) | null = null;
  #slotFree: (() => void) | null = null;

  constructor(io: ByteStreams | ByteCalls, maxBytes = MAX_MESSAGE_BYTES) {
    this.#io = io;
    this.#maxBytes = maxBytes;
    if ("writable" in io) this.#writer = io.writable.getWriter();
  }

  start(): Promise<void> {
    if ("readable" in this.#io) this.#reader = this.#io.readable.getReader();
    this.#readLoop()
      .catch((error) => this.onerror?.(error as Error))
      .then(() => this.#drain())
      .finally(() => this.close());
    return Promise.resolve();
  }

  /** Resolves once every request read so far has been answered. */
  #drain(): Promise<void> {
    if (this.#outstanding.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      // A request the client cancelled gets no answer; do not wait for it forever.
      const timer = setTimeout(resolve, DRAIN_LIMIT_MS);
      this.#drained = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** The next chunk of input, or null at its end. */
  async #readChunk(buffer: Uint8Array): Promise<Uint8Array | null> {
    if (this.#reader) {
      const { value, done } = await this.#reader.read();
      return done || !value ? null : value;
    }
    const n = await (this.#io as ByteCalls).read(buffer);
    return n === null ? null : buffer.subarray(0, n);
  }

  async #writeBytes(bytes: Uint8Array): Promise<void> {
    if (this.#writer) return await this.#writer.write(bytes);
    const io = this.#io as ByteCalls;
    let written = 0;
    while (written < bytes.length) written += await io.write(bytes.subarray(written));
  }

  async #readLoop(): Promise<void> {
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    let discarding = false;
    while (true) {
      // Pieces kept past this turn are copied, so the read buffer can be reused.
      const value = await this.#readChunk(buffer);
      if (!value) break;
      let start = 0;
      while (start < value.length) {
        const nl = value.indexOf(10, start);
        const end = nl === -1 ? value.length : nl;
        if (!discarding) {
          const piece = value.subarray(start, end);
          if (pendingBytes + piece.length > this.#maxBytes) {
            discarding = true;
            pending = [];
            pendingBytes = 0;
            this.#reply(JSON.stringify(errorResponse(
              null,
              INVALID_REQUEST,
              `Invalid Request: message larger than ${this.#maxBytes} bytes`,
            )));
          } else if (piece.length > 0) {
            pending.push(piece.slice());
            pendingBytes += piece.length;
          }
        }
        if (nl === -1) break;
        if (!discarding) {
          // Backpressure: a client that floods requests waits for answers before more
          // of its input is read, so memory stays bounded by the requests in flight.
          while (this.#outstanding.size >= MAX_IN_FLIGHT) {
            await new Promise<void>((resolve) => this.#slotFree = resolve);
          }
          this.#handleLine(concat(pending, pendingBytes));
        }
        pending = [];
        pendingBytes = 0;
        discarding = false;
        start = nl + 1;
      }
    }
    if (!discarding && pendingBytes > 0) this.#handleLine(concat(pending, pendingBytes));
  }

  #handleLine(bytes: Uint8Array): void {
    const line = this.#decoder.decode(bytes).trim();
    if (line === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      this.#reply(
        JSON.stringify(errorResponse(null, PARSE_ERROR, "Parse error: the line is not valid JSON")),
      );
      return;
    }
    if (Array.isArray(value) && value.length > 0 && this.acceptsBatches?.()) {
      // Its elements are checked one by one where they are answered (RpcServer.replyBatch).
      this.onmessage?.(value as JsonRpcMessage[]);
      return;
    }
    const problem = envelopeError(value);
    if (problem) {
      if (!isNotification(value)) this.#reply(JSON.stringify(problem));
      return;
    }
    const msg = value as Record<string, unknown>;
    if (typeof msg.method === "string" && isId(msg.id)) this.#outstanding.add(msg.id);
    this.onmessage?.(value as JsonRpcMessage);
  }

  #reply(text: string): void {
    this.#write(text).catch((error) => this.onerror?.(error as Error));
  }

  /**
   * Queues a line; lines queued in the same turn of the event loop go out in one write,
   * in the order they were queued. Resolves once the line has been written.
   */
  #write(text: string): Promise<void> {
    this.#unwritten.push(text);
    this.#flushing ??= Promise.resolve().then(() => this.#flushLines());
    return this.#flushing;
  }

  async #flushLines(): Promise<void> {
    try {
      while (this.#unwritten.length > 0) {
        const lines = this.#unwritten;
        this.#unwritten = [];
        await this.#writeBytes(this.#encoder.encode(lines.join("\n") + "\n"));
      }
    } finally {
      this.#flushing = null;
    }
  }

  async send(message: JsonRpcMessage | JsonRpcMessage[]): Promise<void> {
    if (this.#closed) return;
    await this.#write(JSON.stringify(message));
    if (Array.isArray(message)) return;
    if (!("method" in message) && isId(message.id)) this.forget(message.id);
  }

  /** A request read earlier is answered, or will never be (it was cancelled). */
  forget(id: string | number | null): void {
    if (id === null || !this.#outstanding.delete(id)) return;
    this.#slotFree?.();
    this.#slotFree = null;
    if (this.#outstanding.size === 0) this.#drained?.();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#reader?.cancel();
    } catch { /* already closed */ }
    try {
      await this.#flushing;
      await this.#writer?.close();
    } catch { /* stdout already gone */ }
    this.onclose?.();
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
