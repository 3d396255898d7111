/**
 * Where `forward` delivers: a collector's `/mcp` endpoint (its `import_sessions` tool, in
 * the 2026-07-28 revision's stateless form), or a store opened here. Either applies the
 * import rules of SPEC 8.3 to each record and answers what it did with it.
 */
import { CLIENT_CAPABILITIES_KEY, PROTOCOL_VERSION_KEY } from "../mcp/revisions.ts";
import type { SessionRecord } from "../sessions/session.ts";
import type { CarriedHistory, ImportOutcome, SessionStore } from "../store/port.ts";

/** A fleet store or collector that takes records. */
export interface ForwardTarget {
  /** How the operator named it, never with a credential. */
  readonly name: string;
  /** Delivers `records`; throws {@linkcode TargetError} when they may not have arrived. */
  send(records: SessionRecord[]): Promise<ImportOutcome[]>;
  /**
   * Delivers the host's history; throws {@linkcode TargetError} as `send` does, with
   * `unsupported` when the target keeps no forwarded history.
   */
  sendHistory?(history: CarriedHistory): Promise<void>;
  close(): Promise<void>;
}

/** The target could not be reached, refused the records, or answered something else. */
export class TargetError extends Error {
  override name = "TargetError";
  /** Whether trying again later can help (a refused token or a bad batch cannot). */
  readonly transient: boolean;
  /** The target does not take what was sent at all (an older collector, a store without history). */
  readonly unsupported: boolean;
  constructor(message: string, transient = true, unsupported = false) {
    super(message);
    this.transient = transient;
    this.unsupported = unsupported;
  }
}

/** How long one delivery to a collector may take before it counts as failed. */
export const SEND_DEADLINE_MS = 30_000;

/**
 * The most record bytes one request carries. A collector takes request bodies of up to
 * 1 MiB; a record is at most some 50 KiB (its metadata 16 KiB, environment 8 KiB, end
 * metadata 16 KiB), so a batch is split where it would pass this.
 */
export const MAX_REQUEST_RECORD_BYTES = 512 * 1024;

/** Splits `records` into runs of at most {@linkcode MAX_REQUEST_RECORD_BYTES} as JSON. */
export function bySize(
  records: SessionRecord[],
  limit = MAX_REQUEST_RECORD_BYTES,
): SessionRecord[][] {
  const runs: SessionRecord[][] = [];
  let run: SessionRecord[] = [];
  let bytes = 0;
  for (const record of records) {
    const size = JSON.stringify(record).length + 1;
    if (run.length > 0 && bytes + size > limit) {
      runs.push(run);
      run = [];
      bytes = 0;
    }
    run.push(record);
    bytes += size;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/** The collector's tool for forwarded and moved records. */
const TOOL = "import_sessions";
const REVISION = "2026-07-28";

/** The collector's tool for a forwarding host's history (SPEC 10). */
const HISTORY_TOOL = "import_history";

interface ToolStatus {
  status: string;
  error: string | null;
}

interface ToolAnswer extends ToolStatus {
  status: string;
  outcomes: { event_id: string; session_id: string; kind: ImportOutcome["kind"] }[] | null;
  error: string | null;
}

/** A collector's `/mcp` endpoint, called with `token` as the bearer. */
export function collectorTarget(url: string, token: string | null): ForwardTarget {
  let id = 0;
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": REVISION,
    "mcp-method": "tools/call",
    "mcp-name": TOOL,
  };
  if (token) headers.authorization = `Bearer ${token}`;
  const call = async <T extends ToolStatus>(tool: string, args: unknown): Promise<T> => {
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id: ++id,
      method: "tools/call",
      params: {
        name: tool,
        arguments: args,
        _meta: { [PROTOCOL_VERSION_KEY]: REVISION, [CLIENT_CAPABILITIES_KEY]: {} },
      },
    });
    let response: Response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: { ...headers, "mcp-name": tool },
        body,
        signal: AbortSignal.timeout(SEND_DEADLINE_MS),
      });
    } catch (error) {
      throw new TargetError(`cannot reach ${url}: ${reasonOf(error)}`);
    }
    const text = await response.text().catch(() => "");
    const answer = toolAnswer<T>(text);
    if (answer === null) {
      const what = response.ok ? "an answer that is not an MCP result" : `HTTP ${response.status}`;
      // 5xx and 429 are a collector (or a proxy before it) that may answer later.
      const transient = !response.ok &&
        (response.status >= 500 || response.status === 429 || response.status === 408);
      // A collector older than the tool answers that it does not know it.
      const unknown = /unknown tool|not found/i.test(detailOf(text));
      throw new TargetError(`${url} answered ${what}${detailOf(text)}`, transient, unknown);
    }
    if (answer.status !== "imported") {
      const error = answer.error ?? `status ${answer.status}`;
      // A store error at the collector passes; a refused token or batch does not.
      throw new TargetError(`${url}: ${error}`, /store (error|is busy)/.test(error));
    }
    return answer;
  };
  return {
    name: url,
    async send(records) {
      const outcomes: ImportOutcome[] = [];
      for (const run of bySize(records)) {
        const answer = await call<ToolAnswer>(TOOL, { records: run });
        if (!answer.outcomes) throw new TargetError(`${url}: an import answered no outcomes`);
        outcomes.push(...answer.outcomes.map((o) => ({ kind: o.kind, sessionId: o.session_id })));
      }
      return outcomes;
    },
    async sendHistory(history) {
      await call(HISTORY_TOOL, history);
    },
    close: () => Promise.resolve(),
  };
}

/** The tool's structured result in a JSON-RPC answer, or null when there is none. */
function toolAnswer<T extends ToolStatus>(text: string): T | null {
  try {
    const reply = JSON.parse(text);
    const result = reply?.result?.structuredContent;
    if (result && typeof result.status === "string") return result as T;
  } catch { /* not JSON */ }
  return null;
}

/** A JSON-RPC error's message in an answer, to say why a call was refused. */
function detailOf(text: string): string {
  try {
    const message = JSON.parse(text)?.error?.message;
    if (typeof message === "string") return `: ${message.slice(0, 200)}`;
  } catch { /* not JSON */ }
  return "";
}

/** A failure's message, with its cause when the runtime wraps one ("fetch failed"). */
function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === "TimeoutError") return `no answer within ${SEND_DEADLINE_MS / 1000} s`;
  const cause = error.cause instanceof Error ? error.cause.message : null;
  return cause && cause !== error.message ? `${error.message} (${cause})` : error.message;
}

/** A store opened here (`--to-db`): the records imported under the same rules. */
export function storeTarget(name: string, store: SessionStore): ForwardTarget {
  return {
    name,
    async send(records) {
      try {
        return await store.importRecords(records);
      } catch (error) {
        throw new TargetError(`${name}: store error: ${reasonOf(error)}`);
      }
    },
    async sendHistory(history) {
      if (!store.carryHistory) {
        throw new TargetError(`${name} keeps no forwarded history`, false, true);
      }
      try {
        await store.carryHistory(history);
      } catch (error) {
        throw new TargetError(`${name}: store error: ${reasonOf(error)}`);
      }
    },
    close: () => store.close(),
  };
}
