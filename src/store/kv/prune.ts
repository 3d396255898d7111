/**
 * `sessions prune` on a Deno KV store (SPEC 10): sessions that ended before a time are
 * removed ten to a commit, each commit with a tombstone entry naming them; then the bodies
 * of their earlier entries are dropped, leaving stubs that keep each entry's hash, so every
 * chain still links and the tombstone explains what is gone.
 */
import { entryText, stubOf } from "../../seal/entry.ts";
import { storedEntry } from "./history.ts";
import type { SessionRecord } from "../../sessions/session.ts";
import { isoUtc } from "../../sessions/timestamp.ts";
import type { PruneOutcome } from "../port.ts";
import type { KvContext } from "./context.ts";
import { eventKey, indexKeys, sessionKey, unindexedKey } from "./keys.ts";
import { decodeRecord } from "./records.ts";
import { withRetry } from "./retry.ts";

/** Sessions per commit: one check each, within the ten a denokv server allows. */
const PER_COMMIT = 10;
/** Stubs written per commit. */
const STUBS_PER_COMMIT = 200;

/** Removes the sessions that ended before `beforeMs`; tombstones name each one. */
export async function pruneBefore(ctx: KvContext, beforeMs: number): Promise<PruneOutcome> {
  const before = isoUtc(beforeMs);
  const removed = new Set<string>();
  let batch: Deno.KvEntry<Uint8Array>[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const part = batch;
    batch = [];
    const ids = await removeGroup(ctx, part, before, beforeMs);
    for (const id of ids) removed.add(id);
  };
  // Every ended session is a candidate: an end sent with an earlier time than its start
  // is kept as sent (duration 0), so the start says nothing of the end.
  const ended = ctx.kv.list({ prefix: ["by_status", "ended"] }, { batchSize: 1000 });
  for await (const { key } of ended) {
    const entry = await withRetry(() => ctx.kv.get<Uint8Array>(sessionKey(String(key[3]))));
    if (!entry.value || !endedBefore(decodeRecord(entry.value), beforeMs)) continue;
    batch.push(entry as Deno.KvEntry<Uint8Array>);
    if (batch.length === PER_COMMIT) await flush();
  }
  await flush();
  if (removed.size > 0) await stubEntries(ctx, removed);
  return { removed: removed.size };
}

function endedBefore(record: SessionRecord, beforeMs: number): boolean {
  return record.status === "ended" && record.ended_at !== null &&
    Date.parse(record.ended_at) < beforeMs;
}

/** Deletes one group of sessions with a tombstone; returns the ids it removed. */
async function removeGroup(
  ctx: KvContext,
  entries: Deno.KvEntry<Uint8Array>[],
  before: string,
  beforeMs: number,
): Promise<string[]> {
  let group = entries;
  return await withRetry<string[]>(async () => {
    const op = ctx.kv.atomic();
    const ids: string[] = [];
    for (const entry of group) {
      const record = decodeRecord(entry.value);
      op.check(entry).delete(entry.key).delete(eventKey(record.event_id))
        .delete(unindexedKey(record.session_id));
      for (const key of indexKeys({ ...record, status: "ended" })) op.delete(key);
      ids.push(record.session_id);
    }
    if (ids.length === 0) return [];
    const res = await ctx.record(op, [{ k: "prune", id: "", pruned: { before, ids } }]);
    if (res.ok) return ids;
    // Another writer changed one of them (a heartbeat revived it): read them again.
    const fresh = await ctx.kv.getMany<Uint8Array[]>(group.map((e) => e.key));
    group = fresh.filter((e): e is Deno.KvEntry<Uint8Array> =>
      e.value !== null && endedBefore(decodeRecord(e.value), beforeMs)
    );
    return undefined;
  }, ctx.retry);
}

/** Replaces the entries of the removed sessions by stubs that keep only their hash. */
async function stubEntries(ctx: KvContext, removed: Set<string>): Promise<void> {
  let op = ctx.kv.atomic();
  let count = 0;
  const flush = async () => {
    if (count === 0) return;
    const res = await ctx.commit(op);
    if (!res.ok) throw new Error("a commit of pruned entries' stubs failed");
    op = ctx.kv.atomic();
    count = 0;
  };
  for await (const { key, value } of ctx.kv.list({ prefix: ["entry"] })) {
    const e = storedEntry(value);
    if (!e || e.k === "prune" || e.x === 1 || !removed.has(e.id)) continue;
    op.set(key, entryText(stubOf(e)));
    if (++count === STUBS_PER_COMMIT) await flush();
  }
  await flush();
}
