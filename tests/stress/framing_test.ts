/**
 * Framing abuse over the real stdio boundary: oversized lines, invalid JSON, binary bytes,
 * JSON nested 100,000 deep and a flood of requests sent without waiting. The server
 * answers what it can, refuses what it must with a JSON-RPC error, keeps its memory
 * bounded (MAX_MESSAGE_BYTES = 1 MiB per line) and keeps serving.
 */
import assert from "node:assert/strict";
import { MAX_MESSAGE_BYTES } from "../../src/mcp/stdio.ts";
import { startArgs, tempDir } from "../helpers/server.ts";
import { figure, type Message, RawServer, size } from "./raw.ts";

const FLOOD = size(2_000, 10_000);
/** Extra oversized lines of the full run, in MiB: memory must not follow them. */
const HUGE_MIB = size([5], [5, 5, 5, 64, 128]);
const MEMORY_BOUND_KIB = 96 * 1024;

const line = (value: unknown) => JSON.stringify(value) + "\n";

async function alive(server: RawServer): Promise<void> {
  const answer = await server.request("ping");
  assert.deepEqual(answer.result, {}, `ping after abuse: ${JSON.stringify(answer)}`);
}

/** Writes raw text and waits for the one id-less error it must produce. */
async function refused(server: RawServer, bytes: Uint8Array | string, code: number) {
  const before = server.nullIdErrors.length;
  const next = server.nextNullIdError();
  await server.write(bytes);
  await next;
  assert.equal(server.nullIdErrors.length, before + 1);
  const error = server.nullIdErrors.at(-1)!.error as { code: number; message: string };
  assert.equal(error.code, code, JSON.stringify(error));
  return error.message;
}

function deep(levels: number, open: string, close: string, inner: string): string {
  return open.repeat(levels) + inner + close.repeat(levels);
}

