/**
 * Runs tests/fixtures/store_permission_probe.ts in a Worker with the permissions the
 * serving Worker gets for a store (workerPermissions), and checks what Deno refused.
 */
import assert from "node:assert/strict";
import { workerPermissions } from "../../src/serve/permissions.ts";
import { parseLocation } from "../../src/store/location.ts";
import type { ProbeOutcome, ProbeRequest } from "../fixtures/store_permission_probe.ts";

/** The Worker's permissions, and what each attempt of `request` did in it. */
export async function storeProbe(
  db: string,
  request: Omit<ProbeRequest, "db">,
  /** A KV Connect store's hosts, as the launcher learns them from its metadata. */
  remote: string[] = [],
): Promise<
  {
    permissions: Deno.PermissionOptionsObject;
    results: Record<string, ProbeOutcome>;
    escaped: string[];
  }
> {
  const permissions = workerPermissions(
    { db: parseLocation(db, "/"), logFile: null, http: null },
    [],
    remote,
  );
  const worker = new Worker(new URL("../fixtures/store_permission_probe.ts", import.meta.url), {
    type: "module",
    deno: { permissions },
  });
  try {
    const answer = await new Promise<
      { results: Record<string, ProbeOutcome>; escaped: string[] }
    >((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("probe timed out")), 60_000);
      worker.onmessage = (e) => {
        clearTimeout(timer);
        resolve(e.data);
      };
      worker.onerror = (e) => {
        clearTimeout(timer);
        e.preventDefault();
        reject(new Error(`probe failed: ${e.message}`));
      };
      worker.postMessage({ db, ...request });
    });
    return { permissions, ...answer };
  } finally {
    worker.terminate();
  }
}

/** Asserts that each named attempt was refused by Deno's permissions. */
export function refused(results: Record<string, ProbeOutcome>, names: string[]): void {
  for (const name of names) {
    const outcome = results[name];
    assert.ok(outcome, `${name} reported`);
    assert.equal(outcome.ok, false, `${name} should have been refused`);
    if (!outcome.ok) assert.ok(outcome.notCapable, `${name}: ${outcome.error}`);
  }
}
