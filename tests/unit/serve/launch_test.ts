/** The outer process prints a failure as one line (SPEC 2). */
import assert from "node:assert/strict";
import { oneLine } from "../../../src/serve/launch.ts";

Deno.test("oneLine keeps a one-line reason as it is", () => {
  assert.equal(
    oneLine("cannot open store /x/s.kv: No such file"),
    "cannot open store /x/s.kv: No such file",
  );
});

Deno.test("oneLine gives the first line and the innermost cause of a runtime error", () => {
  const text = [
    "Failed caching npm package '@logtape/file@2.3.10'",
    "    0: error sending request for url (https://registry.npmjs.org/...): client error (Connect)",
    "    1: client error (Connect)",
    "    2: invalid peer certificate: UnknownIssuer",
    "    at file:///src/log.ts:12:8",
    "",
    "    info: The TLS certificate could not be verified.",
  ].join("\n");
  assert.equal(
    oneLine(text),
    "Failed caching npm package '@logtape/file@2.3.10' (invalid peer certificate: UnknownIssuer)",
  );
});

Deno.test("oneLine of a trace without numbered causes is its first line", () => {
  assert.equal(oneLine("TypeError: boom\n    at f (file:///a.ts:1:1)\n"), "TypeError: boom");
  assert.equal(oneLine(""), "");
});
