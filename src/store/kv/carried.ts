/**
 * A forwarding host's history in a fleet's Deno KV store (SPEC 10): its entries under
 * `["carried", writer, seq]` and its seals under `["carried_seal", key id, period]`, apart
 * from the store's own, so that the fleet's sealer never vouches for them and they explain
 * none of its records. A copy is written once and never replaced: one that arrives again
 * different, or a head that says the host's chain is now shorter, is kept under
 * `["carried_conflict", ...]` for `sessions verify` to name.
 */
import { entryText } from "../../seal/entry.ts";
import type { CarriedConflict } from "../../seal/verify.ts";
import type { CarriedHistory, CarryOutcome } from "../port.ts";
import type { KvHandle } from "./deadline.ts";
import { withRetry } from "./retry.ts";

/** Where a carried conflict is kept: by kind, then writer and seq (or key and period). */
function conflictKey(c: CarriedConflict): Deno.KvKey {
  return c.kind === "seal"
    ? ["carried_conflict", "seal", c.key!, c.n!, c.at]
    : ["carried_conflict", c.kind, c.w!, c.s!, c.at];
}

/** Stores what a host sent; `nowMs` dates any conflict found. */
export async function carryHistory(
  kv: KvHandle,
  history: CarriedHistory,
  nowMs: number,
): Promise<CarryOutcome> {
  const outcome: CarryOutcome = { written: 0, unchanged: 0, conflicts: 0 };
  const items = [
    ...history.entries.map((e) => ({
      key: ["carried", e.w, e.s] as Deno.KvKey,
      value: entryText(e) as unknown,
      same: (held: unknown) => typeof held === "string" && held.startsWith(e.h),
      conflict: { kind: "entry", w: e.w, s: e.s, at: nowMs } as CarriedConflict,
    })),
    ...history.seals.map((seal) => ({
      key: ["carried_seal", seal.key, seal.n] as Deno.KvKey,
      value: seal as unknown,
      same: (held: unknown) => (held as { mac?: unknown }).mac === seal.mac,
      conflict: { kind: "seal", key: seal.key, n: seal.n, at: nowMs } as CarriedConflict,
    })),
  ];
  // Ten keys a read and a commit: what a denokv server allows.
  for (let i = 0; i < items.length; i += 10) {
    const part = items.slice(i, i + 10);
    await withRetry(async () => {
      const held = await kv.getMany<unknown[]>(part.map((x) => x.key));
      const op = kv.atomic();
      const counts = { written: 0, unchanged: 0, conflicts: 0 };
      part.forEach((x, j) => {
        const entry = held[j]!;
        if (entry.value === null) {
          op.check(entry).set(x.key, x.value);
          counts.written++;
        } else if (x.same(entry.value)) counts.unchanged++;
        else {
          op.set(conflictKey(x.conflict), x.value);
          counts.conflicts++;
        }
      });
      if (!(await op.commit()).ok) return undefined;
      outcome.written += counts.written;
      outcome.unchanged += counts.unchanged;
      outcome.conflicts += counts.conflicts;
      return true;
    });
  }
  // A head behind the copy held: the host's chain lost entries it had forwarded.
  for (const [w, head] of Object.entries(history.heads)) {
    const beyond = kv.list({ prefix: ["carried", w], start: ["carried", w, head.s + 1] }, {
      limit: 1,
    });
    for await (const _ of beyond) {
      const key = conflictKey({ kind: "head", w, s: head.s, at: nowMs });
      await withRetry(async () => (await kv.atomic().set(key, head).commit()).ok || undefined);
      outcome.conflicts++;
    }
  }
  return outcome;
}

/** The conflicts kept so far, for the verifier. */
export async function* carriedConflicts(kv: KvHandle): AsyncIterable<CarriedConflict> {
  for await (const { key } of kv.list({ prefix: ["carried_conflict"] })) {
    const [, kind, a, b, at] = key as [string, CarriedConflict["kind"], string, number, number];
    yield kind === "seal" ? { kind, key: a, n: b, at } : { kind, w: a, s: b, at };
  }
}
