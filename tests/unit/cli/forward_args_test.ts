import assert from "node:assert/strict";
import {
  collectorUrl,
  parseForwardCommand,
  readForwardToken,
} from "../../../src/cli/forward_args.ts";
import { readFlags } from "../../../src/cli/flags.ts";
import { UsageError } from "../../../src/usage_error.ts";

const parse = (...args: string[]) => {
  const { flags, rest } = readFlags(args);
  assert.equal(rest[0], "forward");
  return parseForwardCommand(rest.slice(1), flags, "/work");
};

Deno.test("forward: --status is a switch for forward, a value for sessions list", () => {
  assert.deepEqual(parse("forward", "--status"), { mode: "status", json: false });
  assert.deepEqual(parse("forward", "--status", "--json"), { mode: "status", json: true });
  assert.deepEqual(parse("--db", "/h.kv", "forward", "--json", "--status"), {
    mode: "status",
    json: true,
  });
  const list = readFlags(["sessions", "list", "--status", "active"]);
  assert.equal(list.flags["--status"], "active");
  assert.deepEqual(list.rest, ["sessions", "list"]);
});

Deno.test("forward: targets, batch size and --once", () => {
  assert.deepEqual(parse("forward", "--collector", "https://c.example:8443"), {
    mode: "send",
    target: { kind: "collector", url: "https://c.example:8443/mcp" },
    once: false,
    batch: 500,
  });
  assert.deepEqual(parse("forward", "--to-db", "fleet.kv", "--once", "--batch-size", "20"), {
    mode: "send",
    target: { kind: "store", location: { kind: "file", path: "/work/fleet.kv" } },
    once: true,
    batch: 20,
  });
  for (const bad of ["0", "1001", "-1", "1e3", "x"]) {
    assert.throws(() => parse("forward", "--to-db", "f.kv", "--batch-size", bad), UsageError, bad);
  }
});

Deno.test("forward: a collector URL keeps its path, gains /mcp when it has none, never credentials", () => {
  assert.equal(collectorUrl("http://127.0.0.1:8080/mcp"), "http://127.0.0.1:8080/mcp");
  assert.equal(collectorUrl("http://[::1]:8080"), "http://[::1]:8080/mcp");
  assert.equal(collectorUrl("https://proxy.example/sb/mcp#x"), "https://proxy.example/sb/mcp");
  assert.throws(
    () => collectorUrl("https://user:hunter2@c/mcp"),
    (e: Error) => !e.message.includes("hunter2"),
  );
  assert.throws(() => collectorUrl("not a url"), UsageError);
});

Deno.test("forward: the token from the variable or a file's first line, never both", () => {
  const file = (text: string) => () => text;
  assert.equal(readForwardToken({}, { SESSION_BUDDY_FORWARD_TOKEN: " t1 " }, "/"), "t1");
  assert.equal(readForwardToken({}, {}, "/"), null);
  assert.equal(readForwardToken({ "--forward-token-file": "t" }, {}, "/", file("t2\nrest")), "t2");
  assert.throws(
    () =>
      readForwardToken(
        { "--forward-token-file": "t" },
        { SESSION_BUDDY_FORWARD_TOKEN: "x" },
        "/",
        file("y"),
      ),
    /both set/,
  );
  assert.throws(
    () => readForwardToken({ "--forward-token-file": "t" }, {}, "/", file("\n")),
    /empty/,
  );
});
