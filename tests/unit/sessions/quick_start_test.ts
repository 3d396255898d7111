/**
 * The start event's quick path (`quickStart`) must give exactly what the zod schema gives,
 * or step aside: on generated arguments, valid and not, near every limit, it either
 * declines or returns the schema's own result, key order included.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { quickStart, SessionStartSchema } from "../../../src/sessions/events.ts";
import { startArgs } from "../../helpers/server.ts";

/** Mostly a valid value, sometimes a near miss: padded, empty, too long, wrong type, absent. */
function around(valid: fc.Arbitrary<unknown>, maxLength: number): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 24, arbitrary: valid },
    { weight: 2, arbitrary: valid.map((v) => typeof v === "string" ? `  ${v}\t` : v) },
    {
      weight: 1,
      arbitrary: fc.constantFrom("", "   ", "x".repeat(maxLength), "x".repeat(maxLength + 1)),
    },
    { weight: 1, arbitrary: fc.constantFrom(undefined, null, 7, true, [], {}) },
  );
}

/** Mostly `valid`, now and then one of `misses`. */
function mostly(valid: fc.Arbitrary<unknown>, ...misses: unknown[]): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 20, arbitrary: valid }, {
    weight: 1,
    arbitrary: fc.constantFrom(...misses),
  });
}

const word = fc.stringMatching(/^[a-zA-Z0-9_-]{1,20}$/);
const text = fc.string({ minLength: 1, maxLength: 30, unit: "grapheme" });
const json = fc.jsonValue({ maxDepth: 4 });

const args = fc.record({
  event_version: mostly(fc.constant("1.0"), "1.0 ", "2.0", 1, undefined),
  event_id: fc.oneof(
    { weight: 16, arbitrary: fc.uuid({ version: 4 }) },
    { weight: 2, arbitrary: fc.uuid({ version: 4 }).map((u) => ` ${u.toUpperCase()} `) },
    { weight: 1, arbitrary: fc.constantFrom("not-a-uuid", "", 42, undefined) },
  ),
  event_type: mostly(fc.constantFrom("session_start", undefined), "session_end", null),
  component_name: around(word, 64),
  shell_type: around(text, 100),
  timestamp: fc.oneof(
    { weight: 12, arbitrary: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        "2026-02-06T12:34:56",
        " 2026-02-06T12:34:56+05:30 ",
        "2026-02-30T00:00:00Z",
        "2026-02-06 12:34:56",
        "2026-02-06T12:34:60Z",
        "yesterday",
      ),
    },
  ),
  pid: mostly(fc.integer({ min: 1, max: 4_194_304 }), 0, -1, 4_194_305, 1.5, "12", null),
  user: mostly(
    fc.record({ username: around(word, 100), home: around(text, 500) }),
    null,
    "john",
    [],
    undefined,
  ),
  hostname: around(word, 253),
  environment: mostly(
    fc.tuple(
      fc.record({
        python_version: around(text, 100),
        platform: around(text, 200),
        cwd: around(text, 500),
      }),
      fc.dictionary(
        word,
        fc.oneof({ weight: 6, arbitrary: text }, { weight: 1, arbitrary: json }),
        {
          maxKeys: 3,
        },
      ),
    ).map(([known, extra]) => ({ ...extra, ...known })),
    null,
    "env",
    [],
    undefined,
  ),
  metadata: fc.oneof(
    fc.constantFrom(undefined, null, {}, [], "meta", { big: "x".repeat(17 * 1024) }),
    fc.dictionary(fc.string({ maxLength: 8 }), json, { maxKeys: 5 }),
    fc.dictionary(fc.constantFrom("__proto__", "a"), json, { maxKeys: 2 }),
  ),
  extra: fc.option(json),
}, {
  requiredKeys: [
    "event_version",
    "event_id",
    "component_name",
    "shell_type",
    "timestamp",
    "pid",
    "user",
    "hostname",
    "environment",
  ],
});

Deno.test("quickStart declines or agrees with the schema, on generated arguments", () => {
  let quick = 0;
  fc.assert(
    fc.property(args, (input) => {
      const fast = quickStart(input);
      const slow = SessionStartSchema.safeParse(input);
      if (fast === undefined) return;
      quick++;
      assert.ok(
        slow.success,
        `quick path accepted what the schema refuses: ${JSON.stringify(input)}`,
      );
      const { token: _token, ...expected } = slow.data;
      assert.deepEqual(fast, expected);
      assert.equal(JSON.stringify(fast), JSON.stringify(expected));
    }),
    { numRuns: 3000 },
  );
  // The generators reach the quick path often enough for the comparison to mean something.
  assert.ok(quick > 50, `only ${quick} generated calls took the quick path`);
});

Deno.test("quickStart takes the shell's ordinary start, with and without metadata", () => {
  for (const metadata of [{}, null, undefined, { exit: { code: 0 } }]) {
    const input = startArgs({ metadata });
    const fast = quickStart(input);
    assert.ok(fast, JSON.stringify(metadata));
    const slow = SessionStartSchema.parse(input);
    const { token: _token, ...expected } = slow;
    assert.equal(JSON.stringify(fast), JSON.stringify(expected));
  }
  // Unusual input goes to the schema, which words the error.
  assert.equal(quickStart(startArgs({ pid: "12" })), undefined);
  assert.equal(quickStart([startArgs()]), undefined);
});
