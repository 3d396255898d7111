/**
 * What `/metrics` reports (SPEC 8.2), kept as plain counters and histograms and written in
 * the Prometheus text exposition format, version 0.0.4. It knows no transport: the tools,
 * the store and the HTTP edge record into it, and the edge renders it at scrape time.
 *
 * Our own writer rather than `prom-client`: that package costs about 55 ms to import here,
 * adds three packages to what a first run downloads, and inside the serving Worker (no
 * read access to /proc) reports `process_resident_memory_bytes` as 0 instead of failing.
 *
 * @example
 * ```ts
 * const metrics = new Metrics();
 * metrics.toolCall("track_session_start", "tracked", 0.0007);
 * const text = metrics.render({ version: "0.1.0", openSessions: [], rssBytes: 1, startSeconds: 0 });
 * ```
 */

/** Upper bounds of the duration histograms, in seconds. */
export const DURATION_BUCKETS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** Open sessions of one component, as counted from the store at scrape time. */
export interface OpenSessions {
  component: string;
  active: number;
  stale: number;
  /** How long the oldest of them has been open, in seconds (0 when none is). */
  oldestSeconds?: number;
}

/** What a scrape reads besides the counters. */
export interface Snapshot {
  version: string;
  openSessions: OpenSessions[];
  rssBytes: number;
  /** When the process started, in seconds since the epoch. */
  startSeconds: number;
  /** What waits for `session-buddy forward` in this store, when it is forwarded from. */
  forward?: { waiting: number; oldestAgeSeconds: number } | null;
}

/** What importing a record can do (`import_sessions`): the label values of its counter. */
export const IMPORT_OUTCOMES = ["written", "renumbered", "updated", "unchanged"] as const;
/** One of {@linkcode IMPORT_OUTCOMES}. */
export type ImportOutcomeKind = (typeof IMPORT_OUTCOMES)[number];

/** Components beyond this many are summed under {@linkcode OTHER_COMPONENTS}. */
export const MAX_COMPONENTS = 100;
/** The label value of the components past {@linkcode MAX_COMPONENTS}. */
export const OTHER_COMPONENTS = "_other";

class Histogram {
  readonly counts = new Array<number>(DURATION_BUCKETS.length).fill(0);
  count = 0;
  sum = 0;

  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    // Buckets are cumulative when written; each observation lands in its first bucket here.
    const i = DURATION_BUCKETS.findIndex((bound) => seconds <= bound);
    if (i >= 0) this.counts[i]!++;
  }
}

