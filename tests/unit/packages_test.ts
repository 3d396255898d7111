/**
 * What a first run downloads: Deno installs every package of deno.lock when the program
 * starts, so the product's lock holds only the product's packages. The tests and
 * benchmarks resolve through tests/imports.json and tests/deno.lock instead.
 */
import assert from "node:assert/strict";
import { ROOT } from "../helpers/server.ts";

const read = async (path: string) => JSON.parse(await Deno.readTextFile(`${ROOT}${path}`));
const product: Record<string, string> = (await read("deno.json")).imports;
const tooling: Record<string, string> = (await read("tests/imports.json")).imports;

/** `npm:zod@4.6.7` and `npm:/@scope/name@1.2.3/` as the lock names them: `npm:name@version`. */
function packageOf(target: string): string {
  return target.replace(/^npm:\/?/, "npm:").replace(/\/$/, "");
}

async function lockedPackages(path: string): Promise<string[]> {
  return Object.keys((await read(path)).specifiers).sort();
}

Deno.test("the tooling's import map holds every import of the product's, pinned alike", () => {
  for (const [name, target] of Object.entries(product)) {
    assert.equal(tooling[name], target, `tests/imports.json: ${name}`);
  }
});

Deno.test("deno.lock holds exactly the product's packages, none of the tooling's", async () => {
  const expected = [...new Set(Object.values(product).map(packageOf))].sort();
  assert.deepEqual(await lockedPackages("deno.lock"), expected);
});

Deno.test("tests/deno.lock holds exactly the packages of the tooling's import map", async () => {
  const expected = [...new Set(Object.values(tooling).map(packageOf))].sort();
  assert.deepEqual(await lockedPackages("tests/deno.lock"), expected);
});