Deno.test(`framing abuse: oversized, invalid, binary, 100,000-deep and a ${FLOOD}-request flood`, async () => {
  const { dir, cleanup } = await tempDir();
  const server = await RawServer.start({ env: { SESSION_BUDDY_DB: `${dir}/s.kv`, HOME: dir } });
  try {
    await alive(server);
    const baseline = await server.memory();

    // Oversized lines: refused with one error each, the rest of the line discarded.
    for (const mib of HUGE_MIB) {
      const chunk = new Uint8Array(1024 * 1024).fill(0x61); // "a"
      const next = server.nextNullIdError();
      for (let i = 0; i < mib; i++) await server.write(chunk);
      await server.write("\n");
      await next;
      const error = server.nullIdErrors.at(-1)!.error as { code: number; message: string };
      assert.equal(error.code, -32600);
      assert.match(error.message, new RegExp(`larger than ${MAX_MESSAGE_BYTES} bytes`));
      await alive(server);
    }
    const afterHuge = await server.memory();
    // A message of exactly the limit is served; one byte more is refused.
    const at = server.nextId();
    const exact = JSON.stringify({ jsonrpc: "2.0", id: at, method: "ping" });
    const answer = server.expect(at);
    await server.write(exact + " ".repeat(MAX_MESSAGE_BYTES - exact.length) + "\n");
    assert.deepEqual((await answer).result, {});
    const over = JSON.stringify({ jsonrpc: "2.0", id: server.nextId(), method: "ping" });
    await refused(server, over + " ".repeat(MAX_MESSAGE_BYTES - over.length + 1) + "\n", -32600);

    // Invalid JSON, a raw NUL inside a string, random bytes with no newline among them.
    await refused(server, '{"jsonrpc":"2.0","id":1,"method":\n', -32700);
    await refused(server, '{"jsonrpc":"2.0","id":7,"method":"p\u0000ing"}\n', -32700);
    const binary = crypto.getRandomValues(new Uint8Array(64 * 1024)).map((b) =>
      b === 0x0a || b === 0x20 ? 0xff : b
    );
    binary[0] = 0xfe; // never a JSON value's first byte
    await refused(server, new Uint8Array([...binary, 0x0a]), -32700);
    await refused(server, "[1,2,3]\n", -32600);
    await refused(server, '{"jsonrpc":"2.0","id":[3],"method":"ping"}\n', -32600);
    await refused(
      server,
      '{"jsonrpc":"1.0","id":3,"method":"ping"}\n'.replace('"id":3', '"id":{}'),
      -32600,
    );
    await alive(server);

    // JSON nested 100,000 deep: as a message, as an id, and as tool arguments.
    await refused(server, deep(100_000, "[", "]", "1") + "\n", -32600);
    await refused(
      server,
      `{"jsonrpc":"2.0","method":"ping","id":${deep(100_000, "[", "]", "1")}}\n`,
      -32600,
    );
    const deepArgs = JSON.stringify(startArgs()).replace(
      '"metadata":{}',
      `"metadata":${deep(100_000, '{"a":', "}", "1")}`,
    );
    const id = server.nextId();
    const deepAnswer = server.expect(id);
    await server.write(
      `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"track_session_start","arguments":${deepArgs}}}\n`,
    );
    const result = ((await deepAnswer).result as Record<string, unknown>)
      .structuredContent as Record<string, unknown>;
    assert.equal(result.status, "error");
    assert.match(String(result.error), /^Session start tracking failed: Invalid metadata: /);
    const nameless = await server.request("tools/call", {});
    assert.ok(nameless.error, "tools/call without a name is a JSON-RPC error");
    // Unknown tool: JSON-RPC -32602, and the server keeps serving.
    const unknown = await server.request("tools/call", { name: "rm_rf", arguments: {} });
    assert.equal((unknown.error as { code: number }).code, -32602);
    await alive(server);

    // A request split into single bytes, and one ending in CRLF.
    const split = server.nextId();
    const splitAnswer = server.expect(split);
    for (const ch of line({ jsonrpc: "2.0", id: split, method: "ping" })) await server.write(ch);
    assert.deepEqual((await splitAnswer).result, {});
    const crlf = server.nextId();
    const crlfAnswer = server.expect(crlf);
    await server.write(JSON.stringify({ jsonrpc: "2.0", id: crlf, method: "ping" }) + "\r\n");
    assert.deepEqual((await crlfAnswer).result, {});

    // The flood: every request written before any answer is read.
    const kinds = ["ping", "tools/list", "start", "get", "bad"] as const;
    const expected: { id: number; kind: (typeof kinds)[number] }[] = [];
    const parts: string[] = [];
    for (let i = 0; i < FLOOD; i++) {
      const kind = kinds[i % kinds.length]!;
      const id = server.nextId();
      expected.push({ id, kind });
      const params = kind === "start"
        ? { name: "track_session_start", arguments: startArgs({ component_name: `flood${i % 7}` }) }
        : kind === "get"
        ? { name: "get_session", arguments: { session_id: `nope-${i}` } }
        : kind === "bad"
        ? { name: "track_session_end", arguments: { session_id: i } }
        : undefined;
      const method = kind === "start" || kind === "get" || kind === "bad" ? "tools/call" : kind;
      parts.push(line({ jsonrpc: "2.0", id, method, ...(params ? { params } : {}) }));
    }
    const answers = expected.map((e) => server.expect(e.id));
    const began = performance.now();
    await server.write(parts.join(""));
    const messages: Message[] = await Promise.all(answers);
    const seconds = (performance.now() - began) / 1000;
    let tracked = 0;
    messages.forEach((msg, i) => {
      const kind = expected[i]!.kind;
      assert.ok(msg.result, `flood ${kind}: ${JSON.stringify(msg).slice(0, 300)}`);
      const sc = (msg.result as Record<string, unknown>).structuredContent as
        | Record<string, unknown>
        | undefined;
      if (kind === "start") {
        assert.equal(sc?.status, "tracked", JSON.stringify(sc));
        tracked++;
      }
      if (kind === "get") assert.equal(sc?.status, "not_found");
      if (kind === "bad") assert.equal(sc?.status, "error");
    });
    await alive(server);

    const after = await server.memory();
    assert.deepEqual(server.violations, [], "stdout carries JSON-RPC only, one answer per id");
    if (baseline && afterHuge) {
      // Garbage from discarded input may wait for the collector, but memory does not follow
      // the size of a line: 128 MiB of one line costs what 5 MiB does.
      const growth = afterHuge.peakKiB - baseline.rssKiB;
      assert.ok(
        growth < MEMORY_BOUND_KIB,
        `peak memory grew by ${growth} KiB after ${
          HUGE_MIB.reduce((a, b) => a + b)
        } MiB of oversized lines`,
      );
    }
    figure("framing", {
      oversized_mib: HUGE_MIB,
      max_message_bytes: MAX_MESSAGE_BYTES,
      flood_requests: FLOOD,
      flood_tracked: tracked,
      flood_seconds: Number(seconds.toFixed(2)),
      flood_per_second: Math.round(FLOOD / seconds),
      rss_start_kib: baseline?.rssKiB ?? null,
      rss_peak_after_oversized_kib: afterHuge?.peakKiB ?? null,
      rss_peak_after_flood_kib: after?.peakKiB ?? null,
      null_id_errors: server.nullIdErrors.length,
    });
    const status = await server.close();
    assert.equal(status.code, 0, server.stderr());
  } finally {
    await server.destroy();
    await cleanup();
  }
});
