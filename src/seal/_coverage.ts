/**
 * What the checked keys' seals say per writer: which seqs each period bound (coverage),
 * which heads they name; and the problems of an entry or a chain that does not match.
 */
import type { Entry } from "./entry.ts";
import { entryName, isoTime } from "./_names.ts";
import type { Problems } from "./_problems.ts";
import type { KeyCheck } from "./load_seals.ts";

/** Per writer and key: the seals that bound it, for coverage. */
export interface Coverage {
  key: string;
  seals: { n: number; from: number; until: number; bound: number }[];
  lastUntil: number;
  i: number;
}

/** A head a seal names for a writer: under which key and period, and its hash. */
export interface SealHead {
  key: string;
  n: number;
  h: string;
}

/** Per writer: what each checked key's seals say about it, and the heads they name per seq. */
export function sealCoverage(checked: KeyCheck[]): {
  coverage: Map<string, Coverage[]>;
  sealHeads: Map<string, Map<number, SealHead[]>>;
} {
  const coverage = new Map<string, Coverage[]>();
  const sealHeads = new Map<string, Map<number, SealHead[]>>();
  for (const k of checked) {
    const writers = new Set(k.seals.flatMap((s) => Object.keys(s.heads)));
    for (const w of writers) {
      const list = coverage.get(w) ?? [];
      list.push({
        key: k.key,
        seals: k.seals.map((s) => ({
          n: s.n,
          from: s.from,
          until: s.until,
          bound: s.heads[w]?.s ?? 0,
        })),
        lastUntil: k.lastUntil,
        i: 0,
      });
      coverage.set(w, list);
      const heads = sealHeads.get(w) ?? new Map<number, SealHead[]>();
      for (const s of k.seals) {
        const head = s.heads[w];
        if (head === undefined) continue;
        const at = heads.get(head.s) ?? [];
        at.push({ key: k.key, n: s.n, h: head.h });
        heads.set(head.s, at);
      }
      sealHeads.set(w, heads);
    }
  }
  return { coverage, sealHeads };
}

/** Names where entry #`s` of `w` is dated outside the periods of the seals that cover it. */
export function checkCovered(
  cover: Coverage[],
  w: string,
  s: number,
  e: Entry,
  problems: Problems,
): void {
  for (const c of cover) {
    while (c.i < c.seals.length && c.seals[c.i]!.bound < s) c.i += 1;
    const seal = c.seals[c.i];
    if (seal === undefined) {
      if (e.at < c.lastUntil) {
        problems.add({
          kind: "unsealed_entry",
          message: `${entryName(w, s, e.id)} is dated ${isoTime(e.at)}, in a period ` +
            `already sealed under key ${c.key}, but no seal covers it: it was added later`,
          writer: w,
          seq: s,
          session_id: e.id || undefined,
          key: c.key,
        });
      }
      continue;
    }
    const lower = c.i > 0 ? c.seals[c.i - 1]!.until : -Infinity;
    if (e.at < lower || e.at >= seal.until) {
      const length = seal.until - seal.from;
      const period = seal.n + Math.floor((e.at - seal.from) / length);
      problems.add({
        kind: "wrong_key",
        message: `${entryName(w, s, e.id)} dated ${isoTime(e.at)} in period ${period} was ` +
          `sealed under period ${seal.n}'s key (key ${c.key})`,
        writer: w,
        seq: s,
        session_id: e.id || undefined,
        key: c.key,
        period: seal.n,
      });
    }
  }
}

/** Names a chain that ends before a seal says it reached. */
export function reportSealedBeyond(
  w: string,
  lastS: number,
  heads: Map<number, SealHead[]> | undefined,
  problems: Problems,
): void {
  let beyond: { s: number; head: SealHead } | null = null;
  for (const [s, list] of heads ?? []) {
    if (s > lastS && (beyond === null || s > beyond.s)) beyond = { s, head: list[0]! };
  }
  if (beyond === null) return;
  problems.add({
    kind: "cut_short",
    message: `chain ${w} ends at #${lastS} but the seal of period ${beyond.head.n} of key ` +
      `${beyond.head.key} says it reached #${beyond.s}`,
    writer: w,
    seq: lastS + 1,
    key: beyond.head.key,
    period: beyond.head.n,
  });
}
