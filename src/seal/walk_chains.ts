/**
 * The verifier's walk along every writer's chain (see _walk_chain.ts), then what only all
 * of them together tell: a head marker or a seal naming a chain that is missing, and a
 * stub whose session was never pruned.
 */
import { reportSealedBeyond, sealCoverage } from "./_coverage.ts";
import { entryName } from "./_names.ts";
import type { Problems } from "./_problems.ts";
import { SessionStates } from "./_session_states.ts";
import { type ChainWalk, walkChain } from "./_walk_chain.ts";
import type { KeyCheck } from "./load_seals.ts";
import type { HistorySource } from "./verify.ts";

/** What the chains are checked against. */
export interface ChainsContext {
  /** Writers whose chains are carried copies, and keys whose seals are. */
  carried: Set<string>;
  carriedKeys: Set<string>;
  /** The head marker of each writer that has a valid one. */
  markers: Map<string, { s: number; h: string }>;
  /** The checked keys' trusted seals. */
  checked: KeyCheck[];
  /** Entries dated from here on lie after the last seal. */
  currentFrom: number;
}

/** Walks every writer's chain; returns what was counted and each session's latest states. */
export async function walkChains(
  src: HistorySource,
  { carried, carriedKeys, markers, checked, currentFrom }: ChainsContext,
  problems: Problems,
): Promise<{ writers: number; tally: ChainWalk["tally"]; states: SessionStates }> {
  const { coverage, sealHeads } = sealCoverage(checked);
  const walk: ChainWalk = {
    problems,
    states: new SessionStates(problems),
    tally: { entries: 0, stubs: 0, unsealedAfter: 0 },
    prunedAt: new Map<string, number>(),
    stubs: new Map<string, { at: number; w: string; s: number }>(),
    currentFrom,
  };
  const { stubs, prunedAt } = walk;
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
    const lastS = await walkChain(w, chain.entries, walk, { isCarried, marker, heads, cover });
    chainEnds.set(w, lastS);
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
  return { writers, tally: walk.tally, states: walk.states };
}
