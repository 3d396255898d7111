/** The human output of the operator commands: durations, local times, tables, colour. */
import assert from "node:assert/strict";
import { formatDuration, formatLocal, paintStatus, table } from "../../../src/cli/format.ts";

Deno.test("formatDuration: seconds, minutes, hours and days as an operator reads them", () => {
  assert.equal(formatDuration(45), "45s");
  assert.equal(formatDuration(185), "3m 05s");
  assert.equal(formatDuration(3845), "1h 04m");
  assert.equal(formatDuration(2 * 86400 + 3 * 3600), "2d 03h");
  assert.equal(formatDuration(3845.5), "1h 04m");
});

Deno.test("formatDuration: unit boundaries", () => {
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(59), "59s");
  assert.equal(formatDuration(59.99), "59s", "never rounded up into the next unit");
  assert.equal(formatDuration(60), "1m 00s");
  assert.equal(formatDuration(3599), "59m 59s");
  assert.equal(formatDuration(3600), "1h 00m");
  assert.equal(formatDuration(86399), "23h 59m");
  assert.equal(formatDuration(86400), "1d 00h");
  assert.equal(formatDuration(400 * 86400), "400d 00h");
});

Deno.test("formatDuration: nothing to show is a dash", () => {
  assert.equal(formatDuration(null), "-");
  assert.equal(formatDuration(NaN), "-");
  assert.equal(formatDuration(Infinity), "-");
  assert.equal(formatDuration(-5), "0s", "a negative duration shows as zero");
});

Deno.test("formatLocal: local YYYY-MM-DD HH:MM:SS, dash for nothing", () => {
  const iso = "2026-02-06T12:34:56.789Z";
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  const want = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${
    pad(d.getHours())
  }:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  assert.equal(formatLocal(iso), want);
  assert.match(formatLocal(iso), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
  assert.equal(formatLocal(null), "-");
  assert.equal(formatLocal("not a time"), "-");
});

Deno.test("table: columns aligned under their headers, two spaces apart", () => {
  const out = table(["SESSION", "STATUS", "USER"], [
    ["alpha-20260206-120000-2", "active", "john"],
    ["b", "ended", "mary-ann"],
  ]);
  const lines = out.split("\n");
  assert.equal(lines.length, 3);
  const statusCol = lines[0]!.indexOf("STATUS");
  const userCol = lines[0]!.indexOf("USER");
  assert.equal(statusCol, "alpha-20260206-120000-2".length + 2, "widest cell plus two spaces");
  assert.equal(userCol, statusCol + "active".length + 2);
  assert.equal(lines[1]!.indexOf("active"), statusCol);
  assert.equal(lines[2]!.indexOf("ended"), statusCol);
  assert.equal(lines[1]!.indexOf("john"), userCol);
  assert.equal(lines[2]!.indexOf("mary-ann"), userCol);
  for (const line of lines) assert.equal(line, line.trimEnd(), "no trailing spaces");
});

Deno.test("table: a header wider than its cells sets the width", () => {
  const lines = table(["A-LONG-HEADER", "B"], [["x", "y"]]).split("\n");
  assert.equal(lines[0], "A-LONG-HEADER  B");
  assert.equal(lines[1], "x" + " ".repeat(14) + "y");
});

Deno.test("table: colour escapes take no width", () => {
  const coloured = table(["STATUS", "USER"], [[paintStatus("active", true), "john"], [
    "ended",
    "mary",
  ]]);
  const plain = table(["STATUS", "USER"], [["active", "john"], ["ended", "mary"]]);
  // deno-lint-ignore no-control-regex
  assert.equal(coloured.replace(/\x1b\[[0-9;]*m/g, ""), plain);
  assert.ok(coloured.includes("\x1b["));
});

Deno.test("table: no rows is just the header", () => {
  assert.equal(table(["SESSION", "STATUS"], []), "SESSION  STATUS");
});

Deno.test("paintStatus: colour only when asked", () => {
  assert.equal(paintStatus("active", false), "active");
  assert.equal(paintStatus("stale", false), "stale");
  assert.notEqual(paintStatus("active", true), "active");
  assert.ok(paintStatus("stale", true).includes("stale"));
  assert.ok(paintStatus("stale", true).endsWith("\x1b[0m"));
});
