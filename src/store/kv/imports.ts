/**
 * `sessions import` on a Deno KV store (a file, or KV Connect): one exported record at a
 * time, each in one atomic commit checked on everything it read, tried again when another
 * writer got in between. The rules are src/sessions/imported.ts.
 */
import { MAX_CANDIDATES, mergeImported, renumbered } from "../../sessions/imported.ts";
import {
  baseSessionId,
  candidateId,
  candidateNumber,
  type SessionRecord,
} from "../../sessions/session.ts";
import type { EntryBody } from "../../seal/entry.ts";
import { StoreError } from "../errors.ts";
import type { ImportOptions, ImportOutcome } from "../port.ts";
import { importInOrder, touches } from "../import_order.ts";
import type { EventEntry, KvContext } from "./context.ts";
import {
  eventKey,
  FEED_TTL_MS,
  feedKey,
  idSeqKey,
  indexKeys,
  sessionKey,
  statusKey,
} from "./keys.ts";
import { markChanged } from "./outbox.ts";
import { decodeRecord, encodeRecord } from "./records.ts";
import { withRetry } from "./retry.ts";

/**
 * Brings an exported record into the store: its event stored already takes what the
 * record adds; else the record is written under its id when that is free, or under the
 * next free id of its base. `forget` is told of a base whose id counter moved.
 */
export async function importRecord(
  ctx: KvContext,
  record: SessionRecord,
  forget: (base: string) => void,
): Promise<ImportOutcome> {
  const id = record.session_id;
  return await withRetry<ImportOutcome>(async () => {
    const [event, held] = await ctx.kv.getMany<[EventEntry, Uint8Array]>([
      eventKey(record.event_id),
      sessionKey(id),
    ]);
    if (event.value) {
      const storedId = event.value.session_id;
      const entry = storedId === id ? held : await ctx.kv.get<Uint8Array>(sessionKey(storedId));
      return await update(ctx, entry, record);
    }
    const written = held.value
      ? await renumber(ctx, event, record)
      : await write(ctx, event, held, record);
    if (written) forget(baseSessionId(record));
    return written;
  }, ctx.retry);
}

/** The event's stored session takes what `record` adds; undefined when a check failed. */
async function update(
  ctx: KvContext,
  entry: Deno.KvEntryMaybe<Uint8Array>,
  record: SessionRecord,
): Promise<ImportOutcome | undefined> {
  if (!entry.value) {
    throw new StoreError("failed", `the session of event ${record.event_id} is missing`);
  }
  const stored = decodeRecord(entry.value);
  const merged = mergeImported(stored, record);
  if (!merged) return { kind: "unchanged", sessionId: stored.session_id };
  const now = Date.now();
  const op = ctx.kv.atomic().check(entry).set(entry.key, encodeRecord(merged));
  markChanged(op, stored.session_id, now);
  // An end that arrives by import is news to `sessions tail`, as the shell's own end is.
  if (merged.status === "ended" && stored.status !== "ended") {
    op.set(feedKey(now, stored.session_id, "end"), null, { expireIn: FEED_TTL_MS });
  }
  if (merged.status !== stored.status) {
    op.delete(statusKey(stored, stored.status)).set(statusKey(merged, merged.status), null);
  }
  const res = await ctx.record(op, [{ k: "import", id: stored.session_id, r: merged }]);
  return res.ok ? { kind: "updated", sessionId: stored.session_id } : undefined;
}

/** Writes `record` under its own id, which is free; its base's counter moves up to it. */
async function write(
  ctx: KvContext,
  event: Deno.KvEntryMaybe<EventEntry>,
  held: Deno.KvEntryMaybe<Uint8Array>,
  record: SessionRecord,
): Promise<ImportOutcome | undefined> {
  const numbered = candidateNumber(record);
  const op = ctx.kv.atomic().check(event).check(held);
  if (numbered) {
    const seq = await ctx.kv.get<number>(idSeqKey(numbered.base));
    if ((seq.value ?? 0) < numbered.n) op.check(seq).set(seq.key, numbered.n);
  }
  const res = await ctx.record(setRecord(op, record), [imported(record)]);
  return res.ok ? { kind: "written", sessionId: record.session_id } : undefined;
}

/**
 * Writes `record`, whose id belongs to another event, under the next free id of its base
 * (the id counter's next, past any taken outside the counter), keeping its id as its origin.
 */
async function renumber(
  ctx: KvContext,
  event: Deno.KvEntryMaybe<EventEntry>,
  record: SessionRecord,
): Promise<ImportOutcome | undefined> {
  const base = baseSessionId(record);
  const seq = await ctx.kv.get<number>(idSeqKey(base));
  for (let n = (seq.value ?? 0) + 1; n <= (seq.value ?? 0) + MAX_CANDIDATES; n++) {
    const candidate = await ctx.kv.get<Uint8Array>(sessionKey(candidateId(base, n)));
    if (candidate.value) continue;
    const moved = renumbered(record, candidateId(base, n));
    const op = ctx.kv.atomic().check(event).check(seq).check(candidate).set(seq.key, n);
    const res = await ctx.record(setRecord(op, moved), [imported(moved)]);
    return res.ok ? { kind: "renumbered", sessionId: moved.session_id } : undefined;
  }
  throw new StoreError("failed", `no free id for ${record.session_id} among ${base}'s next ones`);
}

