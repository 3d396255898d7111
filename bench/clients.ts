/**
 * What the benchmarks drive servers with: a JSON-RPC client on a server process's stdio
 * (bench/perf.ts, bench/pg.ts), a client on its own keep-alive HTTP connection
 * (bench/http.ts, bench/pg.ts), and the percentiles they report.
 */
import { spawnPiped } from "../tests/helpers/server.ts";

/** A JSON-RPC message as it came. */
export type Message = Record<string, unknown>;

/** A server process to start. */
export interface Command {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/** The `p` quantile (0-1) of sorted values: the first value at or above that share. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i]!;
}

export function median(values: number[]): number {
  return percentile([...values].sort((a, b) => a - b), 0.5);
}

const encoder = new TextEncoder();

/** One server process and a JSON-RPC connection to it over its stdin/stdout. */
export class RpcClient {
  readonly child: Deno.ChildProcess;
  readonly pid: number;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #pending = new Map<number, (message: Message) => void>();
  #nextId = 1;
  #errTail = "";
  #exited = false;
  readonly #done: Promise<unknown>;

  constructor(cmd: Command) {
    this.child = spawnPiped(cmd, cmd.env);
    this.pid = this.child.pid;
    this.#writer = this.child.stdin.getWriter();
    this.#done = Promise.all([this.#readOut(), this.#readErr()]);
    this.child.status.then(() => {
      this.#exited = true;
    });
  }

  async #readOut(): Promise<void> {
    let rest = "";
    for await (const chunk of this.child.stdout.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const line of parts) {
        if (line.trim() === "") continue;
        const msg = JSON.parse(line) as Message;
        if (typeof msg.id === "number" && ("result" in msg || "error" in msg)) {
          const resolve = this.#pending.get(msg.id);
          this.#pending.delete(msg.id);
          resolve?.(msg);
        }
        // Notifications (the peer announces changes) and server requests are ignored.
      }
    }
    const error = { error: { code: -1, message: `server exited: ${this.#errTail.slice(-500)}` } };
    for (const resolve of this.#pending.values()) resolve(error);
    this.#pending.clear();
  }

  async #readErr(): Promise<void> {
    // Drained as a real MCP client would; only the tail is kept, for error messages.
    for await (const chunk of this.child.stderr.pipeThrough(new TextDecoderStream())) {
      this.#errTail = (this.#errTail + chunk).slice(-4000);
    }
  }

  get stderrTail(): string {
    return this.#errTail;
  }

  request(method: string, params?: unknown): Promise<Message> {
    const id = this.#nextId++;
    const promise = new Promise<Message>((resolve) => this.#pending.set(id, resolve));
    const line = JSON.stringify({ jsonrpc: "2.0", id, method, ...(params ? { params } : {}) });
    this.#writer.write(encoder.encode(line + "\n")).catch(() => {});
    return promise;
  }

  notify(method: string, params?: unknown): void {
    const line = JSON.stringify({ jsonrpc: "2.0", method, ...(params ? { params } : {}) });
    this.#writer.write(encoder.encode(line + "\n")).catch(() => {});
  }

  /**
   * initialize, notifications/initialized, tools/list: what every MCP client does first.
   * `label` names the server in a failure.
   */
  async handshake(label = "server"): Promise<void> {
    const init = await this.request("initialize", {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "session-buddy-bench", version: "1.0.0" },
    });
    if (!init.result) {
      throw new Error(`${label}: initialize failed: ${JSON.stringify(init).slice(0, 500)}`);
    }
    this.notify("notifications/initialized");
    const list = await this.request("tools/list", {});
    if (!list.result) {
      throw new Error(`${label}: tools/list failed: ${JSON.stringify(list).slice(0, 500)}`);
    }
  }

  callTool(name: string, args: Record<string, unknown>): Promise<Message> {
    return this.request("tools/call", { name, arguments: args });
  }

  /** VmRSS and VmHWM of the server process, in MiB. */
  memory(): { rss: number; hwm: number } {
    // Deno lets only --allow-all read /proc files; `cat` needs just the run permission.
    const status = new TextDecoder().decode(
      new Deno.Command("cat", { args: [`/proc/${this.pid}/status`] }).outputSync().stdout,
    );
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
  }

  /**
   * RSS at rest: after a pause, the median of five readings 100 ms apart, so that one
   * reading caught before a garbage collection does not stand for the process.
   */
  async restingRss(): Promise<{ rss: number; hwm: number }> {
    await new Promise((r) => setTimeout(r, 500));
    const readings: number[] = [];
    let hwm = 0;
    for (let i = 0; i < 5; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      const m = this.memory();
      readings.push(m.rss);
      hwm = m.hwm;
    }
    return { rss: median(readings), hwm };
  }

  /**
   * Closes stdin (the MCP way to stop a stdio server), then signals if it lingers: 5 s
   * for a server to write what waits (a database's may take that), 2 s after SIGTERM.
   */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    const waited = async (ms: number) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.child.status, new Promise((r) => timer = setTimeout(r, ms))]);
      clearTimeout(timer);
    };
    await waited(5000);
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      if (this.#exited) break;
      try {
        this.child.kill(signal);
      } catch { /* gone */ }
      await waited(2000);
    }
    await this.child.status;
    await this.#done.catch(() => {});
  }
}

const HEADERS = {
  "content-type": "application/json",
  // What the SDK's client sends; the SDK's server transport insists on both.
  accept: "application/json, text/event-stream",
  "mcp-protocol-version": "2025-06-18",
};

/** A client holding one keep-alive connection to an HTTP server (one request at a time). */
export class HttpConn {
  readonly #http = Deno.createHttpClient({
    http2: false,
    poolMaxIdlePerHost: 1,
    poolIdleTimeout: 600_000,
  });
  #nextId = 1;

  constructor(readonly origin: string) {}

  /** The JSON text of a JSON-RPC request with this client's next id. */
  body(method: string, params?: unknown): string {
    return JSON.stringify({ jsonrpc: "2.0", id: this.#nextId++, method, params });
  }

  /** POSTs a message to /mcp; the parsed answer of a 200, else null. */
  async post(body: string): Promise<{ status: number; message: Message | null }> {
    const res = await fetch(`${this.origin}/mcp`, {
      method: "POST",
      headers: HEADERS,
      body,
      client: this.#http,
    });
    const text = await res.text();
    let message: Message | null = null;
    if (res.status === 200) {
      try {
        message = JSON.parse(text) as Message;
      } catch { /* counted as a failure by the caller */ }
    }
    return { status: res.status, message };
  }

  /** What an MCP client does first (the servers are stateless: once per client is enough). */
  async initialize(): Promise<void> {
    const init = await this.post(this.body("initialize", {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "session-buddy-bench", version: "1.0.0" },
    }));
    if (!init.message?.result) throw new Error(`initialize failed: HTTP ${init.status}`);
    const note = await this.post(
      JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
    );
    if (note.status !== 202) throw new Error(`notifications/initialized: HTTP ${note.status}`);
  }

  /** GET /healthz; its status. */
  async health(): Promise<number> {
    const res = await fetch(`${this.origin}/healthz`, { client: this.#http });
    await res.text();
    return res.status;
  }

  close(): void {
    this.#http.close();
  }
}
