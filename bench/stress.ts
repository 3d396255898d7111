/**
 * `deno task stress`: the hardening suite (tests/stress) at full size, its figures as a table
 * and one JSON line; exits with the test run's status. SESSION_BUDDY_FUZZ_SEED=N replays.
 */
import { DEV_FLAGS } from "../tests/helpers/dev_flags.ts";
import { table } from "./harness.ts";

const figures = await Deno.makeTempFile({ prefix: "session-buddy-stress-", suffix: ".jsonl" });
const root = new URL("../", import.meta.url);
const began = performance.now();
const run = await new Deno.Command(Deno.execPath(), {
  args: [
    "test",
    "-P=test",
    "--config",
    new URL("deno.json", root).pathname,
    ...DEV_FLAGS,
    "tests/stress/",
  ],
  cwd: root.pathname,
  env: { SESSION_BUDDY_STRESS: "full", SESSION_BUDDY_STRESS_FIGURES: figures },
  stdout: "inherit",
  stderr: "inherit",
}).spawn().status;
const seconds = (performance.now() - began) / 1000;

const rows = (await Deno.readTextFile(figures)).split("\n").filter((l) => l.trim() !== "")
  .map((l) => JSON.parse(l) as Record<string, unknown>);
await Deno.remove(figures).catch(() => {});

const cell = (v: unknown) => (typeof v === "object" && v !== null ? JSON.stringify(v) : String(v));
console.log("\nsession-buddy stress figures");
const lines = rows.flatMap(({ name, ...rest }) =>
  Object.entries(rest).map(([k, v]) => [String(name), k, cell(v)])
);
console.log(table(["part", "figure", "value"], lines).join("\n"));
const summary = {
  stress: "full",
  passed: run.success,
  seconds: Number(seconds.toFixed(1)),
  deno: Deno.version.deno,
  ...Object.fromEntries(rows.map(({ name, ...rest }) => [String(name), rest])),
};
console.log(JSON.stringify(summary));
Deno.exit(run.code);
