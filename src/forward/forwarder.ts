/**
 * `session-buddy forward` (SPEC 8.7): sends the sessions of the local store's outbox to a
 * fleet target in batches, settles each batch's markers once the target has taken it, and
 * keeps its account in the store. An unreachable target is tried again after a pause that
 * doubles up to 30 s; nothing is lost meanwhile, because a marker is deleted only after
 * its record arrived.
 */
import type { KvOutbox, Waiting } from "../store/kv/outbox.ts";
import type { HistoryOutbox } from "./history.ts";
import { type ForwardTarget, TargetError } from "./target.ts";

/** The longest pause between two tries of an unreachable target. */
export const MAX_BACKOFF_MS = 30_000;
/** How often an idle forwarder looks for new changes. */
export const IDLE_POLL_MS = 250;

/** What the forwarder tells its operator (one line each). */
export interface ForwardLog {
  info(line: string): void;
  warning(line: string): void;
}

export interface ForwardOptions {
  outbox: KvOutbox;
  /** The host's history, sent after its records (SPEC 10); none: records only. */
  history?: HistoryOutbox;
  target: ForwardTarget;
  batch: number;
  /** Forward what waits, then return (instead of running until `stopped`). */
  once: boolean;
  /** Resolves when the operator asks the forwarder to stop (SIGTERM, SIGINT). */
  stopped: Promise<void>;
  log: ForwardLog;
  now?: () => number;
  /** The first pause after a failure (it doubles up to {@linkcode MAX_BACKOFF_MS}). */
  firstBackoffMs?: number;
  idlePollMs?: number;
}

/** How a run ended: `failed` names why the target could not take what waits. */
export interface ForwardResult {
  delivered: number;
  failed: string | null;
}

/**
 * Runs the forwarder. With `once` it returns when the outbox is empty, or at the first
 * failure; otherwise when `stopped` resolves (after the batch under way is settled).
 */
export async function forward(o: ForwardOptions): Promise<ForwardResult> {
  const now = o.now ?? Date.now;
  let stopping = false;
  o.stopped.then(() => stopping = true);
  const pause = (ms: number) =>
    Promise.race([o.stopped, new Promise<void>((resolve) => setTimeout(resolve, ms))]);

  let state = await o.outbox.state();
  if (state === null) {
    // A store written before it had an outbox: everything it holds is to be sent.
    const marked = await o.outbox.markAll(now());
    if (marked > 0) {
      o.log.info(
        `First forward of this store: ${marked} sessions recorded before it had an outbox are sent too`,
      );
    }
    state = {
      target: o.target.name,
      delivered: 0,
      lastDeliveryAt: null,
      lastAttemptAt: null,
      lastError: null,
    };
  }
  state.target = o.target.name;
  await o.outbox.saveState(state);

  let delivered = 0;
  let backoff = o.firstBackoffMs ?? 1000;
  let failing = false;
  let history = o.history && o.target.sendHistory ? o.history : undefined;
  while (!stopping) {
    const batch = await o.outbox.next(o.batch);
    // Records first; the history once none waits.
    const carried = batch.length === 0 && history ? await nextHistory(history) : null;
    if (batch.length === 0 && carried === null) {
      if (o.once) break;
      await pause(o.idlePollMs ?? IDLE_POLL_MS);
      continue;
    }
    state.lastAttemptAt = now();
    try {
      if (carried) {
        try {
          await o.target.sendHistory!(carried.history);
        } catch (error) {
          if (!(error instanceof TargetError && error.unsupported)) throw error;
          o.log.warning(`${error.message}: the history is not forwarded, the records are`);
          history = undefined;
          continue;
        }
        await history!.save(carried.position);
        continue;
      }
      await deliver(o.target, batch);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      state.lastError = reason;
      await o.outbox.saveState(state);
      // Running on, every failure is tried again: an operator may mend a token meanwhile.
      if (o.once) return { delivered, failed: reason };
      o.log.warning(
        `Forwarding failed, trying again in ${Math.round(backoff / 1000)} s: ${reason}`,
      );
      failing = true;
      await pause(backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      continue;
    }
    // A session changed while its batch was under way waits for the next one.
    await o.outbox.settle(batch);
    delivered += batch.length;
    state.delivered += batch.length;
    state.lastDeliveryAt = now();
    state.lastError = null;
    await o.outbox.saveState(state);
    if (failing) o.log.info(`Forwarding to ${o.target.name} works again`);
    failing = false;
    backoff = o.firstBackoffMs ?? 1000;
  }
  return { delivered, failed: null };
}

/** What of the host's history waits, from where the last delivery left it. */
async function nextHistory(history: HistoryOutbox) {
  return await history.next(await history.position());
}

/** Sends the records of `batch`; a session whose record is gone has nothing to send. */
async function deliver(target: ForwardTarget, batch: Waiting[]): Promise<void> {
  const records = batch.flatMap((w) => w.record ? [w.record] : []);
  if (records.length === 0) return;
  const outcomes = await target.send(records);
  if (outcomes.length !== records.length) {
    throw new TargetError(
      `${target.name} answered ${outcomes.length} outcomes for ${records.length} records`,
    );
  }
}
