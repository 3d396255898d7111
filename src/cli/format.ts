/** Human output of the operator commands: durations, local times, aligned tables, colour. */

/**
 * Formats seconds the way an operator reads them: `45s`, `3m 05s`, `1h 04m`, `2d 03h`.
 *
 * @example
 * ```ts
 * formatDuration(3845.5); // "1h 04m"
 * ```
 */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "-";
  const s = Math.floor(Math.max(0, seconds));
  const pad = (n: number) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d ${pad(Math.floor((s % 86400) / 3600))}h`;
}

/** Formats an ISO instant as local `YYYY-MM-DD HH:MM:SS`. */
export function formatLocal(iso: string | null): string {
  if (!iso) return "-";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "-";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${
    pad(d.getMinutes())
  }:${pad(d.getSeconds())}`;
}

const COLOURS: Record<string, string> = { active: "32", stale: "33", ended: "2" };

/** Colours a status word when colour is on. */
export function paintStatus(status: string, colour: boolean): string {
  const code = COLOURS[status];
  return colour && code ? `\x1b[${code}m${status}\x1b[0m` : status;
}

// deno-lint-ignore no-control-regex
const ESCAPES = /\x1b\[[0-9;]*m/g;

/** Renders rows as columns aligned under their headers, two spaces apart. */
export function table(headers: string[], rows: string[][]): string {
  const width = headers.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => (r[i] ?? "").replace(ESCAPES, "").length))
  );
  const line = (cells: string[]) =>
    cells.map((c, i) =>
      i === cells.length - 1 ? c : c + " ".repeat(width[i]! - c.replace(ESCAPES, "").length)
    ).join("  ").trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}
