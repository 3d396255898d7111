/**
 * The verifier's walk along one writer's chain: every entry links to the one before, has
 * the hash of its content and a time not before it, matches the heads its marker and the
 * seals name and lies in the periods of the seals that cover it; a stub or a prune is noted
 * for the records, as is the state each entry leaves its session in.
 */
import { canonicalJson } from "../sessions/session.ts";
import { type Entry, GENESIS, storedText } from "./entry.ts";
import { sha256Hex } from "./hash.ts";
import { checkCovered, type Coverage, reportSealedBeyond, type SealHead } from "./_coverage.ts";
import { entryName, isoTime, seqRange } from "./_names.ts";
import { parseEntry } from "./_parse.ts";
import type { Problems } from "./_problems.ts";
import type { SessionStates } from "./_session_states.ts";

/** What the walk along every chain keeps and counts, shared by each writer's. */
export interface ChainWalk {
  problems: Problems;
  states: SessionStates;
  tally: { entries: number; stubs: number; unsealedAfter: number };
  /** Per session: the time of the latest prune that removed it. */
  prunedAt: Map<string, number>;
  /** Per session: its latest stub. */
  stubs: Map<string, { at: number; w: string; s: number }>;
  /** Entries dated from here on lie after the last seal. */
  currentFrom: number;
}

/** What the store says of one writer apart from its chain. */
export interface WriterMarks {
  /** Its chain is a carried copy: it does not explain this store's records. */
  isCarried: boolean;
  /** Its head marker. */
  marker: { s: number; h: string } | undefined;
  /** The heads the checked seals name for it, per seq. */
  heads: Map<number, SealHead[]> | undefined;
  /** The seals that should cover its entries, per checked key. */
  cover: Coverage[];
}

