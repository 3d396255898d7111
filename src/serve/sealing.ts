/**
 * Sealing (SPEC 10): every period, the heads of the store's chains as they stood at the
 * period's end are sealed with that period's key, then the key file moves forward one-way
 * and the old key is gone. A period is sealed `SETTLE_MS` after it ends, longer than any
 * commit may take, so that every entry dated in it is committed by then. Periods missed
 * while nothing ran are sealed on the next start, each with its own key, empty or not.
 */
import { advance, type KeyFile, readKeyFile, writeKeyFile } from "../seal/key_file.ts";
import { duePeriods, makeSeal } from "../seal/seal.ts";
import type { SealConfig } from "../config.ts";
import type { StoreHistory } from "../store/port.ts";

/** How long after a period ends it is sealed: past the 4.5 s a commit may take. */
export const SETTLE_MS = 5000;

/**
 * Why a store cannot be sealed with `config` (a missing or unreadable key file, a store
 * that keeps no history), in one line; null when it can.
 */
export async function sealingProblem(
  store: { history?: () => StoreHistory },
  config: SealConfig,
): Promise<string | null> {
  if (!store.history) {
    return "this store keeps no history to seal";
  }
  try {
    await readKeyFile(config.keyFile);
    return null;
  } catch (error) {
    return `cannot use the sealing key: ${error instanceof Error ? error.message : error}`;
  }
}

/** What one round of sealing did, and the next period to seal (`next`). */
export interface SealRound {
  sealed: number;
  /** When the key file's next period will be due (ms); rounds before then need not look. */
  nextDueAt: number;
}

/** Seals every period that is over by `nowMs` and moves the key file past them. */
export async function sealDue(
  history: StoreHistory,
  config: SealConfig,
  nowMs: number,
): Promise<SealRound> {
  let file = await readKeyFile(config.keyFile);
  const dueAt = (f: KeyFile) => f.from + config.everyMs + SETTLE_MS;
  const due = duePeriods(file, config.everyMs, nowMs, SETTLE_MS);
  if (due === 0) return { sealed: 0, nextDueAt: dueAt(file) };
  const all = await history.sealedHeads(file.keyId);
  let sealed = 0;
  for (let i = 0; i < due; i++) {
    const until = file.from + config.everyMs;
    const moved = await history.headsBefore(until, all);
    Object.assign(all, moved);
    const seal = makeSeal(file, config.everyMs, moved, Date.now());
    // False: another process sealing with the same key file got there first.
    if (await history.putSeal(seal, all)) sealed++;
    file = advance(file, file.n + 1, config.everyMs);
    await writeKeyFile(config.keyFile, file);
  }
  return { sealed, nextDueAt: dueAt(file) };
}

/** A running sealer: `stop` seals what is due and waits for any round under way. */
export interface Sealer {
  stop(): Promise<void>;
}

/**
 * Seals now and then every period; a failure is told to `report` and tried again at the
 * next tick (nothing is lost: the periods stay due).
 */
export function startSealing(
  history: StoreHistory,
  config: SealConfig,
  report: (error: unknown) => void,
  tickMs = Math.min(config.everyMs / 4, 60_000),
): Sealer {
  let running: Promise<void> = Promise.resolve();
  // Ticks before the next period is due touch neither the key file nor the store.
  let nextDueAt = 0;
  const round = (always: boolean) => {
    if (!always && Date.now() < nextDueAt) return running;
    running = running.then(() =>
      sealDue(history, config, Date.now()).then((r) => {
        nextDueAt = r.nextDueAt;
      }, report)
    );
    return running;
  };
  void round(true);
  const timer = setInterval(() => void round(false), tickMs);
  return {
    async stop() {
      clearInterval(timer);
      await round(true);
    },
  };
}
