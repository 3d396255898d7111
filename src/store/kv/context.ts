/** What the parts of the Deno KV store share: the handle, its retry limits, timed commits. */
import type { Entry, EntryBody } from "../../seal/entry.ts";
import type { Lanes } from "../lanes.ts";
import type { StoreObserver } from "../port.ts";
import type { KvHandle } from "./deadline.ts";
import type { RetryOptions } from "./retry.ts";

/**
 * Which session an event id created. (Stores written before 0.1.0 was released also hold
 * a digest of the event here; it is not read: a retry is compared with the record.)
 */
export interface EventEntry {
  session_id: string;
}

/** The handle and the settings every part of the store works with. */
export interface KvContext {
  kv: KvHandle;
  retry: Partial<RetryOptions>;
  /** Commits `op`, telling the store's observer how long it took. */
  commit(op: Deno.AtomicOperation): Promise<Deno.KvCommitResult | Deno.KvCommitError>;
  /**
   * Commits `op` with the history entries of `bodies` (one per session it changes, SPEC 10),
   * which go in the same atomic commit.
   */
  record(
    op: Deno.AtomicOperation,
    bodies: readonly EntryBody[],
  ): Promise<Deno.KvCommitResult | Deno.KvCommitError>;
}

/** `ctx.record` for a store whose commits go through `commit`. */
export function recorder(
  lanes: Lanes,
  commit: KvContext["commit"],
  add: (op: Deno.AtomicOperation, entries: readonly Entry[]) => void,
): KvContext["record"] {
  return async (op, bodies) => {
    if (bodies.length === 0) return await commit(op);
    return await lanes.commit(bodies, async (entries) => {
      add(op, entries);
      const res = await commit(op);
      return { ok: res.ok, value: res };
    });
  };
}

/** Commits `op`, telling `observer` how long it took. */
export async function timedCommit(
  op: Deno.AtomicOperation,
  observer: StoreObserver | null,
): Promise<Deno.KvCommitResult | Deno.KvCommitError> {
  if (!observer) return await op.commit();
  const began = performance.now();
  try {
    return await op.commit();
  } finally {
    observer.commit((performance.now() - began) / 1000);
  }
}