/** Escapes a label value as the text format wants: backslash, double quote, line feed. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Writes a sample value: integers as they are, `+Inf`, `-Inf` and `NaN` by name. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function labels(pairs: [string, string][]): string {
  if (pairs.length === 0) return "";
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
}

/** The counters and histograms of one process. */
export class Metrics {
  /** `tool|status` to count. */
  readonly #calls = new Map<string, number>();
  readonly #durations = new Map<string, Histogram>();
  readonly #httpRequests = new Map<number, number>();
  readonly #commits = new Histogram();
  #authFailures = 0;
  #retries = 0;
  #storeErrors = 0;
  readonly #imported: Record<ImportOutcomeKind, number> = {
    written: 0,
    renumbered: 0,
    updated: 0,
    unchanged: 0,
  };

  /** One finished tool call: its tool, the status of its result and how long it took. */
  toolCall(tool: string, status: string, seconds: number): void {
    const key = `${tool}|${status}`;
    this.#calls.set(key, (this.#calls.get(key) ?? 0) + 1);
    let histogram = this.#durations.get(tool);
    if (!histogram) this.#durations.set(tool, histogram = new Histogram());
    histogram.observe(seconds);
  }

  /** A token (argument or bearer header) refused. */
  authFailure(): void {
    this.#authFailures++;
  }

  /** One HTTP response, by status code. */
  httpRequest(code: number): void {
    this.#httpRequests.set(code, (this.#httpRequests.get(code) ?? 0) + 1);
  }

  /** One store commit and how long it took. */
  storeCommit(seconds: number): void {
    this.#commits.observe(seconds);
  }

  /** One store operation tried again (a lock held by another writer, a failed check). */
  storeRetry(): void {
    this.#retries++;
  }

  /** A tool call answered `store error: ...` (the store failed, timed out or was busy). */
  storeError(): void {
    this.#storeErrors++;
  }

  /** One record that `import_sessions` brought into the store, by what it did there. */
  importedRecord(outcome: ImportOutcomeKind): void {
    this.#imported[outcome]++;
  }

  /** The exposition text of every metric, with the store-derived gauges of `snapshot`. */
  render(snapshot: Snapshot): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    family(
      "session_buddy_tool_calls_total",
      "counter",
      "Tool calls answered, by tool and result status.",
    );
    for (const [key, n] of [...this.#calls].sort()) {
      const [tool, status] = key.split("|") as [string, string];
      out.push(
        `session_buddy_tool_calls_total${labels([["tool", tool], ["status", status]])} ${n}`,
      );
    }
    family(
      "session_buddy_tool_call_duration_seconds",
      "histogram",
      "Time from a tool call's arrival to its result, by tool.",
    );
    for (const [tool, h] of [...this.#durations].sort(([a], [b]) => (a < b ? -1 : 1))) {
      writeHistogram(out, "session_buddy_tool_call_duration_seconds", [["tool", tool]], h);
    }
    family(
      "session_buddy_auth_failures_total",
      "counter",
      "Tokens refused (arguments and bearer headers).",
    );
    out.push(`session_buddy_auth_failures_total ${this.#authFailures}`);
    family("session_buddy_http_requests_total", "counter", "HTTP responses, by status code.");
    for (const [code, n] of [...this.#httpRequests].sort(([a], [b]) => a - b)) {
      out.push(`session_buddy_http_requests_total${labels([["code", String(code)]])} ${n}`);
    }
    family(
      "session_buddy_open_sessions",
      "gauge",
      "Sessions not ended, by component and status (active or stale), read from the store.",
    );
    for (const row of capComponents(snapshot.openSessions)) {
      for (const status of ["active", "stale"] as const) {
        const pairs: [string, string][] = [["component", row.component], ["status", status]];
        out.push(`session_buddy_open_sessions${labels(pairs)} ${row[status]}`);
      }
    }
    family(
      "session_buddy_open_session_max_age_seconds",
      "gauge",
      "How long the oldest session not ended has been open, by component, read from the store.",
    );
    for (const row of capComponents(snapshot.openSessions)) {
      out.push(
        `session_buddy_open_session_max_age_seconds${labels([["component", row.component]])} ${
          formatValue(Math.max(0, Math.round(row.oldestSeconds ?? 0)))
        }`,
      );
    }
    if (snapshot.forward) {
      family(
        "session_buddy_forward_waiting_sessions",
        "gauge",
        "Sessions changed since session-buddy forward last delivered them, read from the store.",
      );
      out.push(`session_buddy_forward_waiting_sessions ${snapshot.forward.waiting}`);
      family(
        "session_buddy_forward_oldest_waiting_age_seconds",
        "gauge",
        "Age of the oldest change that waits for session-buddy forward (0 when none waits).",
      );
      out.push(
        `session_buddy_forward_oldest_waiting_age_seconds ${
          formatValue(Math.max(0, Math.round(snapshot.forward.oldestAgeSeconds)))
        }`,
      );
    }
    family(
      "session_buddy_store_commit_duration_seconds",
      "histogram",
      "Store commits, by duration.",
    );
    writeHistogram(out, "session_buddy_store_commit_duration_seconds", [], this.#commits);
    family("session_buddy_store_retries_total", "counter", "Store operations tried again.");
    out.push(`session_buddy_store_retries_total ${this.#retries}`);
    family(
      "session_buddy_store_errors_total",
      "counter",
      "Tool calls that failed because the store did (unavailable, timed out or busy).",
    );
    out.push(`session_buddy_store_errors_total ${this.#storeErrors}`);
    family(
      "session_buddy_imported_records_total",
      "counter",
      "Records import_sessions brought into the store (forwarded ones), by what each did there.",
    );
    // Every outcome from the start, so that a rate over any of them has a series to read.
    for (const outcome of IMPORT_OUTCOMES) {
      out.push(
        `session_buddy_imported_records_total${labels([["outcome", outcome]])} ${
          this.#imported[outcome]
        }`,
      );
    }
    family("session_buddy_build_info", "gauge", "The version of session-buddy serving.");
    out.push(`session_buddy_build_info${labels([["version", snapshot.version]])} 1`);
    family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    out.push(`process_resident_memory_bytes ${formatValue(snapshot.rssBytes)}`);
    family(
      "process_start_time_seconds",
      "gauge",
      "Start time of the process since the epoch, in seconds.",
    );
    out.push(`process_start_time_seconds ${formatValue(snapshot.startSeconds)}`);
    return out.join("\n") + "\n";
  }
}

function writeHistogram(
  out: string[],
  name: string,
  pairs: [string, string][],
  h: Histogram,
): void {
  let cumulative = 0;
  DURATION_BUCKETS.forEach((bound, i) => {
    cumulative += h.counts[i]!;
    out.push(`${name}_bucket${labels([...pairs, ["le", String(bound)]])} ${cumulative}`);
  });
  out.push(`${name}_bucket${labels([...pairs, ["le", "+Inf"]])} ${h.count}`);
  out.push(`${name}_sum${labels(pairs)} ${formatValue(h.sum)}`);
  out.push(`${name}_count${labels(pairs)} ${h.count}`);
}

/**
 * At most {@linkcode MAX_COMPONENTS} label values: component names come from clients, and
 * a label per name would let them grow every scrape without bound. The busiest components
 * keep their own label; the rest are summed.
 */
export function capComponents(rows: OpenSessions[]): OpenSessions[] {
  const sorted = [...rows].sort((a, b) =>
    (b.active + b.stale) - (a.active + a.stale) || (a.component < b.component ? -1 : 1)
  );
  if (sorted.length <= MAX_COMPONENTS) return sorted;
  const kept = sorted.slice(0, MAX_COMPONENTS - 1);
  const rest = sorted.slice(MAX_COMPONENTS - 1).reduce(
    (sum, r) => ({
      ...sum,
      active: sum.active + r.active,
      stale: sum.stale + r.stale,
      oldestSeconds: Math.max(sum.oldestSeconds ?? 0, r.oldestSeconds ?? 0),
    }),
    { component: OTHER_COMPONENTS, active: 0, stale: 0, oldestSeconds: 0 },
  );
  return [...kept, rest];
}