/** The history entry of a record that arrived by import. */
function imported(record: SessionRecord): EntryBody {
  return { k: "import", id: record.session_id, r: record };
}

/** Adds a new session's record, event entry and index keys to `op`. */
function setRecord(op: Deno.AtomicOperation, record: SessionRecord): Deno.AtomicOperation {
  const now = Date.now();
  markChanged(op, record.session_id, now);
  // A session that arrives by import is news to `sessions tail`: its start, and its end.
  for (const kind of record.status === "ended" ? ["start", "end"] : ["start"]) {
    op.set(feedKey(now, record.session_id, kind), null, { expireIn: FEED_TTL_MS });
  }
  op.set(sessionKey(record.session_id), encodeRecord(record))
    .set(eventKey(record.event_id), { session_id: record.session_id } satisfies EventEntry);
  for (const key of indexKeys(record)) op.set(key, null);
  return op;
}

/**
 * The most record bytes one commit of new records carries: each goes in twice, as itself
 * and in its history entry, with its index keys (Deno KV allows 819,200 in all).
 */
const FRESH_COMMIT_BYTES = 250_000;

/**
 * A batch of exported records: those that meet nothing (their event and id not stored, and
 * no other record of the batch touching their event or id family) are written in one
 * commit per group, checked on every key they take; the rest, and any whose group lost a
 * race with another writer, go record by record in the batch's order. Every outcome is
 * the one importing the batch one record after another would give.
 */
export async function importMany(
  ctx: KvContext,
  records: readonly SessionRecord[],
  forget: (base: string) => void,
  checksPerCommit: number,
  options: ImportOptions,
): Promise<ImportOutcome[]> {
  const outcomes: (ImportOutcome | undefined)[] = new Array(records.length);
  const uses = new Map<string, number>();
  for (const r of records) for (const n of touches(r)) uses.set(n, (uses.get(n) ?? 0) + 1);
  const alone = records.flatMap((r, i) => touches(r).every((n) => uses.get(n) === 1) ? [i] : []);
  const fresh = await freshOf(ctx, records, alone);
  // At most three checks per record: its event, its id, its base's counter.
  const perCommit = Math.max(1, Math.floor(checksPerCommit / 3));
  for (let i = 0; i < fresh.length;) {
    const group: Fresh[] = [];
    let bytes = 0;
    while (i < fresh.length && group.length < perCommit) {
      const size = encodeRecord(records[fresh[i]!.index]!).length;
      if (group.length > 0 && bytes + size > FRESH_COMMIT_BYTES) break;
      group.push(fresh[i++]!);
      bytes += size;
    }
    options.signal?.throwIfAborted();
    const res = await withRetry(async () => {
      const op = ctx.kv.atomic();
      const bodies: EntryBody[] = [];
      for (const f of group) {
        const record = records[f.index]!;
        op.check(f.event).check(f.held);
        const numbered = candidateNumber(record);
        if (numbered && f.seq && (f.seq.value ?? 0) < numbered.n) {
          op.check(f.seq).set(f.seq.key, numbered.n);
        }
        setRecord(op, record);
        bodies.push(imported(record));
      }
      return await ctx.record(op, bodies);
    });
    if (!res.ok) continue; // Another writer got in: these go record by record below.
    for (const f of group) {
      const record = records[f.index]!;
      forget(baseSessionId(record));
      outcomes[f.index] = { kind: "written", sessionId: record.session_id };
      options.onOutcome?.(outcomes[f.index]!);
    }
  }
  const rest = records.flatMap((r, i) => outcomes[i] ? [] : [{ r, i }]);
  const done = await importInOrder(
    rest.map((x) => x.r),
    (record) => importRecord(ctx, record, forget),
    options,
  );
  rest.forEach((x, j) => outcomes[x.i] = done[j]);
  return outcomes as ImportOutcome[];
}

/** A record whose event and id are free, with what it read to know it. */
interface Fresh {
  index: number;
  event: Deno.KvEntryMaybe<unknown>;
  held: Deno.KvEntryMaybe<unknown>;
  seq: Deno.KvEntryMaybe<number> | null;
}

/** Of the records at `indexes`, those whose event and id are not stored, in order. */
async function freshOf(
  ctx: KvContext,
  records: readonly SessionRecord[],
  indexes: number[],
): Promise<Fresh[]> {
  const keysOf = (i: number): Deno.KvKey[] => {
    const r = records[i]!;
    const numbered = candidateNumber(r);
    return [
      eventKey(r.event_id),
      sessionKey(r.session_id),
      ...(numbered ? [idSeqKey(numbered.base)] : []),
    ];
  };
  const keys = indexes.flatMap(keysOf);
  const reads = [];
  for (let k = 0; k < keys.length; k += 10) {
    const part = keys.slice(k, k + 10);
    reads.push(withRetry(() => ctx.kv.getMany<unknown[]>(part)));
  }
  const entries = (await Promise.all(reads)).flat();
  const fresh: Fresh[] = [];
  let at = 0;
  for (const index of indexes) {
    const n = keysOf(index).length;
    const [event, held, seq] = entries.slice(at, at + n);
    at += n;
    if (event!.versionstamp !== null || held!.versionstamp !== null) continue;
    fresh.push({
      index,
      event: event!,
      held: held!,
      seq: (seq as Deno.KvEntryMaybe<number>) ?? null,
    });
  }
  return fresh;
}
