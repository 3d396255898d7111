/**
 * The operator commands of the history (SPEC 10): `sessions verify` (the store, or an
 * export file offline), `sessions prune`, and the history lines `sessions export` appends
 * and `sessions import` passes over.
 */
import { fromEntryText } from "../seal/entry.ts";
import { explainReport } from "../seal/explain.ts";
import { parseVerificationKey } from "../seal/keys.ts";
import { type HistorySource, verifyHistory } from "../seal/verify.ts";
import { parseExportedRecord } from "../sessions/exported.ts";
import type { SessionRecord } from "../sessions/session.ts";
import type { CommandContext, CommandOutcome } from "./commands.ts";

/** The kinds of history line an export carries after its records. */
const HISTORY_LINES = ["entry", "head", "seal"] as const;

/** Whether an export line is one of the history's (`{"entry": ...}` and the like). */
export function isHistoryLine(value: unknown): boolean {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && (HISTORY_LINES as readonly string[]).includes(keys[0]!);
}

/** The history lines of a whole-store export: every entry, head and seal. */
export async function* historyLines(source: HistorySource): AsyncIterable<string> {
  for await (const chain of source.chains()) {
    for await (const { value } of chain.entries) {
      // An entry in a store's own form is exported as the object it is; anything else as is.
      const e = typeof value === "string" ? fromEntryText(value) ?? value : value;
      yield JSON.stringify({ entry: e });
    }
  }
  for (const [w, head] of await source.heads()) {
    yield JSON.stringify({ head: { w, ...(head as object) } });
  }
  for await (const seal of source.seals()) yield JSON.stringify({ seal });
}

/**
 * The lines of an export: its records, every one checked, and its history lines as they
 * are; or the reason the first bad line is refused.
 */
export function readExport(
  text: string,
): { records: SessionRecord[]; history: unknown[] } | string {
  const records: SessionRecord[] = [];
  const history: unknown[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return `line ${i + 1} is not JSON`;
    }
    if (isHistoryLine(value)) {
      history.push(value);
      continue;
    }
    const parsed = parseExportedRecord(value);
    if (!parsed.ok) return `line ${i + 1}: ${parsed.reason}`;
    records.push(parsed.value);
  }
  return { records, history };
}

/** An export file as the verifier reads it: its records and its history lines. */
export function exportSource(text: string): HistorySource | string {
  const read = readExport(text);
  if (typeof read === "string") return read;
  const { records } = read;
  const chains = new Map<string, { key: { w: string; s: number }; value: unknown }[]>();
  const heads = new Map<string, unknown>();
  const seals: unknown[] = [];
  for (const value of read.history) {
    const v = value as Record<string, Record<string, unknown>>;
    if (v.seal) seals.push(v.seal);
    else if (v.head) {
      const { w, ...head } = v.head;
      heads.set(String(w), head);
    } else {
      // An entry sits where its own w and s say: an edit that moves them shows as a gap.
      const e = v.entry!;
      const w = String(e.w);
      const list = chains.get(w) ?? [];
      chains.set(w, list);
      list.push({ key: { w, s: Number(e.s) }, value: e });
    }
  }
  for (const list of chains.values()) list.sort((a, b) => a.key.s - b.key.s);
  return {
    chains: async function* () {
      for (const [writer, list] of [...chains].sort(([a], [b]) => a < b ? -1 : 1)) {
        yield {
          writer,
          entries: (async function* () {
            yield* list;
          })(),
        };
      }
    },
    heads: () => Promise.resolve(heads),
    seals: async function* () {
      yield* seals;
    },
    records: async function* () {
      yield* records;
    },
    entry: (w, s) => Promise.resolve(chains.get(w)?.find((x) => x.key.s === s)?.value ?? null),
  };
}

/** `sessions verify`: exit 0 with what was proved, 1 naming every problem. */
export async function verifyCommand(
  ctx: CommandContext,
  command: { keys: string[]; file: string | null },
): Promise<CommandOutcome> {
  let source: HistorySource;
  let label: string;
  if (command.file !== null) {
    const read = exportSource(await ctx.readInput!());
    if (typeof read === "string") return { code: 1, error: `${command.file}: ${read}` };
    source = read;
    label = command.file;
  } else {
    const history = ctx.store.history?.();
    if (!history) {
      return {
        code: 1,
        error: "this store keeps no history to verify",
      };
    }
    source = history.source();
    label = "the store";
  }
  const keys = command.keys.map(parseVerificationKey);
  const report = await verifyHistory(source, { keys, nowMs: ctx.now().getTime() });
  await ctx.write(ctx.json ? JSON.stringify(report) : explainReport(report, label));
  return { code: report.ok ? 0 : 1 };
}

/** `sessions prune --before T`: removes sessions ended before T, leaving tombstones. */
export async function pruneCommand(
  ctx: CommandContext,
  beforeMs: number,
): Promise<CommandOutcome> {
  if (!ctx.store.prune) {
    return { code: 1, error: "this store keeps no history to prune" };
  }
  const { removed } = await ctx.store.prune(beforeMs);
  const before = new Date(beforeMs).toISOString();
  await ctx.write(
    ctx.json
      ? JSON.stringify({ status: "ok", removed, before })
      : removed === 0
      ? `No session ended before ${before}.`
      : `Pruned ${removed} session${removed === 1 ? "" : "s"} ended before ${before}; ` +
        "tombstone entries name them.",
  );
  return { code: 0 };
}
