/**
 * Makes the JSON Schemas `tools/list` publishes from the zod schemas that validate the
 * calls, and writes them to schemas.json (`deno task schemas`). The server reads that file
 * instead of converting at start-up; tests/unit/mcp/schemas_test.ts holds the two equal.
 */
import { z } from "zod";
import type { JsonSchemaObject } from "./results.ts";
import { TOOLS } from "./server.ts";

/** Converts a zod object schema to the JSON Schema `tools/list` publishes. */
export function publish(schema: z.ZodType, io: "input" | "output"): JsonSchemaObject {
  const { $schema: _drop, ...json } = z.toJSONSchema(schema, { io }) as Record<string, unknown>;
  return { ...json, type: "object" };
}

/** Every tool's published schemas, converted now from the zod schemas. */
export function liveSchemas(): Record<
  string,
  { input: JsonSchemaObject; output: JsonSchemaObject }
> {
  return Object.fromEntries(
    TOOLS.map((tool) => [
      tool.name,
      { input: publish(tool.input, "input"), output: publish(tool.output, "output") },
    ]),
  );
}

if (import.meta.main) {
  const path = new URL("./schemas.json", import.meta.url);
  await Deno.writeTextFile(path, JSON.stringify(liveSchemas(), null, 2) + "\n");
  console.error(`wrote ${path.pathname}`);
}
