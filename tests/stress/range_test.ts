/**
 * A time range that ends before it starts (`since` after `until`, or `since` in the future
 * with `until` defaulting to now) is no store failure: the answer is an empty result, or a
 * clear refusal naming the fields; never the store's internal "Start key is greater than
 * end key". Found by the fuzz test.
 */
import assert from "node:assert/strict";
import { withServer } from "../helpers/contract.ts";

Deno.test("session_stats and list_sessions with an empty or inverted range answer without a store error", async () => {
  await withServer(async ({ server }) => {
    const cases: [string, Record<string, unknown>][] = [
      ["session_stats", { since: "2999-01-01T00:00:00Z" }],
      ["session_stats", { since: "2026-02-02T00:00:00Z", until: "2026-02-01T00:00:00Z" }],
      ["list_sessions", { since: "2026-02-02T00:00:00Z", until: "2026-02-01T00:00:00Z" }],
      ["list_sessions", { since: "2026-02-01T00:00:00Z", until: "2026-02-01T00:00:00Z" }],
    ];
    for (const [tool, args] of cases) {
      const result = await server.call(tool, args);
      const what = `${tool} ${JSON.stringify(args)} -> ${JSON.stringify(result)}`;
      if (result.status === "ok") {
        assert.deepEqual(result[tool === "session_stats" ? "groups" : "sessions"], [], what);
      } else {
        assert.equal(result.status, "error", what);
        assert.doesNotMatch(String(result.error), /store error|key is greater/, what);
        assert.match(String(result.error), /since|until/, what);
      }
    }
  });
});
