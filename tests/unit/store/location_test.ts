/** Store locations as `--db` gives them, read once (SPEC 2), and how they may be shown. */
import assert from "node:assert/strict";
import { locationName, parseLocation } from "../../../src/store/location.ts";
import { UsageError } from "../../../src/usage_error.ts";

Deno.test("parseLocation: a file made absolute, :memory:, PostgreSQL and KV Connect", () => {
  assert.deepEqual(parseLocation("data/s.kv", "/work"), { kind: "file", path: "/work/data/s.kv" });
  assert.deepEqual(parseLocation(":memory:", "/work"), { kind: "memory" });
  const pg = parseLocation("postgresql://sb@/s?host=/run/postgresql", "/work");
  assert.equal(pg.kind === "postgres" && pg.url.socket, "/run/postgresql/.s.PGSQL.5432");
  assert.deepEqual(parseLocation("https://kv.example.com/db", "/work"), {
    kind: "kv-connect",
    url: "https://kv.example.com/db",
    net: "kv.example.com:443",
  });
});

Deno.test("parseLocation: refusals are usage errors that never quote a password", () => {
  for (
    const text of [
      "",
      " postgres://u:Secret-9@h/s",
      "postgres://u:Secret-9@h/",
      "https://u:Secret-9@h/",
      "pg://u:Secret-9@h/s",
    ]
  ) {
    assert.throws(() => parseLocation(text, "/"), (error: Error) => {
      assert.ok(error instanceof UsageError, String(error));
      assert.doesNotMatch(error.message, /Secret-9/);
      return true;
    });
  }
});

Deno.test("locationName never shows a password, and the union survives structured clone", () => {
  const pg = parseLocation("postgres://sb:Secret-9@db.example.com/sessions", "/");
  assert.equal(locationName(pg), "postgres://sb@db.example.com:5432/sessions");
  const kv = parseLocation("https://kv.example.com/db?token=Secret-9", "/");
  assert.equal(locationName(kv), "https://kv.example.com/db");
  assert.equal(locationName(parseLocation(":memory:", "/")), ":memory:");
  // The Worker is handed the configuration by postMessage.
  assert.deepEqual(structuredClone(pg), pg);
});
