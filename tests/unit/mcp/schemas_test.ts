import assert from "node:assert/strict";
import published from "../../../src/mcp/schemas.json" with { type: "json" };
import { liveSchemas } from "../../../src/mcp/schemas.ts";
import { publishedSchema } from "../../../src/mcp/results.ts";

Deno.test("schemas.json is what the zod schemas convert to now (else run deno task schemas)", () => {
  assert.deepEqual(published, liveSchemas());
});

Deno.test("publishedSchema answers every tool and refuses an unknown one", () => {
  const start = publishedSchema("track_session_start", "input");
  assert.equal(start.type, "object");
  assert.ok((start.required as string[]).includes("event_id"));
  assert.throws(() => publishedSchema("no_such_tool", "input"), /deno task schemas/);
});
