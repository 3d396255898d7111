/** Test helpers: realistic session records and an in-memory HistorySource. */
import type { SessionRecord } from "../../../src/sessions/session.ts";
import { Chain, type Entry, type EntryBody, stubOf } from "../../../src/seal/entry.ts";
import { advance, type KeyFile } from "../../../src/seal/key_file.ts";
import { keyIdOf } from "../../../src/seal/keys.ts";
import { headBefore, makeSeal, type Seal } from "../../../src/seal/seal.ts";
import type { HistorySource } from "../../../src/seal/verify.ts";

/** A realistic session record for `id`; `overrides` replace top-level fields. */
export function record(id: string, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    session_id: id,
    event_version: "1.0",
    event_id: "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
    event_type: "session_start",
    component_name: "web",
    shell_type: "MahavishnuShell",
    timestamp: "2026-12-07T10:15:00Z",
    pid: 12345,
    user: { username: "john", home: "/home/john" },
    hostname: "server01",
    environment: { python_version: "3.13.0", platform: "Linux", cwd: "/srv/web" },
    metadata: null,
    status: "active",
    started_at: "2026-12-07T10:15:00.000Z",
    ended_at: null,
    duration_seconds: null,
    end_metadata: null,
    end_source: null,
    last_seen_at: "2026-12-07T10:15:00.000Z",
    tracked_by: null,
    ...overrides,
  } as SessionRecord;
}

/** The start of the test key's period 0. */
export const T0 = Date.UTC(2026, 11, 7, 10, 0, 0);
/** A one-minute period. */
export const PERIOD = 60_000;
/** The test sealing key. */
export const K0 = "5a".repeat(32);
/** Its id. */
export const KEY_ID = keyIdOf(K0);

/** A store in memory, written through real chains and seals; tests then tamper with it. */
export class MemoryHistory {
  /** Stored values per writer, by seq; tests may put anything there. */
  readonly chains = new Map<string, Map<number, unknown>>();
  readonly heads = new Map<string, unknown>();
  seals: unknown[] = [];
  readonly records = new Map<string, SessionRecord>();
  carried: Set<string> | undefined;
  #live = new Map<string, Chain>();
  file: KeyFile = { keyId: KEY_ID, n: 0, from: T0, key: K0 };

  /** Commits bodies for writer w at atMs, updating records and the head marker as a store would. */
  commit(w: string, bodies: EntryBody[], atMs: number): Entry[] {
    const chain = this.#live.get(w) ?? new Chain(w, null);
    this.#live.set(w, chain);
    const drafted = chain.draft(bodies, atMs);
    const stored = this.chains.get(w) ?? new Map<number, unknown>();
    this.chains.set(w, stored);
    for (const e of drafted) {
      stored.set(e.s, structuredClone(e));
      if (e.k === "prune") { for (const id of e.pruned!.ids) this.records.delete(id); }
      else if (e.r !== undefined) this.records.set(e.id, structuredClone(e.r));
    }
    chain.advance(drafted);
    const head = chain.head!;
    this.heads.set(w, { s: head.s, h: head.h });
    return drafted;
  }

  /** Seals the key file's next period with every writer's head before its end. */
  seal(nowMs: number): Seal {
    const until = this.file.from + PERIOD;
    const heads: Seal["heads"] = {};
    for (const [w, stored] of this.chains) {
      const newestFirst = [...stored.values()].reverse() as Entry[];
      const head = headBefore(newestFirst, until);
      if (head !== null) heads[w] = head;
    }
    const seal = makeSeal(this.file, PERIOD, heads, nowMs);
    this.seals.push(seal);
    this.file = advance(this.file, this.file.n + 1, PERIOD);
    return seal;
  }

