/**
 * Forming the groups of starts that a store commits together. Several groups may be
 * committing at once (two connections to PostgreSQL, several round trips to a remote
 * Deno KV), and commits on different connections finish in any order: were two starts of
 * one event in two such groups, the later one sent could be stored first. So a start
 * whose event is in a group still committing waits for the next group, which then finds
 * the first one stored: the first sent is the one kept, the rest replay or conflict.
 * (A remote Deno KV store holds back a start whose id base is being committed too: two
 * groups moving one counter at once would only make one of them fail and try again.)
 */

/** What a queued start needs to have for grouping. */
export interface Queued {
  event: { event_id: string };
  /** Answered already (a PostgreSQL start whose deadline passed in the queue). */
  settled?: boolean;
}

/**
 * Takes up to `max` starts from the front of `queue` for a group (answered ones are
 * dropped), leaving at the front, in their order, those for which `busy` is true (their
 * event is in a group committing now). With `fits`, the group ends at the first start
 * that does not fit in it.
 */
export function takeGroup<T extends Queued>(
  queue: T[],
  max: number,
  busy: (item: T) => boolean,
  fits: (group: readonly T[], item: T) => boolean = () => true,
): T[] {
  const group: T[] = [];
  const held: T[] = [];
  let i = 0;
  for (; i < queue.length && group.length < max; i++) {
    const item = queue[i]!;
    if (item.settled) continue;
    if (busy(item)) held.push(item);
    else if (group.length === 0 || fits(group, item)) group.push(item);
    else break;
  }
  queue.splice(0, i, ...held);
  return group;
}

/** The starts of `group` by event, each event's in the order they came. */
export function byEvent<T extends Queued>(group: T[]): Map<string, T[]> {
  const events = new Map<string, T[]>();
  for (const item of group) {
    const same = events.get(item.event.event_id);
    if (same) same.push(item);
    else events.set(item.event.event_id, [item]);
  }
  return events;
}
