/**
 * A forwarding host's history as the collector's `import_history` tool receives it
 * (SPEC 10): entries, seals and the heads of the host's chains, every one read before any
 * is kept, so that one bad item refuses the call and changes nothing.
 */
import type { CarriedHistory, SealedHeads } from "../store/port.ts";
import { isObject, parseEntry, parseHead, parseSeal } from "./_parse.ts";
import type { Entry } from "./entry.ts";
import type { Seal } from "./seal.ts";

/** Most entries and seals together in one call. */
export const MAX_CARRIED_ITEMS = 1000;

/** The history in a call's arguments, or the reason it is refused (naming the first bad item). */
export function parseCarried(
  args: unknown,
): { ok: true; value: CarriedHistory } | { ok: false; reason: string } {
  if (!isObject(args)) return { ok: false, reason: "Invalid arguments: expected an object" };
  const { entries = [], seals = [], heads = {} } = args;
  if (!Array.isArray(entries) || !Array.isArray(seals)) {
    return { ok: false, reason: "Invalid arguments: entries and seals must be arrays" };
  }
  if (entries.length + seals.length > MAX_CARRIED_ITEMS) {
    return {
      ok: false,
      reason: `Invalid arguments: ${
        entries.length + seals.length
      } entries and seals, expected at most ${MAX_CARRIED_ITEMS} in one call`,
    };
  }
  const value: CarriedHistory = { entries: [], seals: [], heads: {} };
  for (let i = 0; i < entries.length; i++) {
    const e = parseEntry(entries[i]);
    if (typeof e === "string") return { ok: false, reason: `entries[${i}]: ${e}` };
    value.entries.push(e as Entry);
  }
  for (let i = 0; i < seals.length; i++) {
    const s = parseSeal(seals[i]);
    if (typeof s === "string") return { ok: false, reason: `seals[${i}]: ${s}` };
    value.seals.push(s as Seal);
  }
  if (!isObject(heads)) return { ok: false, reason: "Invalid heads: expected an object" };
  for (const [w, head] of Object.entries(heads)) {
    // A head of 0 says the chain is gone from the host.
    const parsed = isObject(head) && head.s === 0 ? { s: 0, h: "" } : parseHead(head);
    if (parsed === null || w.length > 64) {
      return { ok: false, reason: `heads.${w.slice(0, 64)}: expected {s, h}` };
    }
    (value.heads as SealedHeads)[w] = parsed;
  }
  return { ok: true, value };
}
