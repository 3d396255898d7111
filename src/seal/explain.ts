/** The text `sessions verify` prints for a report: short and plain. */
import { isoTime, type VerifyReport } from "./verify.ts";

const count = (n: number) => n.toLocaleString("en-US");
const plural = (n: number, one: string, many = `${one}s`) => `${count(n)} ${n === 1 ? one : many}`;

/** What a verification proved, or every problem it found, for the store named `storeLabel`. */
export function explainReport(report: VerifyReport, storeLabel: string): string {
  if (!report.ok) {
    const lines = [
      `verification FAILED for ${storeLabel}: ${plural(report.problems.length, "problem")}`,
    ];
    for (const p of report.problems) lines.push(`  - ${p.message}`);
    return lines.join("\n");
  }
  const what =
    `${plural(report.entries, "entry", "entries")} from ${
      plural(report.writers, "writer")
    } explain ${plural(report.records, "record")}` +
    (report.stubs > 0 ? ` (${plural(report.stubs, "pruned entry", "pruned entries")})` : "");
  if (!report.sealed) {
    return `hashes check out for ${storeLabel}: ${what}; the store is unsealed (no ` +
      `--verification-key given), so entries could have been rewritten together with their hashes`;
  }
  const parts = report.keys.filter((k) => k.checked && k.last_until !== null).map((k) =>
    `sealed under key ${k.key} through ${isoTime(k.last_until!)} (${
      plural(k.periods, "period")
    }, last seal ${k.last_at === null ? "unknown" : isoTime(k.last_at)})`
  );
  const unchecked = report.keys.filter((k) => !k.checked).map((k) => k.key);
  const pending = report.unsealed_after ?? 0;
  return `verified ${storeLabel}: ${what}; ${parts.join("; ")}` +
    (pending > 0
      ? `; ${plural(pending, "entry", "entries")} of the current period ${
        pending === 1 ? "is" : "are"
      } not sealed yet`
      : "") +
    (unchecked.length > 0
      ? `; seals under key ${unchecked.join(", ")} were not checked (no verification key given)`
      : "");
}
