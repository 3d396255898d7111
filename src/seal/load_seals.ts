/** The verifier's seals: read, grouped per key, and checked under the keys given (SPEC 10). */
import { canonicalJson } from "../sessions/session.ts";
import { isoTime } from "./_names.ts";
import { isObject, parseSeal } from "./_parse.ts";
import type { Problems } from "./_problems.ts";
import { checkSeal, type Seal } from "./seal.ts";
import type { HistorySource, VerifyOptions, VerifyReport } from "./verify.ts";

/** A checked key's trusted seals, in period order, and what they say per writer. */
export interface KeyCheck {
  key: string;
  seals: Seal[];
  lastUntil: number;
}

/** Reads every stored seal and checks those of the keys given; names a given key without any. */
export async function loadSeals(
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
