/**
 * `forward` inside the Worker: opens the local store's outbox and the target, runs the
 * forwarder until it is told to stop (or, with `--once`, until the outbox is empty), and
 * answers `forward --status`.
 */
import { formatDuration, formatLocal } from "../cli/format.ts";
import type { ForwardCommand } from "../cli/forward_args.ts";
import { getLog, setupLogging, shutdownLogging } from "../log.ts";
import { DeadlineKv } from "../store/kv/deadline.ts";
import { openKvStore } from "../store/kv/open.ts";
import { type ForwardState, KvOutbox } from "../store/kv/outbox.ts";
import { type KvLocation, locationName } from "../store/location.ts";
import { openStore } from "../store/open.ts";
import { sealingProblem, startSealing } from "../serve/sealing.ts";
import { HistoryOutbox } from "./history.ts";
import type { ServeConfig } from "../config.ts";
import { forward } from "./forwarder.ts";
import { collectorTarget, type ForwardTarget, storeTarget } from "./target.ts";

/** How a run ended, for the outer process: exit status and a line for stderr. */
export interface RunOutcome {
  code: number;
  error?: string;
}

export interface ForwardRun {
  command: ForwardCommand;
  config: ServeConfig;
  token: string | null;
  dbCa: string | null;
  /** Resolves when the operator asks to stop. */
  stopped: Promise<void>;
  write: (line: string) => Promise<void>;
}

/** Runs `forward` or `forward --status` on the local store `run.config.db`. */
export async function runForward(run: ForwardRun): Promise<RunOutcome> {
  const location = run.config.db as KvLocation;
  const status = run.command.mode === "status";
  const opened = await openKvStore(location, { readOnly: status });
  const remote = location.kind === "kv-connect";
  const outbox = new KvOutbox(remote ? new DeadlineKv(opened.kv) : opened.kv, remote);
  try {
    if (run.command.mode === "status") {
      const waiting = await outbox.waiting();
      const state = await outbox.state();
      for (const line of statusLines(state, waiting, Date.now(), run.command.json)) {
        await run.write(line);
      }
      return { code: 0 };
    }
    const { target: spec, once, batch } = run.command;
    await setupLogging({ level: run.config.logLevel, file: null });
    const log = getLog("forward");
    const seal = run.config.seal;
    if (seal) {
      const problem = await sealingProblem(opened.store, seal);
      if (problem) return { code: 1, error: problem };
    }
    let target: ForwardTarget;
    if (spec.kind === "collector") target = collectorTarget(spec.url, run.token);
    else {
      const store = await openStore(spec.location, {
        password: run.config.dbPassword,
        ca: run.dbCa,
      }).catch((error) => {
        throw new Error(`cannot open store ${locationName(spec.location)}: ${reasonOf(error)}`);
      });
      target = storeTarget(locationName(spec.location), store);
    }
    // The forwarder seals its store's history as a server does (SPEC 10).
    const sealer = seal
      ? startSealing(
        opened.kvStore.history(),
        seal,
        (error) => log.error(`Sealing failed, will try again: ${reasonOf(error)}`),
      )
      : null;
    try {
      log.info(`Forwarding ${locationName(location)} to ${target.name}`);
      const result = await forward({
        outbox,
        history: new HistoryOutbox(remote ? new DeadlineKv(opened.kv) : opened.kv),
        target,
        batch,
        once,
        stopped: run.stopped,
        log: { info: (l) => log.info(l), warning: (l) => log.warning(l) },
      });
      if (result.failed) {
        const waiting = await outbox.waiting();
        return {
          code: 1,
          error: `cannot forward: ${result.failed} (${
            plural(waiting.sessions, "session")
          } waiting, nothing is lost)`,
        };
      }
      if (once) log.info(`Forwarded ${plural(result.delivered, "session")} to ${target.name}`);
      return { code: 0 };
    } finally {
      await sealer?.stop();
      await target.close();
      await shutdownLogging();
    }
  } finally {
    await opened.store.close();
  }
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `forward --status`: what waits, how old the oldest change is, and how the last run went. */
export function statusLines(
  state: ForwardState | null,
  waiting: { sessions: number; oldestAt: number | null },
  nowMs: number,
  json: boolean,
): string[] {
  const age = waiting.oldestAt === null ? null : Math.max(0, (nowMs - waiting.oldestAt) / 1000);
  const iso = (ms: number | null) => ms === null ? null : new Date(ms).toISOString();
  if (json) {
    return [JSON.stringify({
      waiting_sessions: waiting.sessions,
      oldest_waiting_at: iso(waiting.oldestAt),
      oldest_waiting_age_seconds: age,
      target: state?.target ?? null,
      delivered: state?.delivered ?? 0,
      last_delivery_at: iso(state?.lastDeliveryAt ?? null),
      last_attempt_at: iso(state?.lastAttemptAt ?? null),
      last_error: state?.lastError ?? null,
    })];
  }
  const rows: [string, string][] = [
    ["waiting", plural(waiting.sessions, "session")],
    [
      "oldest",
      age === null ? "-" : `${formatDuration(age)} ago (${formatLocal(iso(waiting.oldestAt))})`,
    ],
    ["target", state?.target ?? "- (never forwarded)"],
    ["delivered", plural(state?.delivered ?? 0, "record")],
    ["last delivery", formatLocal(iso(state?.lastDeliveryAt ?? null))],
    ["last error", state?.lastError ?? "-"],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`);
}
