import assert from "node:assert/strict";
import { countStatus } from "../../../src/http/count.ts";
import { fakeNext, request } from "../../helpers/steps.ts";

Deno.test("countStatus counts the status of each answer that comes back", async () => {
  const codes: number[] = [];
  const step = countStatus({ httpRequest: (code) => codes.push(code) });
  await step({ request: request("/") }, fakeNext());
  await step({ request: request("/") }, fakeNext(() => new Response(null, { status: 503 })));
  assert.deepEqual(codes, [200, 503]);
});
