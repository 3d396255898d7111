/**
 * Passes `deno test` output through and ends it with the plain line CI reads:
 * `N passed, M failed`. Exits 1 when a test failed or no summary was seen.
 */
const decoder = new TextDecoder();
const encoder = new TextEncoder();
let tail = "";
let passed = -1;
let failed = 0;
// deno-lint-ignore no-control-regex
const ESC = /\x1b\[[0-9;]*m/g;
const SUMMARY = /(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/;

for await (const chunk of Deno.stdin.readable) {
  await Deno.stdout.write(chunk);
  tail += decoder.decode(chunk, { stream: true });
  const lines = tail.split("\n");
  tail = lines.pop() ?? "";
  for (const line of lines) {
    // deno test colours its summary; strip escape codes before matching.
    const m = SUMMARY.exec(line.replace(ESC, ""));
    if (m) {
      passed = Number(m[1]);
      failed = Number(m[2]);
    }
  }
}
const m = SUMMARY.exec(tail.replace(ESC, ""));
if (m) {
  passed = Number(m[1]);
  failed = Number(m[2]);
}
if (passed < 0) {
  await Deno.stdout.write(encoder.encode("\n0 passed, 1 failed\n"));
  Deno.exit(1);
}
await Deno.stdout.write(encoder.encode(`\n${passed} passed, ${failed} failed\n`));
Deno.exit(failed > 0 ? 1 : 0);
