/** Free-form JSON objects (`metadata`): bounded in size and in depth. */
import assert from "node:assert/strict";
import { jsonDepth, MAX_JSON_DEPTH } from "../../../src/sessions/fields.ts";
import { parseEndEvent, parseStartEvent } from "../../../src/sessions/events.ts";
import { startArgs } from "../../helpers/server.ts";

function nested(levels: number): Record<string, unknown> {
  // {"a":[[...1...]]}: the object is one level, each array one more.
  return JSON.parse(`{"a":${"[".repeat(levels - 1)}1${"]".repeat(levels - 1)}}`);
}

Deno.test("jsonDepth counts levels without recursion and stops early", () => {
  assert.equal(jsonDepth(1), 0);
  assert.equal(jsonDepth({}), 1);
  assert.equal(jsonDepth({ a: [1, { b: null }] }), 3);
  assert.equal(jsonDepth(nested(10)), 10);
  // 200,000 levels: far past any stack, measured only up to the limit.
  assert.equal(jsonDepth(nested(200_000)), MAX_JSON_DEPTH + 1);
});

Deno.test("metadata at the depth limit is accepted, one level deeper is refused by name", () => {
  const ok = parseStartEvent(startArgs({ metadata: nested(MAX_JSON_DEPTH) }));
  assert.equal(ok.ok, true);
  const deep = parseStartEvent(startArgs({ metadata: nested(MAX_JSON_DEPTH + 1) }));
  assert.deepEqual(deep, {
    ok: false,
    reason: `Invalid metadata: nested more than ${MAX_JSON_DEPTH} levels deep`,
  });
});

Deno.test("regression: metadata nested 8,000 levels (under 16 KiB) with non-Latin-1 text is refused, not a crash", () => {
  // V8 serialises such a value recursively; this used to overflow the stack when the
  // record was stored ("store error: Maximum call stack size exceeded").
  const metadata = { note: "é😀", a: nested(8_000).a };
  const start = parseStartEvent(startArgs({ metadata }));
  assert.equal(start.ok, false);
  assert.match((start as { reason: string }).reason, /nested more than 64 levels deep/);
  const end = parseEndEvent({
    session_id: "x",
    timestamp: "2026-01-01T00:00:00Z",
    metadata: nested(100_000),
  });
  assert.equal(end.ok, false);
});
