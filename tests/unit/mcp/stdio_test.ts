import assert from "node:assert/strict";
import { LineTransport, MAX_IN_FLIGHT } from "../../../src/mcp/stdio.ts";
import type { JsonRpcMessage } from "../../../src/mcp/rpc.ts";

const encoder = new TextEncoder();

/** Feeds `chunks` to a transport and collects what it writes until it closes. */
async function run(
  chunks: (string | Uint8Array)[],
  options: {
    maxBytes?: number;
    onmessage?: (m: JsonRpcMessage, t: LineTransport) => void;
  } = {},
): Promise<{ replies: Record<string, unknown>[]; received: JsonRpcMessage[]; raw: string }> {
  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) {
        controller.enqueue(typeof chunk === "string" ? encoder.encode(chunk) : chunk);
      }
      controller.close();
    },
  });
  let raw = "";
  const decoder = new TextDecoder();
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      raw += decoder.decode(chunk, { stream: true });
    },
  });
  const transport = new LineTransport({ readable, writable }, options.maxBytes);
  const received: JsonRpcMessage[] = [];
  const closed = new Promise<void>((resolve) => (transport.onclose = resolve));
  transport.onmessage = (message) => {
    const m = message as JsonRpcMessage;
    received.push(m);
    if (options.onmessage) options.onmessage(m, transport);
    // Answer requests at once so that end of input does not wait for them; answers are
    // left out of `replies`, which holds what the transport itself wrote.
    else if ("method" in m && "id" in m) {
      void transport.send({ jsonrpc: "2.0", id: m.id, result: { echo: true } } as JsonRpcMessage);
    }
  };
  await transport.start();
  const timeout = new Promise<never>((_, reject) => {
    const id = setTimeout(() => reject(new Error("transport did not close")), 15_000);
    closed.finally(() => clearTimeout(id));
  });
  await Promise.race([closed, timeout]);
  const replies = raw.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))
    .filter((r) => options.onmessage || !(r.result && r.result.echo === true));
  return { replies, received, raw };
}

const request = (id: number, method = "ping") => JSON.stringify({ jsonrpc: "2.0", id, method });

Deno.test("LineTransport: a valid request reaches onmessage and nothing is written", async () => {
  const { replies, received } = await run([request(1) + "\n"]);
  assert.deepEqual(received, [{ jsonrpc: "2.0", id: 1, method: "ping" }]);
  assert.deepEqual(replies, []);
});

Deno.test("LineTransport: invalid JSON gets -32700 with id null, and the next line is read", async () => {
  const { replies, received } = await run(["{not json\n", request(2) + "\n"]);
  assert.equal(replies.length, 1);
  assert.equal(replies[0]!.jsonrpc, "2.0");
  assert.equal(replies[0]!.id, null);
  assert.equal((replies[0]!.error as { code: number }).code, -32700);
  assert.deepEqual(received.map((m) => (m as { id: number }).id), [2]);
});

Deno.test("LineTransport: a non-object gets -32600 with id null", async () => {
  for (const line of ["42", '"text"', "[1,2]", "null", "true"]) {
    const { replies, received } = await run([line + "\n"]);
    assert.equal(replies.length, 1, line);
    assert.equal(replies[0]!.id, null, line);
    assert.equal((replies[0]!.error as { code: number }).code, -32600, line);
    assert.deepEqual(received, [], line);
  }
});

Deno.test("LineTransport: a wrong envelope gets -32600 with the request's id", async () => {
  const { replies, received } = await run([
    JSON.stringify({ jsonrpc: "1.0", id: 7, method: "ping" }) + "\n",
  ]);
  assert.deepEqual(received, []);
  assert.equal(replies[0]!.id, 7);
  assert.equal((replies[0]!.error as { code: number }).code, -32600);
});

Deno.test("LineTransport: an oversized line gets -32600 and the next line is still handled", async () => {
  const big = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "ping",
    params: { x: "y".repeat(500) },
  });
  const { replies, received } = await run([big + "\n" + request(2) + "\n"], { maxBytes: 200 });
  assert.equal(replies.length, 1, JSON.stringify(replies));
  assert.equal(replies[0]!.id, null);
  assert.equal((replies[0]!.error as { code: number }).code, -32600);
  assert.deepEqual(received, [{ jsonrpc: "2.0", id: 2, method: "ping" }]);
});

Deno.test("LineTransport: an oversized line split across chunks is discarded whole", async () => {
  const big = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "ping",
    params: { x: "y".repeat(500) },
  });
  const chunks = [big.slice(0, 150), big.slice(150, 300), big.slice(300) + "\n", request(3) + "\n"];
  const { replies, received } = await run(chunks, { maxBytes: 200 });
  assert.equal(replies.length, 1, JSON.stringify(replies));
  assert.equal((replies[0]!.error as { code: number }).code, -32600);
  assert.deepEqual(received.map((m) => (m as { id: number }).id), [3]);
});

Deno.test("LineTransport: a message split across chunks, CRLF, blank lines, no final newline", async () => {
  const one = request(1);
  const { replies, received } = await run([
    one.slice(0, 10),
    one.slice(10) + "\r\n\n   \n",
    request(2),
  ]);
  assert.deepEqual(replies, []);
  assert.deepEqual(received.map((m) => (m as { id: number }).id), [1, 2]);
});

Deno.test("LineTransport: a bad notification gets no reply", async () => {
  const { replies, received } = await run([
    JSON.stringify({ jsonrpc: "1.0", method: "notifications/x" }) + "\n",
  ]);
  assert.deepEqual(replies, []);
  assert.deepEqual(received, []);
});

Deno.test("LineTransport: at end of input, answers to requests already read are written", async () => {
  const { replies } = await run([request(1) + "\n" + request(2) + "\n"], {
    onmessage(m, t) {
      const id = (m as { id: number }).id;
      setTimeout(() => t.send({ jsonrpc: "2.0", id, result: {} } as JsonRpcMessage), 50 * id);
    },
  });
  assert.deepEqual(replies, [
    { jsonrpc: "2.0", id: 1, result: {} },
    { jsonrpc: "2.0", id: 2, result: {} },
  ]);
});

Deno.test("LineTransport: reading pauses while MAX_IN_FLIGHT requests are unanswered", async () => {
  const lines = Array.from(
    { length: MAX_IN_FLIGHT + 20 },
    (_, i) => JSON.stringify({ jsonrpc: "2.0", id: i, method: "ping" }) + "\n",
  ).join("");
  const readable = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode(lines));
    },
  });
  const transport = new LineTransport({ readable, writable: new WritableStream() });
  const seen: number[] = [];
  transport.onmessage = (m) => seen.push((m as { id: number }).id);
  await transport.start();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(seen.length, MAX_IN_FLIGHT);
  await transport.send({ jsonrpc: "2.0", id: 0, result: {} } as never);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(seen.length, MAX_IN_FLIGHT + 1);
  await transport.close();
});