/** Walks the chain of writer `w`; returns the seq of its last entry (0 when it has none). */
export async function walkChain(
  w: string,
  entries: AsyncIterable<{ key: { w: string; s: number }; value: unknown }>,
  walk: ChainWalk,
  { isCarried, marker, heads, cover }: WriterMarks,
): Promise<number> {
  const { problems, states, prunedAt, stubs } = walk;
  const reportedSealHead = new Set<string>();
  let expect = 1;
  let prevH: string | null = GENESIS;
  let prevAt = -Infinity;
  let prev: Entry | null = null;
  let lastS = 0;

  const take = (s: number, e: Entry, gapReported: boolean) => {
    walk.tally.entries += 1;
    const stub = e.x === 1;
    if (s > expect && !gapReported) {
      problems.add({
        kind: "removed_entry",
        message: expect === 1
          ? `chain ${w} starts at #${s}: entries ${seqRange(1, s - 1)} were removed`
          : `entries ${w}${seqRange(expect, s - 1)} were removed (the chain goes from ` +
            `#${expect - 1} to #${s})`,
        writer: w,
        seq: expect,
      });
    }
    const gap = s > expect;
    // Read in its stored form, the entry's hash is checked on the stored text itself, and
    // the record's canonical JSON is the part of it between "r": and the last ,"s":.
    const text = storedText(e);
    let hashOk = stub || (text !== undefined && sha256Hex(text) === e.h);
    let rJson: string | undefined;
    if (!stub && e.r !== undefined) {
      rJson = hashOk
        ? text!.slice(text!.indexOf('"r":') + 4, text!.lastIndexOf(',"s":'))
        : undefined;
      rJson ??= canonicalJson(e.r);
    }
    if (!hashOk && text === undefined) hashOk = sha256Hex(canonicalEntry(e, rJson)) === e.h;
    if (!gap && prevH !== null && e.p !== prevH) {
      if (prev !== null && hashOk) {
        states.defer(prev.id, {
          kind: "edited_entry",
          message: `${entryName(w, prev.s, prev.id)} was rewritten: entry #${s} links to ` +
            `a different hash`,
          writer: w,
          seq: prev.s,
          session_id: prev.id || undefined,
        }, prev.r);
      } else {
        problems.add({
          kind: "edited_entry",
          message: `${entryName(w, s, e.id)} was edited: it does not link to #${s - 1}`,
          writer: w,
          seq: s,
          session_id: e.id || undefined,
        });
      }
    }
    if (!hashOk) {
      states.defer(e.id, {
        kind: "edited_entry",
        message: `${entryName(w, s, e.id)} was edited: its hash does not match its content`,
        writer: w,
        seq: s,
        session_id: e.id || undefined,
      }, e.r);
    }
    if (e.at < prevAt) {
      problems.add({
        kind: "reordered",
        message: `${entryName(w, s, e.id)} is dated ${isoTime(e.at)}, before #${lastS} ` +
          `(${isoTime(prevAt)}): entries were reordered`,
        writer: w,
        seq: s,
        session_id: e.id || undefined,
      });
    }
    if (marker !== undefined && marker.s === s && marker.h !== e.h) {
      problems.add({
        kind: "edited_entry",
        message: `${entryName(w, s, e.id)} differs from the one the head marker of ${w} ` +
          `names: the chain was rewritten`,
        writer: w,
        seq: s,
        session_id: e.id || undefined,
      });
    }
    for (const head of heads?.get(s) ?? []) {
      if (head.h === e.h || reportedSealHead.has(head.key)) continue;
      reportedSealHead.add(head.key);
      problems.add({
        kind: "edited_entry",
        message: `${entryName(w, s, e.id)} differs from the one sealed in period ${head.n} ` +
          `of key ${head.key}: the chain was rewritten`,
        writer: w,
        seq: s,
        session_id: e.id || undefined,
        key: head.key,
        period: head.n,
      });
    }
    checkCovered(cover, w, s, e, problems);
    if (e.at >= walk.currentFrom) walk.tally.unsealedAfter += 1;
    if (stub) {
      walk.tally.stubs += 1;
      const known = stubs.get(e.id);
      if (known === undefined || known.at < e.at) stubs.set(e.id, { at: e.at, w, s });
    }
    if (e.k === "prune") {
      for (const id of e.pruned?.ids ?? []) {
        if ((prunedAt.get(id) ?? -Infinity) < e.at) prunedAt.set(id, e.at);
        if (!isCarried) states.set(id, e.at, { removed: true, w, s });
      }
    } else if (!isCarried && rJson !== undefined) {
      const r = e.r as unknown as Record<string, unknown>;
      states.set(e.id, e.at, {
        removed: false,
        w,
        s,
        digest: sha256Hex(rJson),
        lastSeen: r.last_seen_at,
      });
    }
    prevH = e.h;
    prevAt = Math.max(prevAt, e.at);
    prev = e;
    lastS = s;
    expect = s + 1;
  };

  const lost = (s: number, why: string) => {
    walk.tally.entries += 1;
    problems.add({
      kind: "edited_entry",
      message: `${entryName(w, s)} was edited: ${why}`,
      writer: w,
      seq: s,
    });
    if (s > expect) {
      problems.add({
        kind: "removed_entry",
        message: `entries ${w}${seqRange(expect, s - 1)} were removed`,
        writer: w,
        seq: expect,
      });
    }
    prevH = null;
    prev = null;
    lastS = s;
    expect = s + 1;
  };

  const it = entries[Symbol.asyncIterator]();
  let pending: { key: { w: string; s: number }; value: unknown } | undefined;
  while (true) {
    let item = pending;
    pending = undefined;
    if (item === undefined) {
      const next = await it.next();
      if (next.done) break;
      item = next.value;
    }
    const { key } = item;
    if (key.w !== w) {
      lost(key.s, `it is stored in the chain of ${w} under writer ${key.w}`);
      continue;
    }
    const e = parseEntry(item.value);
    if (typeof e === "string") {
      lost(key.s, `the stored value is not an entry: ${e}`);
      continue;
    }
    if (e.w === key.w && e.s === key.s) {
      take(key.s, e, false);
      continue;
    }
    const next = await it.next();
    if (!next.done) pending = next.value;
    const other = pending === undefined ? null : parseEntry(pending.value);
    if (
      pending !== undefined && other !== null && typeof other !== "string" &&
      e.w === w && other.w === w && e.s === pending.key.s && other.s === key.s
    ) {
      problems.add({
        kind: "reordered",
        message: `entries ${w}#${key.s} (session ${other.id}) and #${e.s} (session ${e.id}) ` +
          `were swapped: each is stored where the other belongs`,
        writer: w,
        seq: key.s,
        session_id: other.id || undefined,
      });
      const gapReported = key.s > expect;
      take(other.s, other, false);
      take(e.s, e, gapReported);
      pending = undefined;
      continue;
    }
    lost(key.s, `it is stored as #${key.s} of ${w} but says it is #${e.s} of ${e.w}`);
  }
  if (marker !== undefined && lastS < marker.s) {
    problems.add({
      kind: "cut_short",
      message: `chain ${w} ends at #${lastS} but its head says #${marker.s}`,
      writer: w,
      seq: lastS + 1,
    });
  }
  reportSealedBeyond(w, lastS, heads, problems);
  return lastS;
}

// canonicalJson of an entry without h, built from parts so the record's canonical JSON
// (needed for its digest anyway) is serialised once. Keys in sorted order; parseEntry has
// refused any field not listed here.
function canonicalEntry(e: Entry, rJson: string | undefined): string {
  let out = `{"at":${JSON.stringify(e.at)},"id":${JSON.stringify(e.id)},"k":${
    JSON.stringify(e.k)
  },"p":${JSON.stringify(e.p)}`;
  if (e.pruned !== undefined) out += `,"pruned":${canonicalJson(e.pruned)}`;
  if (rJson !== undefined) out += `,"r":${rJson}`;
  out += `,"s":${JSON.stringify(e.s)},"v":1,"w":${JSON.stringify(e.w)}`;
  if (e.x !== undefined) out += `,"x":1`;
  return out + "}";
}
