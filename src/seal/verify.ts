/**
 * The verifier: reads a store's history as streams and names every way it does not hold
 * together (SPEC 10). Keeps per session only its latest entry's link and a digest of its
 * record, so a million entries fit easily; reads an entry again only to name the fields of
 * a mismatch.
 */
import { canonicalJson, type SessionRecord } from "../sessions/session.ts";
import { type Entry, GENESIS } from "./entry.ts";
import { fieldDiff } from "./field_diff.ts";
import { sha256Hex } from "./hash.ts";
import { isObject, parseEntry, parseHead, parseSeal } from "./_parse.ts";
import { checkSeal, type Seal } from "./seal.ts";

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

/** Problems of one kind beyond this many are summed up in one more. */
const MAX_PER_KIND = 1000;
/** Fields of this many edited entries are named; the rest are reported without. */
const MAX_DEFERRED = 1000;

/** An ISO time without milliseconds when they are zero: 2026-12-07T10:15:00Z. */
export function isoTime(ms: number): string {
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return String(ms);
  return new Date(ms).toISOString().replace(".000Z", "Z");
}

class Problems {
  readonly list: Problem[] = [];
  #counts = new Map<ProblemKind, number>();

  add(p: Problem): void {
    const n = (this.#counts.get(p.kind) ?? 0) + 1;
    this.#counts.set(p.kind, n);
    if (n <= MAX_PER_KIND) this.list.push(p);
  }

  summarise(): void {
    for (const [kind, n] of this.#counts) {
      if (n > MAX_PER_KIND) {
        this.list.push({
          kind,
          message: `... and ${n - MAX_PER_KIND} more problems of kind ${kind}`,
        });
      }
    }
  }
}

function entryName(w: string, s: number, id?: string): string {
  return `entry ${w}#${s}${id ? ` (session ${id})` : ""}`;
}

function seqRange(from: number, to: number): string {
  return from === to ? `#${from}` : `#${from}-#${to}`;
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

/** A state a session may be in after its latest entries (ties keep several). */
type Candidate =
  | { removed: false; w: string; s: number; digest: string; lastSeen: unknown }
  | { removed: true; w: string; s: number };

interface SessionState {
  at: number;
  cands: Candidate[];
  seen: boolean;
}

/** A checked key's trusted seals, in period order, and what they say per writer. */
interface KeyCheck {
  key: string;
  seals: Seal[];
  lastUntil: number;
}

/** Per writer and key: the seals that bound it, for coverage. */
interface Coverage {
  key: string;
  seals: { n: number; from: number; until: number; bound: number }[];
  lastUntil: number;
  i: number;
}

interface SealHead {
  key: string;
  n: number;
  h: string;
}

interface Deferred {
  problem: Problem;
  r: unknown;
}

async function loadSeals(
  src: HistorySource,
  options: VerifyOptions,
  problems: Problems,
): Promise<{ report: VerifyReport["keys"]; checked: KeyCheck[] }> {
  const byKey = new Map<string, Seal[]>();
  for await (const value of src.seals()) {
    const seal = parseSeal(value);
    if (typeof seal === "string") {
      const key = isObject(value) && typeof value.key === "string" ? value.key : undefined;
      problems.add({
        kind: "bad_seal",
        message: `a stored seal${key ? ` of key ${key}` : ""} is not a seal: ${seal}`,
        key,
      });
      continue;
    }
    const list = byKey.get(seal.key) ?? [];
    list.push(seal);
    byKey.set(seal.key, list);
  }
  const given = new Map(options.keys.map((k) => [k.keyId, k.k0]));
  const report: VerifyReport["keys"] = [];
  const checked: KeyCheck[] = [];
  for (const [key, seals] of byKey) {
    seals.sort((a, b) => a.n - b.n);
    const last = seals[seals.length - 1]!;
    const k0 = given.get(key);
    report.push({
      key,
      periods: seals.length,
      last_until: last.until,
      last_at: last.at,
      checked: k0 !== undefined,
    });
    if (k0 !== undefined) checked.push(checkKey(key, k0, seals, options.nowMs, problems));
  }
  for (const { keyId } of options.keys) {
    if (byKey.has(keyId)) continue;
    report.push({ key: keyId, periods: 0, last_until: null, last_at: null, checked: true });
    problems.add({
      kind: "missing_period",
      message: `no seal under key ${keyId} is stored: every period it sealed is missing`,
      key: keyId,
    });
  }
  return { report, checked };
}

function checkKey(
  key: string,
  k0: string,
  seals: Seal[],
  nowMs: number,
  problems: Problems,
): KeyCheck {
  const trusted: Seal[] = [];
  let prev: Seal | null = null;
  let prevStored: Seal | null = null;
  for (const seal of seals) {
    const name = `seal of period ${seal.n} of key ${key} (${isoTime(seal.from)} to ${
      isoTime(seal.until)
    })`;
    const bad = (why: string) =>
      problems.add({ kind: "bad_seal", message: `${name} ${why}`, key, period: seal.n });
    if (prev !== null && prev.n === seal.n) {
      if (canonicalJson(prevStored) !== canonicalJson(seal)) bad("is stored twice, differently");
      continue;
    }
    // A real period n starts at least n periods after the epoch and not after now; a
    // larger n is refused before its key is derived, which costs one step per period.
    const length = seal.until - seal.from;
    if (seal.n > seal.from / length || seal.from > nowMs + 86_400_000) {
      bad("names a period that cannot exist yet");
      continue;
    }
    if (!checkSeal(seal, k0)) {
      bad("does not verify: its mac is wrong for this key and period");
      continue;
    }
    // A sealer names only the heads that moved since its last seal: a writer it leaves
    // out stands where the seal before left it.
    const vouched: Seal = prev === null
      ? seal
      : { ...seal, heads: { ...prev.heads, ...seal.heads } };
    if (prev === null && seal.n > 0) {
      problems.add({
        kind: "missing_period",
        message: `periods 0-${seal.n - 1} of key ${key} (before ${
          isoTime(seal.from)
        }) have no seal`,
        key,
        period: 0,
      });
    } else if (prev !== null && seal.n > prev.n + 1) {
      problems.add({
        kind: "missing_period",
        message: `${
          seal.n === prev.n + 2 ? `period ${prev.n + 1}` : `periods ${prev.n + 1}-${seal.n - 1}`
        } of key ${key} (${isoTime(prev.until)} to ${isoTime(seal.from)}) have no seal`,
        key,
        period: prev.n + 1,
      });
    } else if (prev !== null && seal.from !== prev.until) {
      bad(`does not start where period ${prev.n} ended (${isoTime(prev.until)})`);
    }
    if (prev !== null) {
      for (const [w, head] of Object.entries(prev.heads)) {
        const now = vouched.heads[w];
        if (now === undefined || now.s < head.s) {
          bad(`says writer ${w} is at #${now?.s ?? 0}, behind #${head.s} of period ${prev.n}`);
        }
      }
    }
    trusted.push(vouched);
    prev = vouched;
    prevStored = seal;
  }
  return { key, seals: trusted, lastUntil: trusted[trusted.length - 1]?.until ?? -Infinity };
}

/** Verifies a store's history: chains, head markers, seals under the keys given, records. */
export async function verifyHistory(
  src: HistorySource,
  options: VerifyOptions,
): Promise<VerifyReport> {
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

  // Per writer: what each checked key's seals say about it.
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

  const sessions = new Map<string, SessionState>();
  const prunedAt = new Map<string, number>();
  const stubs = new Map<string, { at: number; w: string; s: number }>();
  const deferred = new Map<string, Deferred[]>();
  let deferredCount = 0;
  const defer = (id: string, problem: Problem, r: unknown) => {
    if (id === "" || r === undefined || deferredCount >= MAX_DEFERRED) {
      problems.add(problem);
      return;
    }
    deferredCount += 1;
    const list = deferred.get(id) ?? [];
    list.push({ problem, r });
    deferred.set(id, list);
  };

  let entries = 0;
  let stubCount = 0;
  let unsealedAfter = 0;
  let writers = 0;
  const chainEnds = new Map<string, number>();

  for await (const chain of src.chains()) {
    writers += 1;
    const w = chain.writer;
    const isCarried = carried.has(w);
    const marker = markers.get(w);
    const heads = sealHeads.get(w);
    // A sealer vouches for every writer of the store: a writer no seal of a key names has
    // no entry the key's periods could have covered, so any dated in them came later.
    const cover = coverage.get(w) ??
      (isCarried
        ? []
        : checked.filter((k) => k.seals.length > 0 && !carriedKeys.has(k.key)).map((k) => ({
          key: k.key,
          seals: [],
          lastUntil: k.lastUntil,
          i: 0,
        })));
    const reportedSealHead = new Set<string>();
    let expect = 1;
    let prevH: string | null = GENESIS;
    let prevAt = -Infinity;
    let prev: Entry | null = null;
    let lastS = 0;

    const take = (s: number, e: Entry, gapReported: boolean) => {
      entries += 1;
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
      const rJson = stub || e.r === undefined ? undefined : canonicalJson(e.r);
      const hashOk = stub || sha256Hex(canonicalEntry(e, rJson)) === e.h;
      if (!gap && prevH !== null && e.p !== prevH) {
        if (prev !== null && hashOk) {
          defer(prev.id, {
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
        defer(e.id, {
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
      if (e.at >= currentFrom) unsealedAfter += 1;
      if (stub) {
        stubCount += 1;
        const known = stubs.get(e.id);
        if (known === undefined || known.at < e.at) stubs.set(e.id, { at: e.at, w, s });
      }
      if (e.k === "prune") {
        for (const id of e.pruned?.ids ?? []) {
          if ((prunedAt.get(id) ?? -Infinity) < e.at) prunedAt.set(id, e.at);
          if (!isCarried) setState(sessions, id, e.at, { removed: true, w, s });
        }
      } else if (!isCarried && rJson !== undefined) {
        const r = e.r as unknown as Record<string, unknown>;
        setState(sessions, e.id, e.at, {
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
      entries += 1;
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

    const it = chain.entries[Symbol.asyncIterator]();
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
    chainEnds.set(w, lastS);
    if (marker !== undefined && lastS < marker.s) {
      problems.add({
        kind: "cut_short",
        message: `chain ${w} ends at #${lastS} but its head says #${marker.s}`,
        writer: w,
        seq: lastS + 1,
      });
    }
    reportSealedBeyond(w, lastS, heads, problems);
  }

  for (const [w, marker] of markers) {
    if (chainEnds.has(w)) continue;
    problems.add({
      kind: "cut_short",
      message: `chain ${w} is missing but its head says #${marker.s}`,
      writer: w,
      seq: 1,
    });
  }
  for (const [w, heads] of sealHeads) {
    if (!chainEnds.has(w)) reportSealedBeyond(w, 0, heads, problems);
  }

  for (const [id, stub] of stubs) {
    if ((prunedAt.get(id) ?? -Infinity) >= stub.at) continue;
    problems.add({
      kind: "removed_entry",
      message: `the body of ${entryName(stub.w, stub.s, id)} was removed, but session ${id} ` +
        `was never pruned`,
      writer: stub.w,
      seq: stub.s,
      session_id: id,
    });
  }

  let records = 0;
  for await (const record of src.records()) {
    records += 1;
    const id = isObject(record) && typeof record.session_id === "string" ? record.session_id : "";
    for (const d of deferred.get(id) ?? []) {
      const fields = fieldDiff(d.r, record, ["last_seen_at"]);
      d.problem.fields = fields;
      if (fields.length > 0) {
        // The fields say more than the generic reason after the colon.
        const base = d.problem.message.slice(0, d.problem.message.indexOf(": "));
        d.problem.message = `${base}: ${fields.join(", ")} differs from the record`;
      }
      problems.add(d.problem);
    }
    deferred.delete(id);
    const state = sessions.get(id);
    if (state === undefined) {
      problems.add({
        kind: "unexplained_record",
        message: `session ${id || "(without an id)"} has a record but no entry explains it`,
        session_id: id || undefined,
      });
      continue;
    }
    if (state.seen) continue;
    state.seen = true;
    await checkRecord(src, id, record, state, problems);
  }
  for (const list of deferred.values()) for (const d of list) problems.add(d.problem);

  for (const [id, state] of sessions) {
    if (state.seen || state.cands.some((c) => c.removed)) continue;
    const c = state.cands[0]!;
    problems.add({
      kind: "missing_record",
      message: `session ${id} has no record, though its latest ${entryName(c.w, c.s)} ` +
        `says it exists`,
      writer: c.w,
      seq: c.s,
      session_id: id,
    });
  }

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

  problems.summarise();
  return {
    ok: problems.list.length === 0,
    entries,
    writers,
    records,
    stubs: stubCount,
    sealed,
    keys: keyReport,
    unsealed_after: sealed ? unsealedAfter : null,
    problems: problems.list,
  };
}

function setState(
  sessions: Map<string, SessionState>,
  id: string,
  at: number,
  cand: Candidate,
): void {
  const state = sessions.get(id);
  if (state === undefined) sessions.set(id, { at, cands: [cand], seen: false });
  else if (at > state.at) {
    state.at = at;
    state.cands = [cand];
  } else if (at === state.at) state.cands.push(cand);
}

function reportSealedBeyond(
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

async function checkRecord(
  src: HistorySource,
  id: string,
  record: SessionRecord,
  state: SessionState,
  problems: Problems,
): Promise<void> {
  const live = state.cands.filter((c) => !c.removed);
  if (live.length === 0) {
    problems.add({
      kind: "unexplained_record",
      message: `session ${id} was pruned at ${isoTime(state.at)} but its record is back`,
      session_id: id,
    });
    return;
  }
  for (const c of live) {
    const json = canonicalJson({ ...record, last_seen_at: c.lastSeen });
    if (sha256Hex(json) !== c.digest) continue;
    const stored = Date.parse(String(record.last_seen_at));
    const entered = Date.parse(String(c.lastSeen));
    if (!(stored >= entered)) {
      problems.add({
        kind: "edited_record",
        message: `session ${id}'s record was edited: last_seen_at ${
          JSON.stringify(record.last_seen_at)
        } is before ${JSON.stringify(c.lastSeen)} of its ${entryName(c.w, c.s)}`,
        session_id: id,
        writer: c.w,
        seq: c.s,
        fields: ["last_seen_at"],
      });
    }
    return;
  }
  const c = live[0]!;
  const stored = parseEntry(await src.entry(c.w, c.s));
  const fields = typeof stored === "string" ? [] : fieldDiff(stored.r, record, ["last_seen_at"]);
  problems.add({
    kind: "edited_record",
    message: `session ${id}'s record was edited: ${
      fields.length > 0 ? fields.join(", ") : "it"
    } differs from its latest ${entryName(c.w, c.s)}`,
    session_id: id,
    writer: c.w,
    seq: c.s,
    fields,
  });
}
