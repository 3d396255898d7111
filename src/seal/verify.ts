/**
 * The verifier: reads a store's history as streams and names every way it does not hold
 * together (SPEC 10). Keeps per session only its latest entry's link and a digest of its
 * record, so a million entries fit easily; reads an entry again only to name the fields of
 * a mismatch.
 */
import type { SessionRecord } from "../sessions/session.ts";
import { isoTime } from "./_names.ts";
import { parseHead } from "./_parse.ts";
import { Problems } from "./_problems.ts";
import { compareRecords } from "./compare_records.ts";
import { loadSeals } from "./load_seals.ts";
import { walkChains } from "./walk_chains.ts";
import { useNativeHashing } from "./hash.ts";

// The report's times are written as its problems write them (src/seal/explain.ts).
export { isoTime };

/** What the verifier reads; every stored value may be anything an intruder wrote. */
export interface HistorySource {
  /**
   * Every writer's stored chain, writer by writer, each in ascending key order. `key` is
   * where the store holds it (writer and seq from the storage key), `value` what is stored
   * there (may be anything an intruder wrote: not an object, unparsable, wrong types).
   */
  chains(): AsyncIterable<{
    writer: string;
    entries: AsyncIterable<{ key: { w: string; s: number }; value: unknown }>;
  }>;
  /** The head markers the store keeps per writer ({s, h} as written with the last entry), may be empty. */
  heads(): Promise<Map<string, unknown>>;
  /** Every stored seal. */
  seals(): AsyncIterable<unknown>;
  /** The session records the store holds now. */
  records(): AsyncIterable<SessionRecord>;
  /** The value stored for entry `s` of writer `w`, or null. */
  entry(w: string, s: number): Promise<unknown | null>;
  /**
   * Writers whose chains are carried copies from other hosts (forwarded): hashes and seals
   * checked, but they do not explain this store's records. Optional.
   */
  carried?: Set<string>;
  /**
   * Keys whose seals are carried copies from other hosts: they vouch only for the writers
   * they name (this store's own keys vouch for every writer of the store that is not
   * carried). Filled, like `carried`, at the latest while the seals are read.
   */
  carriedKeys?: Set<string>;
  /** What a forwarding host sent that disagrees with what it had sent before. */
  conflicts?(): AsyncIterable<CarriedConflict>;
}

/** A host's history, sent again, that differs from its earlier copy (SPEC 10, forwarding). */
export interface CarriedConflict {
  kind: "entry" | "seal" | "head";
  /** For entries and heads: the writer and seq; for seals: the key id and period. */
  w?: string;
  s?: number;
  key?: string;
  n?: number;
  /** When the conflicting copy arrived (ms). */
  at: number;
}

/** The verification keys to check seals with, and the time of the check. */
export interface VerifyOptions {
  keys: { keyId: string; k0: string }[];
  nowMs: number;
}

/** The kinds of problem the verifier names. */
export type ProblemKind =
  | "edited_entry"
  | "removed_entry"
  | "reordered"
  | "cut_short"
  | "missing_period"
  | "wrong_key"
  | "bad_seal"
  | "unexplained_record"
  | "edited_record"
  | "missing_record"
  | "unsealed_entry";

/** One thing that does not hold together, in plain English, with what it is about. */
export interface Problem {
  kind: ProblemKind;
  message: string;
  writer?: string;
  seq?: number;
  session_id?: string;
  fields?: string[];
  key?: string;
  period?: number;
}

/** What the verifier proved, or every problem it found. */
export interface VerifyReport {
  ok: boolean;
  entries: number;
  writers: number;
  records: number;
  stubs: number;
  /** At least one key given and its seals checked. */
  sealed: boolean;
  keys: {
    key: string;
    periods: number;
    last_until: number | null;
    last_at: number | null;
    checked: boolean;
  }[];
  /** Entries dated after the last seal (the current period), count. */
  unsealed_after: number | null;
  problems: Problem[];
}

/** Verifies a store's history: chains, head markers, seals under the keys given, records. */
export async function verifyHistory(
  src: HistorySource,
  options: VerifyOptions,
): Promise<VerifyReport> {
  // A million entries are hashed faster natively; loading it costs a verify little.
  await useNativeHashing();
  const problems = new Problems();
  const carried = src.carried ?? new Set<string>();
  const carriedKeys = src.carriedKeys ?? new Set<string>();

  const markers = new Map<string, { s: number; h: string }>();
  for (const [w, value] of await src.heads()) {
    const head = parseHead(value);
    if (head === null) {
      problems.add({
        kind: "edited_entry",
        message: `the head marker of writer ${w} is not {s, h}`,
        writer: w,
      });
    } else markers.set(w, head);
  }

  const { report: keyReport, checked } = await loadSeals(src, options, problems);
  const sealed = options.keys.length > 0 && checked.some((k) => k.seals.length > 0);
  const currentFrom = checked.reduce((m, k) => Math.max(m, k.lastUntil), -Infinity);

  const { writers, tally, states } = await walkChains(
    src,
    { carried, carriedKeys, markers, checked, currentFrom },
    problems,
  );
  const records = await compareRecords(src, states, problems);
  await reportConflicts(src, problems);

  problems.summarise();
  return {
    ok: problems.list.length === 0,
    entries: tally.entries,
    writers,
    records,
    stubs: tally.stubs,
    sealed,
    keys: keyReport,
    unsealed_after: sealed ? tally.unsealedAfter : null,
    problems: problems.list,
  };
}

/** Names what a forwarding host sent that disagrees with what it had sent before. */
async function reportConflicts(src: HistorySource, problems: Problems): Promise<void> {
  for await (const c of src.conflicts?.() ?? []) {
    const when = isoTime(c.at);
    if (c.kind === "seal") {
      problems.add({
        kind: "bad_seal",
        message: `the seal of period ${c.n} of key ${c.key} arrived again at ${when}, ` +
          "different from the copy forwarded before: the host's store was changed",
        key: c.key,
        period: c.n,
      });
    } else if (c.kind === "head") {
      problems.add({
        kind: "cut_short",
        message: `the host of writer ${c.w} said at ${when} that its chain ends at #${c.s}, ` +
          "short of what it forwarded before: the host's store was cut short",
        writer: c.w,
        seq: c.s,
      });
    } else {
      problems.add({
        kind: "edited_entry",
        message: `entry ${c.w}#${c.s} arrived again at ${when}, different from the copy ` +
          "forwarded before: the host's store was changed",
        writer: c.w,
        seq: c.s,
      });
    }
  }
}
