/**
 * HTTP/1.1 spoken byte by byte over `Deno.connect`, for what `fetch` will not send: header
 * values no `Headers` object takes, requests cut short, connections held open and silent.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An HTTP response read off a socket. */
export interface RawResponse {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
}

/** Opens a TCP connection to the loopback server on `port`. */
export function connect(port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port });
}

/** Joins text and byte parts into one byte array. */
export function bytesOf(...parts: (string | Uint8Array)[]): Uint8Array {
  const chunks = parts.map((p) => typeof p === "string" ? encoder.encode(p) : p);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * The head of a `POST /mcp` as a Streamable HTTP client sends it, ending with the blank
 * line; `extra` is more header lines, each without its CRLF.
 */
export function postHead(port: number, contentLength: number, extra: string[] = []): string {
  return [
    "POST /mcp HTTP/1.1",
    `Host: 127.0.0.1:${port}`,
    "Content-Type: application/json",
    "Accept: application/json, text/event-stream",
    `Content-Length: ${contentLength}`,
    ...extra,
    "",
    "",
  ].join("\r\n");
}

/** Writes all of `bytes`. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

/**
 * Reads one response off `conn`: the head, then a `Content-Length` body (or everything up
 * to the close). Resolves null when the connection closes or `timeoutMs` passes first
 * (the connection is then closed).
 */
export async function readResponse(
  conn: Deno.Conn,
  timeoutMs: number,
): Promise<RawResponse | null> {
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed */ }
  }, timeoutMs);
  const buffer = new Uint8Array(64 * 1024);
  let bytes: Uint8Array = new Uint8Array(0);
  const more = async (): Promise<boolean> => {
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) return false;
    bytes = bytesOf(bytes, buffer.slice(0, n));
    return true;
  };
  try {
    let end: number;
    while ((end = indexOfBlankLine(bytes)) < 0) if (!(await more())) return null;
    const head = decoder.decode(bytes.subarray(0, end)).split("\r\n");
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? "");
    if (!status) return null;
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const colon = line.indexOf(":");
      if (colon > 0) {
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
    }
    const length = headers["content-length"];
    const bodyStart = end + 4;
    if (length !== undefined) {
      while (bytes.length < bodyStart + Number(length)) if (!(await more())) break;
      return {
        status: Number(status[1]),
        headers,
        body: decoder.decode(bytes.subarray(bodyStart, bodyStart + Number(length))),
      };
    }
    while (await more()) { /* to the close */ }
    return { status: Number(status[1]), headers, body: decoder.decode(bytes.subarray(bodyStart)) };
  } finally {
    clearTimeout(timer);
  }
}

function indexOfBlankLine(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

/** Sends `bytes` on a new connection and reads the one response; closes the connection. */
export async function exchange(
  port: number,
  bytes: Uint8Array,
  timeoutMs = 10_000,
): Promise<RawResponse | null> {
  const conn = await connect(port);
  try {
    await writeAll(conn, bytes);
    return await readResponse(conn, timeoutMs);
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/**
 * A connection held open by a test. `settled` becomes true once the server closed it or
 * answered on it (a read returned), which a server that keeps slow clients waiting does not.
 */
export interface Held {
  conn: Deno.TcpConn;
  settled: boolean;
  /** What the server sent before it settled, if anything. */
  received: string;
  /** Closes the connection (once); `done` then settles. */
  close(): void;
  /** Settles when the watching read has ended. */
  done: Promise<void>;
}

/** Opens a connection, writes `bytes` (if any) and keeps it open, watching for the server. */
export async function hold(port: number, bytes?: Uint8Array): Promise<Held> {
  const conn = await connect(port);
  if (bytes && bytes.length > 0) await writeAll(conn, bytes);
  let closed = false;
  const held: Held = {
    conn,
    settled: false,
    received: "",
    done: Promise.resolve(),
    close() {
      if (closed) return;
      closed = true;
      try {
        conn.close();
      } catch { /* closed */ }
    },
  };
  const buffer = new Uint8Array(4096);
  held.done = conn.read(buffer).then((n) => {
    if (closed) return;
    held.settled = true;
    if (n !== null) held.received = decoder.decode(buffer.subarray(0, n));
  }).catch(() => {
    if (!closed) held.settled = true;
  });
  return held;
}

/** Opens `count` held connections, `batch` at a time. */
export async function holdMany(
  count: number,
  port: number,
  bytes?: Uint8Array,
  batch = 50,
): Promise<Held[]> {
  const out: Held[] = [];
  try {
    while (out.length < count) {
      const n = Math.min(batch, count - out.length);
      out.push(...await Promise.all(Array.from({ length: n }, () => hold(port, bytes))));
    }
  } catch (error) {
    for (const h of out) h.close();
    throw error;
  }
  return out;
}

/** Closes held connections and waits for their watching reads to end. */
export async function release(held: Held[]): Promise<void> {
  for (const h of held) h.close();
  await Promise.all(held.map((h) => h.done));
}

/** The soft limit of open files of this process (children inherit it), or null. */
export async function fileLimit(): Promise<number | null> {
  try {
    const out = await new Deno.Command("sh", {
      args: ["-c", "ulimit -n"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const text = decoder.decode(out.stdout).trim();
    return text === "unlimited" ? Number.POSITIVE_INFINITY : Number(text) || null;
  } catch {
    return null;
  }
}

/** Waits until `check` holds or `ms` pass; returns whether it held. */
export async function until(check: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (true) {
    if (await check()) return true;
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Resident memory of a process, in KiB (Linux only; read through `cat`, as raw.ts does:
 * Deno wants --allow-all for /proc), or null.
 */
export async function rssKiB(pid: number): Promise<number | null> {
  try {
    const out = await new Deno.Command("cat", {
      args: [`/proc/${pid}/status`],
      stdout: "piped",
      stderr: "null",
    }).output();
    const m = /VmRSS:\s+(\d+)/.exec(decoder.decode(out.stdout));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** The value at rank `q` (0-1) of `values`, by nearest rank. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** How many file descriptors a process has open (Linux only, through `ls`), or null. */
export async function openFds(pid: number): Promise<number | null> {
  try {
    const out = await new Deno.Command("ls", {
      args: [`/proc/${pid}/fd`],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!out.success) return null;
    return decoder.decode(out.stdout).split("\n").filter((l) => l.trim() !== "").length;
  } catch {
    return null;
  }
}

/** The soft limit of open files of a running process (Linux, `/proc/PID/limits`), or null. */
export async function processFileLimit(pid: number): Promise<number | null> {
  try {
    const out = await new Deno.Command("cat", {
      args: [`/proc/${pid}/limits`],
      stdout: "piped",
      stderr: "null",
    }).output();
    const m = /^Max open files\s+(\S+)/m.exec(decoder.decode(out.stdout));
    if (!m) return null;
    return m[1] === "unlimited" ? Number.POSITIVE_INFINITY : Number(m[1]);
  } catch {
    return null;
  }
}
