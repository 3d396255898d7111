/**
 * The official MCP conformance suite, release 0.2.0-alpha.12 (the first that covers MCP
 * 2026-07-28), against `serve --http` as shipped: the scenarios of the stateless revision
 * that apply to this server, held to the committed baseline
 * tests/fixtures/conformance/expected-failures-2026-07-28.yml (only checks that need the
 * suite's diagnostic tools may fail, and only as "Not testable"), and the handshake
 * scenarios at 2025-11-25 with no failure at all. tests/e2e/http_test.ts runs release 0.1.16.
 */
import assert from "node:assert/strict";
import devImports from "../imports.json" with { type: "json" };
import { withCollector } from "../helpers/mcp_v2.ts";
import { DEV_FLAGS, ROOT, runtimeEnv, tempDir } from "../helpers/server.ts";

const SUITE = devImports.imports["@modelcontextprotocol/conformance-2026"];
const BASELINE = `${ROOT}tests/fixtures/conformance/expected-failures-2026-07-28.yml`;

/** The scenarios of MCP 2026-07-28 that apply to a server with tools and no prompts. */
const MODERN_SCENARIOS = [
  "server-stateless",
  "tools-list",
  "http-header-validation",
  "caching",
  "dns-rebinding-protection",
  "sep-2164-resource-not-found",
];

/** The handshake scenarios, run at 2025-11-25. */
const HANDSHAKE_SCENARIOS = ["server-initialize", "ping", "tools-list", "dns-rebinding-protection"];

/** One check as the suite writes it to `checks.json`. */
interface Check {
  id: string;
  name?: string;
  status: "SUCCESS" | "FAILURE" | "WARNING" | "SKIPPED" | "INFO";
  errorMessage?: string;
}

/**
 * The baseline's entries, `scenario:check-id` each. The file is plain enough (a `server:`
 * list of strings) to read without a YAML parser; anything else in it is refused here, so
 * that what this test reads is what the suite reads.
 */
async function baseline(): Promise<{ scenario: string; check: string }[]> {
  const text = await Deno.readTextFile(BASELINE);
  const entries: { scenario: string; check: string }[] = [];
  let inServer = false;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\s+$/, "");
    if (line === "" || line.trimStart().startsWith("#")) continue;
    if (line === "server:") {
      inServer = true;
      continue;
    }
    const item = /^ {2}- ([a-z0-9-]+):([a-z0-9-]+)$/.exec(line);
    assert.ok(inServer && item, `an entry the test cannot read in ${BASELINE}: ${line}`);
    entries.push({ scenario: item[1]!, check: item[2]! });
  }
  return entries;
}

/** Runs the suite on one scenario; returns its exit code, what it printed, and its checks. */
async function runScenario(
  url: string,
  scenario: string,
  specVersion: string,
  extra: string[] = [],
): Promise<{ code: number; said: string; checks: Check[] }> {
  const { dir, cleanup } = await tempDir();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-q",
        "-A",
        ...DEV_FLAGS,
        SUITE,
        "server",
        "--url",
        url,
        "--scenario",
        scenario,
        "--spec-version",
        specVersion,
        "-o",
        dir,
        ...extra,
      ],
      env: runtimeEnv(),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    // The suite writes <dir>/server-<scenario>-<time>/checks.json.
    const written: string[] = [];
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory && entry.name.startsWith(`server-${scenario}-`)) {
        written.push(`${dir}/${entry.name}/checks.json`);
      }
    }
    assert.equal(written.length, 1, `${scenario}: one result folder in ${dir}:\n${said}`);
    const checks = JSON.parse(await Deno.readTextFile(written[0]!)) as Check[];
    return { code: out.code, said, checks };
  } finally {
    await cleanup();
  }
}

const brief = (checks: Check[]) =>
  checks.filter((c) => c.status !== "SUCCESS" && c.status !== "INFO").map((c) =>
    `${c.id} ${c.status}${c.errorMessage ? `: ${c.errorMessage}` : ""}`
  ).join("\n");

