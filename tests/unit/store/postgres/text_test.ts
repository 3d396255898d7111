import assert from "node:assert/strict";
import { columnText, sendable } from "../../../../src/store/postgres/text.ts";

Deno.test("columnText leaves ordinary text as it is", () => {
  for (const s of ["web1", "ünïcødé", "😀 emoji", "tab\there", ""]) assert.equal(columnText(s), s);
});

Deno.test("columnText spells U+0000, U+FFFD and lone surrogates so PostgreSQL can hold them", () => {
  for (const s of ["a\u0000b", "\ud800", "x\udc00y", "\uFFFD", "\udbff\u0000"]) {
    const c = columnText(s);
    assert.ok(sendable(c), JSON.stringify(c));
    assert.ok(!c.includes("\u0000"));
  }
});

Deno.test("columnText keeps distinct strings distinct", () => {
  const alphabet = ["a", "\u0000", "\uFFFD", "0", "s", "\ud800", "\udc00", "d", "8"];
  const seen = new Map<string, string>();
  // Every string of up to four of these characters.
  const all: string[] = [""];
  for (let len = 1; len <= 4; len++) {
    for (const prefix of all.filter((s) => s.length === len - 1)) {
      for (const c of alphabet) all.push(prefix + c);
    }
  }
  for (const s of all) {
    const c = columnText(s);
    const before = seen.get(c);
    assert.ok(before === undefined, `${JSON.stringify(s)} and ${JSON.stringify(before)}`);
    seen.set(c, s);
  }
  assert.ok(seen.size > 6000);
});

Deno.test("sendable refuses U+0000 and lone surrogates only", () => {
  assert.ok(sendable("mahavishnu-20260206-123456"));
  assert.ok(sendable("😀"));
  assert.ok(!sendable("a\u0000"));
  assert.ok(!sendable("\ud83d"));
  assert.ok(!sendable("\ude00x"));
});
