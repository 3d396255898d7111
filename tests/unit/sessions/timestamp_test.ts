import assert from "node:assert/strict";
import { compactUtc, parseInstant } from "../../../src/sessions/timestamp.ts";

const at = (iso: string) => Date.parse(iso);

Deno.test("parseInstant: the seed's form with Z and milliseconds", () => {
  assert.equal(parseInstant("2026-02-06T12:34:56.789Z"), at("2026-02-06T12:34:56.789Z"));
  assert.equal(parseInstant("2026-02-06T12:34:56.789Z"), 1770381296789);
});

Deno.test("parseInstant: no fraction, no offset means UTC", () => {
  assert.equal(parseInstant("2026-02-06T12:34:56"), at("2026-02-06T12:34:56Z"));
  assert.equal(parseInstant("2026-02-06T12:34:56Z"), at("2026-02-06T12:34:56Z"));
});

Deno.test("parseInstant: offsets are applied", () => {
  assert.equal(parseInstant("2026-02-06T13:34:56+01:00"), at("2026-02-06T12:34:56Z"));
  assert.equal(parseInstant("2026-02-06T07:04:56-05:30"), at("2026-02-06T12:34:56Z"));
  assert.equal(parseInstant("2026-02-06T12:34:56+00:00"), at("2026-02-06T12:34:56Z"));
  assert.equal(parseInstant("2026-02-06T12:34:56-00:00"), at("2026-02-06T12:34:56Z"));
  // An offset can move the instant across a date boundary.
  assert.equal(parseInstant("2026-01-01T00:30:00+01:00"), at("2025-12-31T23:30:00Z"));
});

Deno.test("parseInstant: out-of-range offsets are refused", () => {
  assert.equal(parseInstant("2026-02-06T12:34:56+24:00"), null);
  assert.equal(parseInstant("2026-02-06T12:34:56+01:60"), null);
  assert.equal(parseInstant("2026-02-06T12:34:56+0100"), null);
  assert.equal(parseInstant("2026-02-06T12:34:56+01"), null);
});

Deno.test("parseInstant: second 60 is a leap second counted as 59", () => {
  assert.equal(parseInstant("2016-12-31T23:59:60Z"), at("2016-12-31T23:59:59Z"));
  assert.equal(parseInstant("2016-12-31T23:59:60.5Z"), at("2016-12-31T23:59:59.500Z"));
  assert.equal(parseInstant("2016-12-31T23:59:61Z"), null);
});

Deno.test("parseInstant: fraction digits are cut, never rounded up", () => {
  assert.equal(parseInstant("2026-02-06T12:34:56.9999999Z"), at("2026-02-06T12:34:56.999Z"));
  assert.equal(parseInstant("2026-12-31T23:59:59.9999Z"), at("2026-12-31T23:59:59.999Z"));
  assert.equal(parseInstant("2026-02-06T12:34:56.1Z"), at("2026-02-06T12:34:56.100Z"));
  assert.equal(parseInstant("2026-02-06T12:34:56.12Z"), at("2026-02-06T12:34:56.120Z"));
  assert.equal(parseInstant("2026-02-06T12:34:56.123456+02:00"), at("2026-02-06T10:34:56.123Z"));
});

Deno.test("parseInstant: invalid calendar dates and times are refused", () => {
  for (
    const text of [
      "2026-02-29T00:00:00Z", // not a leap year
      "1900-02-29T00:00:00Z", // century, not a leap year
      "2026-02-30T00:00:00Z",
      "2026-04-31T00:00:00Z",
      "2026-13-01T00:00:00Z",
      "2026-00-10T00:00:00Z",
      "2026-01-00T00:00:00Z",
      "2026-01-32T00:00:00Z",
      "2026-01-01T24:00:00Z",
      "2026-01-01T23:60:00Z",
    ]
  ) {
    assert.equal(parseInstant(text), null, text);
  }
  assert.equal(parseInstant("2024-02-29T00:00:00Z"), at("2024-02-29T00:00:00Z"));
  assert.equal(parseInstant("2000-02-29T00:00:00Z"), at("2000-02-29T00:00:00Z"));
});

Deno.test("parseInstant: malformed text is refused", () => {
  for (
    const text of [
      "",
      "2026-02-06",
      "2026-02-06 12:00",
      "2026-02-06 12:34:56Z",
      "2026-02-06t12:34:56Z",
      "2026-02-06T12:34Z",
      "2026-2-6T12:34:56Z",
      "2026-02-06T12:34:56.Z",
      "2026-02-06T12:34:56z",
      " 2026-02-06T12:34:56Z",
      "2026-02-06T12:34:56Z ",
      "+02026-02-06T12:34:56Z",
      "abc",
    ]
  ) {
    assert.equal(parseInstant(text), null, JSON.stringify(text));
  }
});

Deno.test("parseInstant: four-digit years only, bounds included", () => {
  assert.equal(parseInstant("0000-01-01T00:00:00Z"), -62167219200000);
  assert.equal(parseInstant("0001-01-01T00:00:00Z"), at("0001-01-01T00:00:00Z"));
  assert.equal(parseInstant("0099-06-15T00:00:00Z"), at("0099-06-15T00:00:00Z"));
  assert.equal(parseInstant("9999-12-31T23:59:59.999Z"), 253402300799999);
  // An offset that carries the instant outside years 0000-9999 is refused.
  assert.equal(parseInstant("9999-12-31T23:30:00-01:00"), null);
  assert.equal(parseInstant("0000-01-01T00:30:00+01:00"), null);
  assert.equal(parseInstant("10000-01-01T00:00:00Z"), null);
});

Deno.test("compactUtc: YYYYMMDD-HHMMSS in UTC, fraction dropped", () => {
  assert.equal(compactUtc(at("2026-02-06T12:34:56.789Z")), "20260206-123456");
  assert.equal(compactUtc(at("2026-02-06T23:59:59.999Z")), "20260206-235959");
  assert.equal(compactUtc(at("2026-01-01T00:00:00Z")), "20260101-000000");
  assert.equal(compactUtc(parseInstant("2026-01-01T00:30:00+01:00")!), "20251231-233000");
  assert.equal(compactUtc(0), "19700101-000000");
  assert.equal(compactUtc(parseInstant("0001-02-03T04:05:06Z")!), "00010203-040506");
});
