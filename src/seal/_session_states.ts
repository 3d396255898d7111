/**
 * What the chains say of every session: the state its latest entries leave it in, and the
 * edited entries whose fields are named once its record is read.
 */
import type { Problems } from "./_problems.ts";
import type { Problem } from "./verify.ts";

/** Fields of this many edited entries are named; the rest are reported without. */
const MAX_DEFERRED = 1000;

/** A state a session may be in after its latest entries (ties keep several). */
export type Candidate =
  | { removed: false; w: string; s: number; digest: string; lastSeen: unknown }
  | { removed: true; w: string; s: number };

/** A session's latest entries: when, the states they leave it in, and if its record was read. */
export interface SessionState {
  at: number;
  cands: Candidate[];
  seen: boolean;
}

/** A problem with an edited entry, waiting for its session's record to name the fields. */
export interface Deferred {
  problem: Problem;
  r: unknown;
}

/** Every session's latest states, and the problems deferred until its record is read. */
export class SessionStates {
  readonly sessions = new Map<string, SessionState>();
  readonly deferred = new Map<string, Deferred[]>();
  readonly #problems: Problems;
  #deferredCount = 0;

  constructor(problems: Problems) {
    this.#problems = problems;
  }

  /** Session `id` is in state `cand` as of `at` (a later time replaces, the same adds). */
  set(id: string, at: number, cand: Candidate): void {
    const state = this.sessions.get(id);
    if (state === undefined) this.sessions.set(id, { at, cands: [cand], seen: false });
    else if (at > state.at) {
      state.at = at;
      state.cands = [cand];
    } else if (at === state.at) state.cands.push(cand);
  }

  /** Holds an edited entry's problem until the record of session `id` is read. */
  defer(id: string, problem: Problem, r: unknown): void {
    if (id === "" || r === undefined || this.#deferredCount >= MAX_DEFERRED) {
      this.#problems.add(problem);
      return;
    }
    this.#deferredCount += 1;
    const list = this.deferred.get(id) ?? [];
    list.push({ problem, r });
    this.deferred.set(id, list);
  }
}
