/** Log lines reach stderr whole, in order, however they wait in the buffer (src/log.ts). */
import assert from "node:assert/strict";
import { CONFIG } from "../helpers/server.ts";

Deno.test("waiting log lines reach stderr whole and in order, a line longer than the buffer too", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "--config",
      CONFIG,
      new URL("../fixtures/log_lines.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr).slice(-2000));
  assert.equal(out.stdout.length, 0, "nothing on stdout");
  const lines = new TextDecoder().decode(out.stderr).split("\n");
  assert.equal(lines.pop(), "", "the output ends with a complete line");
  const messages = lines.map((line) => {
    const match = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARNING) - (.*)$/.exec(line);
    assert.ok(match, `a well-formed line: ${line.slice(0, 200)}`);
    return `${match[1]} ${match[2]}`;
  });
  const expected = [
    ...Array.from({ length: 1500 }, (_, i) => `INFO line ${i} ${"x".repeat(i % 97)}`),
    `INFO long ${"y".repeat(100_000)}`,
    "WARNING a warning",
    ...Array.from({ length: 10 }, (_, i) => `INFO line ${1500 + i}`),
  ];
  assert.equal(messages.length, expected.length);
  assert.deepEqual(messages, expected);
});
