/**
 * A raw client of the real server: newline-delimited JSON-RPC written straight to its
 * stdin and read straight from its stdout, with no SDK in between, so that the tests see
 * every byte the server writes and can send bytes no SDK would.
 *
 * Every stdout line is checked as it arrives: it must be a JSON-RPC 2.0 message, and a
 * response must answer a request that is waiting and was not answered before. Anything
 * else is recorded in `violations`.
 */
import { programCommand, spawnPiped } from "../helpers/server.ts";

/** Size of the suite: `quick` for `deno task test`, `full` for `deno task stress`. */
export const FULL = (Deno.env.get("SESSION_BUDDY_STRESS") ?? "").toLowerCase() === "full";

/** Picks the quick or the full value. */
export function size<T>(quick: T, full: T): T {
  return FULL ? full : quick;
}

/**
 * Records one figure of the run. With `SESSION_BUDDY_STRESS_FIGURES` set (bench/stress.ts
 * sets it) the figure is appended to that file as a JSON line; it is always printed.
 */
export function figure(name: string, values: Record<string, unknown>): void {
  const line = JSON.stringify({ name, ...values });
  console.log(`STRESS ${line}`);
  const file = Deno.env.get("SESSION_BUDDY_STRESS_FIGURES");
  if (file) Deno.writeTextFileSync(file, line + "\n", { append: true });
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * JSON text placed as-is where this object stands in a message: values nested thousands
 * deep that the test's own JSON.stringify could not serialise.
 */
export class RawJson {
  constructor(readonly text: string) {}
}

/** JSON.stringify that writes {@linkcode RawJson} values verbatim. */
export function serialise(value: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_k, v) => {
    if (v instanceof RawJson) {
      raws.push(v.text);
      return `\u0000RAW${raws.length - 1}\u0000`;
    }
    return v;
  });
  return raws.length === 0
    ? text
    : text.replace(/"\\u0000RAW(\d+)\\u0000"/g, (_m, i) => raws[Number(i)]!);
}

/** One JSON-RPC message as the server wrote it. */
export type Message = Record<string, unknown>;

/** Options for {@linkcode RawServer.start}. */
export interface RawOptions {
  env?: Record<string, string>;
  args?: string[];
  /** Wraps the command, e.g. `["prlimit", "--fsize=1000000"]`. */
  wrap?: (command: string, args: string[]) => { command: string; args: string[] };
  /** Skip `initialize`. */
  noInit?: boolean;
}

/** A server process spoken to byte by byte. */
export class RawServer {
  readonly child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #waiting = new Map<string, (m: Message) => void>();
  readonly #answered = new Set<string>();
  /** Every message with `id: null` (answers to lines that had no usable id). */
  readonly nullIdErrors: Message[] = [];
  /** Anything on stdout that breaks the protocol. */
  readonly violations: string[] = [];
  /** Count of stdout lines read. */
  lines = 0;
  #stderr = "";
  #nextId = 1;
  readonly #pumps: Promise<void>[];
  readonly exited: Promise<Deno.CommandStatus>;
  #dead = false;
  #nullWaiters: (() => void)[] = [];

  private constructor(child: Deno.ChildProcess) {
    this.child = child;
    this.#writer = child.stdin.getWriter();
    this.exited = child.status.then((s) => {
      this.#dead = true;
      return s;
    });
    this.#pumps = [this.#readStdout(), this.#readStderr()];
  }

  /** Spawns the server with the shipped permission set on `env`. */
  static async start(options: RawOptions = {}): Promise<RawServer> {
    let { command, args } = programCommand(options.args ?? []);
    if (options.wrap) ({ command, args } = options.wrap(command, args));
    const child = spawnPiped({ command, args }, options.env);
    const server = new RawServer(child);
    if (!options.noInit) await server.initialize();
    return server;
  }

  get pid(): number {
    return this.child.pid;
  }

  get alive(): boolean {
    return !this.#dead;
  }

  /** Everything on stderr so far. */
  stderr(): string {
    return this.#stderr;
  }

  async #readStdout(): Promise<void> {
    let tail = "";
    try {
      for await (const chunk of this.child.stdout) {
        tail += decoder.decode(chunk, { stream: true });
        let nl;
        while ((nl = tail.indexOf("\n")) !== -1) {
          this.#onLine(tail.slice(0, nl));
          tail = tail.slice(nl + 1);
        }
      }
    } catch { /* killed */ }
    // A line cut short by SIGKILL is not a protocol violation of a live server.
    if (tail.trim() !== "" && !this.#killed) {
      this.violations.push(`unterminated: ${tail.slice(0, 200)}`);
    }
    for (const [, resolve] of this.#waiting) resolve({ closed: true });
    this.#waiting.clear();
    for (const w of this.#nullWaiters) w();
  }

  async #readStderr(): Promise<void> {
    try {
      for await (const chunk of this.child.stderr) {
        this.#stderr += decoder.decode(chunk, { stream: true });
      }
    } catch { /* killed */ }
  }