Deno.test("conformance 0.2.0-alpha.12 at 2026-07-28: every check passes but the baseline's Not testable ones", async (t) => {
  const expected = await baseline();
  assert.ok(expected.length > 0);
  await withCollector(async (server) => {
    for (const scenario of MODERN_SCENARIOS) {
      await t.step(scenario, async () => {
        const { code, said, checks } = await runScenario(server.mcp, scenario, "2026-07-28", [
          "--expected-failures",
          BASELINE,
        ]);
        const mine = new Set(expected.filter((e) => e.scenario === scenario).map((e) => e.check));
        assert.ok(
          checks.some((c) => c.status === "SUCCESS"),
          `${scenario} ran (not skipped):\n${said}`,
        );
        for (const check of checks) {
          if (check.status !== "FAILURE") continue;
          assert.ok(
            mine.has(check.id) && check.errorMessage?.startsWith("Not testable:"),
            `${scenario}: ${check.id} failed: ${check.errorMessage}\n${brief(checks)}`,
          );
        }
        // Each baseline entry is still a "Not testable" failure, not some other failure.
        for (const id of mine) {
          const failures = checks.filter((c) => c.id === id && c.status === "FAILURE");
          assert.ok(
            failures.length > 0 &&
              failures.every((c) => c.errorMessage?.startsWith("Not testable:")),
            `${scenario}: the baseline's ${id} is no longer a Not testable failure:\n${
              brief(checks)
            }`,
          );
        }
        if (scenario === "sep-2164-resource-not-found") {
          assert.deepEqual(
            checks.filter((c) => c.status === "WARNING").map((c) => c.id),
            [],
            `no warnings for ${scenario}:\n${brief(checks)}`,
          );
        }
        // The suite's own baseline check: no unexpected failure or warning, no stale entry.
        assert.equal(code, 0, `${scenario}:\n${said}`);
        assert.match(said, /Baseline check passed/, `${scenario}:\n${said}`);
      });
    }
  });
});

Deno.test("conformance 0.2.0-alpha.12 at 2025-11-25: initialize, ping, tools/list and DNS rebinding pass with no failure", async (t) => {
  await withCollector(async (server) => {
    for (const scenario of HANDSHAKE_SCENARIOS) {
      await t.step(scenario, async () => {
        const { code, said, checks } = await runScenario(server.mcp, scenario, "2025-11-25");
        assert.ok(checks.some((c) => c.status === "SUCCESS"), `${scenario} ran:\n${said}`);
        assert.deepEqual(
          checks.filter((c) => c.status === "FAILURE").map((c) => c.id),
          [],
          `${scenario}:\n${brief(checks)}`,
        );
        assert.equal(code, 0, `${scenario}:\n${said}`);
        assert.match(said, /Passed: (\d+)\/\1, 0 failed/, `${scenario}:\n${said}`);
      });
    }
  });
});

Deno.test("conformance 0.2.0-alpha.12 at 2026-07-28: the protocol layer with the suite's diagnostic tools passes server-stateless whole", async () => {
  // The baseline's four checks, run against the same rpc.ts, revisions.ts and HTTP edge
  // serving the diagnostic tools they need (tests/fixtures/conformance/diagnostic_server.ts).
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "-A",
      ...DEV_FLAGS,
      `${ROOT}tests/fixtures/conformance/diagnostic_server.ts`,
    ],
    env: runtimeEnv(),
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let said = "";
    while (!/listening (\d+)/.test(said)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the diagnostic server ended: ${said}`);
      said += value;
    }
    const port = /listening (\d+)/.exec(said)![1];
    const { code, checks } = await runScenario(
      `http://127.0.0.1:${port}/mcp`,
      "server-stateless",
      "2026-07-28",
    );
    // The subscription checks do not apply to a server that declares no list changes.
    const failed = checks.filter((c) => c.status === "FAILURE" || c.status === "WARNING");
    assert.deepEqual(failed, [], brief(checks));
    for (
      const id of [
        "server-rejects-undeclared-capability",
        "missing-capability-http-400",
        "http-server-no-independent-requests-on-stream",
        "server-no-log-without-loglevel",
      ]
    ) {
      assert.equal(checks.find((c) => c.id === `sep-2575-${id}`)?.status, "SUCCESS", id);
    }
    assert.equal(code, 0);
  } finally {
    await reader.cancel();
    child.kill();
    await child.status;
  }
});
