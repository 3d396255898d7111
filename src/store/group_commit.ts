/**
 * The group commit every store adapter uses: starts that arrive while a commit is under
 * way are queued and committed together, so that one fsync or round trip answers many.
 * An adapter says only how a group is written (and read back when it cannot be written as
 * one); queueing, group sizes, how many groups commit at once and which starts must wait
 * are decided here.
 *
 * Several groups may be committing at once (two connections to PostgreSQL, several round
 * trips to a remote Deno KV), and commits on different connections finish in any order:
 * were two starts of one event in two such groups, the later one sent could be stored
 * first. So a start whose event is in a group still committing waits for the next group,
 * which then finds the first one stored: the first sent is the one kept, the rest replay
 * or conflict. (A remote Deno KV store also holds back a start whose id base is being
 * committed: two groups moving one counter at once would only make one of them fail and
 * try again.)
 *
 * @example
 * ```ts
 * const starts = new GroupCommitter<Pending>({ atOnce: 1, maxGroup: 24, commit: writeGroup });
 * starts.enqueue(pending); // writeGroup settles it
 * ```
 */

/** What a queued start needs to have for grouping. */
export interface Queued {
  event: { event_id: string };
  /** Answered already (a start whose deadline passed in the queue): not written. */
  settled?: boolean;
}

/** How an adapter's starts are grouped and written. */
export interface GroupCommitOptions<T extends Queued> {
  /** Groups that may be committing at once. */
  atOnce: number;
  /** Starts in one group at most. */
  maxGroup: number;
  /**
   * Split the calls in flight into groups of equal size that take turns (see
   * {@linkcode groupSize}); otherwise each group takes all it may.
   */
  balanced?: boolean;
  /** Keys besides the event id that hold a start back while a group holding them commits. */
  holdKeys?: (item: T) => string[];
  /** Whether `item` fits into `group` (a group ends at the first start that does not). */
  fits?: (group: readonly T[], item: T) => boolean;
  /** Writes a group and settles each of its starts (resolving or rejecting it). */
  commit: (group: T[]) => Promise<void>;
}

/** Queues starts and commits them in groups, as {@linkcode GroupCommitOptions} say. */
export class GroupCommitter<T extends Queued> {
  readonly #options: GroupCommitOptions<T>;
  readonly #queue: T[] = [];
  /** The event ids (and hold keys) of the groups committing now. */
  readonly #committing = new Set<string>();
  readonly #running = new Set<Promise<void>>();
  /** How many starts the last group carried. */
  #lastGroup = 1;

  constructor(options: GroupCommitOptions<T>) {
    this.#options = options;
  }

  /** Queues a start; the adapter's `commit` settles it. */
  enqueue(item: T): void {
    this.#queue.push(item);
    this.#pump();
  }

  /** Resolves once every group begun so far has been committed. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  #keysOf(item: T): string[] {
    return [item.event.event_id, ...(this.#options.holdKeys?.(item) ?? [])];
  }

  #pump(): void {
    const o = this.#options;
    while (this.#running.size < o.atOnce && this.#queue.length > 0) {
      const size = o.balanced
        ? groupSize(this.#lastGroup, this.#queue.length, o.maxGroup)
        : o.maxGroup;
      const group = takeGroup(
        this.#queue,
        size,
        (item) => this.#keysOf(item).some((key) => this.#committing.has(key)),
        o.fits,
      );
      if (group.length === 0) return;
      this.#lastGroup = group.length;
      const keys = new Set(group.flatMap((item) => this.#keysOf(item)));
      for (const key of keys) this.#committing.add(key);
      const running: Promise<void> = o.commit(group).catch((error) => {
        // An adapter settles its starts; one that threw leaves none waiting for ever.
        for (const item of group) (item as { reject?: (e: unknown) => void }).reject?.(error);
      }).finally(() => {
        for (const key of keys) this.#committing.delete(key);
        this.#running.delete(running);
        this.#pump();
      });
      this.#running.add(running);
    }
  }
}

/**
 * How many of `queued` starts the next group takes, after one of `lastGroup`.
 *
 * Calls in flight split into two groups that take turns: one commits while the other's
 * answers go out and its next calls come in. A commit costs about the same for one start
 * as for fifteen (one fsync), so the turns are fastest when the groups are equal: a
 * 15/1 split of 16 calls becomes 8/8 (a sixth more starts per second). One call at a time
 * stays a group of one.
 */
export function groupSize(lastGroup: number, queued: number, max: number): number {
  return Math.min(max, queued, Math.max(1, Math.ceil((lastGroup + queued) / 2)));
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

/** The first start of each event in `group`: the one a group writes. */
export function leadersOf<T extends Queued>(group: T[]): Map<string, T> {
  const leaders = new Map<string, T>();
  for (const item of group) {
    if (!leaders.has(item.event.event_id)) leaders.set(item.event.event_id, item);
  }
  return leaders;
}