  /** Prunes sessions for writer w at atMs: a prune entry, and every entry of theirs stubbed. */
  prune(w: string, ids: string[], atMs: number): Entry {
    const [e] = this.commit(w, [{ k: "prune", id: "", pruned: { before: "cut", ids } }], atMs);
    for (const stored of this.chains.values()) {
      for (const [s, value] of stored) {
        const v = value as Entry;
        if (ids.includes(v.id) && v.k !== "prune") stored.set(s, stubOf(v));
      }
    }
    return e!;
  }

  /** The stored entry w#s, typed for tampering. */
  entry(w: string, s: number): Entry {
    return this.chains.get(w)!.get(s) as Entry;
  }

  /** This store as the verifier reads it. */
  source(): HistorySource {
    // deno-lint-ignore no-this-alias
    const self = this;
    return {
      async *chains() {
        for (const [w, stored] of self.chains) {
          const keys = [...stored.keys()].sort((a, b) => a - b);
          yield {
            writer: w,
            entries: (async function* () {
              for (const s of keys) yield { key: { w, s }, value: stored.get(s) };
            })(),
          };
        }
      },
      heads: () => Promise.resolve(new Map(self.heads)),
      async *seals() {
        yield* self.seals;
      },
      async *records() {
        yield* self.records.values();
      },
      entry: (w, s) => Promise.resolve(self.chains.get(w)?.get(s) ?? null),
      carried: self.carried,
    };
  }
}

/** Writer ids of the standard history. */
export const W1 = "w00000000000000a1";
export const W2 = "w00000000000000b2";
export const W3 = "w00000000000000c3";

/**
 * A clean history: 3 writers over 5 sealed periods (0-4), each starting a session every
 * period and ending the one before; a prune in period 3 of a session ended in period 1;
 * heartbeats moved some records' last_seen_at on; 3 entries in the current period, unsealed.
 * `beforeSeal` may commit more just before period n is sealed.
 */
export function standardHistory(
  beforeSeal: (h: MemoryHistory, n: number) => void = () => {},
): MemoryHistory {
  const h = new MemoryHistory();
  const writers = [W1, W2, W3];
  for (let n = 0; n < 5; n++) {
    const base = T0 + n * PERIOD;
    writers.forEach((w, i) => {
      const id = `web-2026120${n}-10000${i}`;
      const at = base + 10_000 + i * 1000;
      const started = record(id, {
        hostname: `host-${i}`,
        started_at: new Date(at).toISOString(),
        last_seen_at: new Date(at).toISOString(),
      });
      const bodies: EntryBody[] = [{ k: "start", id, r: started }];
      if (n > 0) {
        const prevId = `web-2026120${n - 1}-10000${i}`;
        const prev = h.records.get(prevId)!;
        const ended = {
          ...prev,
          status: "ended" as const,
          ended_at: new Date(at).toISOString(),
          duration_seconds: 60,
          end_source: "client" as const,
          last_seen_at: new Date(at).toISOString(),
        };
        bodies.push({ k: "end", id: prevId, r: ended });
      }
      h.commit(w, bodies, at);
    });
    if (n === 3) h.prune(W2, ["web-20261201-100000"], base + 30_000);
    beforeSeal(h, n);
    h.seal(base + PERIOD + 2000);
  }
  // A heartbeat after the entries: the record's last_seen_at moves on, no entry.
  const hb = h.records.get("web-20261204-100001")!;
  hb.last_seen_at = new Date(T0 + 5 * PERIOD + 1).toISOString();
  const now = T0 + 5 * PERIOD + 5000;
  h.commit(W1, [{ k: "start", id: "web-20261205-100000", r: record("web-20261205-100000") }], now);
  h.commit(W3, [{ k: "start", id: "web-20261205-100002", r: record("web-20261205-100002") }], now);
  h.commit(W3, [{
    k: "end",
    id: "web-20261205-100002",
    r: record("web-20261205-100002", { status: "ended", ended_at: "2026-12-07T10:05:06Z" }),
  }], now + 1);
  return h;
}

/** The time the standard history is verified at. */
export const NOW = T0 + 5 * PERIOD + 10_000;
