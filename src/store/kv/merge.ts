/** Index positions merged with those of sessions whose index keys are not written yet. */
import type { CursorPosition } from "../../sessions/query.ts";

/**
 * Orders positions as Deno KV orders index keys ending in `(started_at ms, session_id)`.
 * (Session ids are ASCII, where UTF-16 and UTF-8 byte order agree.)
 */
export function comparePositions(a: CursorPosition, b: CursorPosition): number {
  if (a.at !== b.at) return a.at < b.at ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Yields the positions of an index listing and the `extra` ones in one order (ascending,
 * or descending with `reverse`), each session once: a session in `extra` that the index
 * also holds (its keys were written meanwhile) is yielded from `extra` only.
 */
export async function* mergePositions(
  indexed: AsyncIterable<CursorPosition>,
  extra: readonly CursorPosition[],
  reverse: boolean,
): AsyncGenerator<CursorPosition> {
  const sign = reverse ? -1 : 1;
  const sorted = [...extra].sort((a, b) => sign * comparePositions(a, b));
  const ids = new Set(sorted.map((p) => p.id));
  let i = 0;
  for await (const position of indexed) {
    if (ids.has(position.id)) continue;
    while (i < sorted.length && sign * comparePositions(sorted[i]!, position) < 0) {
      yield sorted[i++]!;
    }
    yield position;
  }
  while (i < sorted.length) yield sorted[i++]!;
}

/** The position an index key ends in. */
export function positionOfKey(key: Deno.KvKey): CursorPosition {
  return { at: key[key.length - 2] as number, id: key[key.length - 1] as string };
}

/** The positions of an index listing. */
export async function* positionsOf(
  entries: AsyncIterable<Deno.KvEntry<unknown>>,
): AsyncGenerator<CursorPosition> {
  for await (const entry of entries) yield positionOfKey(entry.key);
}