  #onLine(line: string): void {
    this.lines++;
    let msg: Message;
    try {
      msg = JSON.parse(line);
    } catch {
      this.violations.push(`not JSON: ${line.slice(0, 200)}`);
      return;
    }
    if (msg === null || typeof msg !== "object" || Array.isArray(msg) || msg.jsonrpc !== "2.0") {
      this.violations.push(`not a JSON-RPC 2.0 object: ${line.slice(0, 200)}`);
      return;
    }
    if ("method" in msg) return; // a notification or request from the server
    if (!("result" in msg) && !("error" in msg)) {
      this.violations.push(`neither result nor error: ${line.slice(0, 200)}`);
      return;
    }
    if (msg.id === null) {
      this.nullIdErrors.push(msg);
      const w = this.#nullWaiters.shift();
      w?.();
      return;
    }
    const key = JSON.stringify(msg.id);
    const resolve = this.#waiting.get(key);
    if (!resolve) {
      this.violations.push(
        this.#answered.has(key)
          ? `second response to id ${key}`
          : `response to unknown id ${key}: ${line.slice(0, 200)}`,
      );
      return;
    }
    this.#waiting.delete(key);
    this.#answered.add(key);
    resolve(msg);
  }

  #killed = false;

  /** Kills the process with SIGKILL. */
  kill(): void {
    this.#killed = true;
    try {
      this.child.kill("SIGKILL");
    } catch { /* already gone */ }
  }

  /** Writes raw bytes to stdin. */
  async write(bytes: Uint8Array | string): Promise<void> {
    await this.#writer.write(typeof bytes === "string" ? encoder.encode(bytes) : bytes);
  }

  /** A fresh request id. */
  nextId(): number {
    return this.#nextId++;
  }

  /** Expects a response to `id`; resolves with it (or `{closed: true}` if stdout ends). */
  expect(id: number | string): Promise<Message> {
    return new Promise((resolve) => this.#waiting.set(JSON.stringify(id), resolve));
  }

  /** Resolves when the next `id: null` error arrives (or stdout ends). */
  nextNullIdError(): Promise<void> {
    return new Promise((resolve) => this.#nullWaiters.push(resolve));
  }

  /** Sends a request and waits for its response. */
  async request(method: string, params?: unknown, id = this.nextId()): Promise<Message> {
    if (this.#dead) return { closed: true };
    const answer = this.expect(id);
    try {
      await this.write(serialise({ jsonrpc: "2.0", id, method, params }) + "\n");
    } catch {
      // stdin is gone: the process died. Wait for it, so that callers that retry do not
      // spin on microtasks while the exit is never observed.
      this.#waiting.delete(JSON.stringify(id));
      await this.exited;
      return { closed: true };
    }
    return await answer;
  }

  /** Calls a tool; returns the whole response message. */
  async callMessage(name: string, args: unknown): Promise<Message> {
    return await this.request("tools/call", { name, arguments: args });
  }

  /** Calls a tool and returns its structured result (throws on a JSON-RPC error). */
  async call(name: string, args: unknown): Promise<Record<string, unknown>> {
    const msg = await this.callMessage(name, args);
    if (msg.closed) throw new Error("server closed its stdout");
    if (!msg.result) throw new Error(`JSON-RPC error: ${JSON.stringify(msg.error)}`);
    return (msg.result as Record<string, unknown>).structuredContent as Record<string, unknown>;
  }

  async initialize(): Promise<void> {
    const answer = await this.request("initialize", {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "stress", version: "1" },
    });
    if (!answer.result) {
      throw new Error(`initialize failed: ${JSON.stringify(answer)}\n${this.#stderr}`);
    }
    await this.write(
      JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) + "\n",
    );
  }

  /** Requests still waiting for an answer. */
  get outstanding(): number {
    return this.#waiting.size;
  }

  /**
   * Resident memory of the process now and at its peak, in KiB (Linux only). Read through
   * `cat`: Deno wants --allow-all for /proc, the test permission set grants `run`.
   */
  async memory(): Promise<{ rssKiB: number; peakKiB: number } | null> {
    try {
      const out = await new Deno.Command("cat", {
        args: [`/proc/${this.pid}/status`],
        stdout: "piped",
        stderr: "null",
      }).output();
      const status = decoder.decode(out.stdout);
      const rss = /VmRSS:\s+(\d+)/.exec(status);
      const hwm = /VmHWM:\s+(\d+)/.exec(status);
      return rss && hwm ? { rssKiB: Number(rss[1]), peakKiB: Number(hwm[1]) } : null;
    } catch {
      return null;
    }
  }

  /** Closes stdin and waits for the process to end. */
  async close(): Promise<Deno.CommandStatus> {
    try {
      await this.#writer.close();
    } catch { /* already closed */ }
    const status = await this.exited;
    await Promise.all(this.#pumps);
    return status;
  }

  /** Kills the process and waits for it. */
  async destroy(): Promise<void> {
    this.kill();
    try {
      await this.#writer.close();
    } catch { /* gone */ }
    await this.exited;
    await Promise.all(this.#pumps);
  }
}

/** Every text in `haystacks` checked for every secret: returns the findings. */
export function findSecrets(haystacks: Record<string, string>, secrets: string[]): string[] {
  const found: string[] = [];
  for (const [where, text] of Object.entries(haystacks)) {
    for (const secret of secrets) {
      if (secret.length >= 8 && text.includes(secret)) {
        found.push(`${where} holds a secret (${secret.slice(0, 6)}...)`);
      }
    }
  }
  return found;
}

/** Every stored entry rendered as text, keys and values; for secret scans. */
export async function dumpAll(db: string): Promise<string> {
  const kv = await Deno.openKv(db);
  try {
    const out: string[] = [];
    for await (const entry of kv.list({ prefix: [] })) {
      const v = entry.value;
      out.push(
        JSON.stringify(entry.key, (_k, x) => typeof x === "bigint" ? String(x) : x) + " " +
          (v instanceof Uint8Array
            ? decoder.decode(v)
            : JSON.stringify(v, (_k, x) => typeof x === "bigint" ? String(x) : x)),
      );
    }
    return out.join("\n");
  } finally {
    kv.close();
  }
}

/** The permission bits of a file, or null when it does not exist. */
export function modeOf(path: string): number | null {
  try {
    const mode = Deno.statSync(path).mode;
    return mode === null ? null : mode & 0o777;
  } catch {
    return null;
  }
}
