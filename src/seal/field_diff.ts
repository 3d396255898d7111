/** Which fields of two JSON values differ, as dotted paths. */
import { canonicalJson } from "../sessions/session.ts";

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * The dotted paths (`user.username`, `ended_at`) where two JSON values differ: objects
 * are compared key by key, anything else (arrays included) as a whole. Top-level fields
 * named in `ignore` are left out. Sorted; empty when the values are the same.
 */
export function fieldDiff(a: unknown, b: unknown, ignore: readonly string[] = []): string[] {
  const out: string[] = [];
  walk(a, b, "", out, new Set(ignore));
  return out.sort();
}

function walk(a: unknown, b: unknown, path: string, out: string[], ignore: Set<string>): void {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      if (path === "" && ignore.has(k)) continue;
      // A key holding undefined is absent in JSON: compare what would be stored.
      const x = a[k], y = b[k];
      if (x === undefined && y === undefined) continue;
      walk(x, y, path === "" ? k : `${path}.${k}`, out, ignore);
    }
    return;
  }
  if (
    canonicalJson(a ?? null) !== canonicalJson(b ?? null) || (a === undefined) !== (b === undefined)
  ) {
    out.push(path === "" ? "(whole value)" : path);
  }
}
