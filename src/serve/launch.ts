/**
 * The outer process's half of privilege separation: it starts the serving Worker with
 * only the permissions the configuration needs and waits for it to finish.
 */
import type { StoreCommand } from "../cli/grammar.ts";
import type { ServeConfig } from "../config.ts";
import type { ForwardCommand } from "../cli/forward_args.ts";
import { folderOf, type ForwardGrant, forwardGrant, workerPermissions } from "./permissions.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";
import { TOKEN_VARIABLE } from "../store/kv/connect.ts";
import { type KvConnectLocation, locationName } from "../store/location.ts";

/**
 * Runs the server until stdin closes (stdio) or a stop signal arrives; returns the exit
 * status.
 */
export async function launchServer(config: ServeConfig, version: string): Promise<number> {
  if (config.dbIsDefault && config.db.kind === "file") {
    // The default store's folder is ours to create; a configured one must exist.
    Deno.mkdirSync(folderOf(config.db.path), { recursive: true, mode: 0o700 });
  }
  let tls = null;
  if (config.http?.tlsCert && config.http.tlsKey) {
    tls = {
      cert: readPem(config.http.tlsCert, "TLS certificate"),
      key: readPem(config.http.tlsKey, "TLS key"),
    };
  }
  return await runWorker(config, { type: "start", config, version, tls, dbCa: dbCaOf(config) });
}

/** The PEM text of `--db-ca`, read here for the Worker, which has no access to it. */
function dbCaOf(config: ServeConfig): string | null {
  return config.dbCa ? readPem(config.dbCa, "--db-ca certificate") : null;
}

/** Reads a PEM file for the Worker, which has no read access to it. */
function readPem(
  path: string,
  what: "TLS certificate" | "TLS key" | "--db-ca certificate",
): string {
  let text;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    throw new Error(
      `cannot read ${what} ${path}: ${error instanceof Error ? error.message : error}`,
    );
  }
  const label = what === "TLS key"
    ? /-----BEGIN [A-Z ]*PRIVATE KEY-----/
    : /-----BEGIN CERTIFICATE-----/;
  if (!label.test(text)) throw new Error(`${what} ${path} is not in PEM form`);
  return text;
}

/** Runs an operator command in the Worker, which may touch only the store's folder. */
export async function launchCommand(
  config: ServeConfig,
  command: StoreCommand,
  json: boolean,
  colour: boolean,
): Promise<number> {
  const storeOnly = { ...config, logFile: null };
  return await runWorker(storeOnly, {
    type: "command",
    command,
    config: storeOnly,
    json,
    colour,
    dbCa: dbCaOf(config),
  });
}

/**
 * A failure's text as the one line SPEC 2 promises: its first line, and the innermost
 * cause of a runtime error that lists its causes below it (`0: ...`, `1: ...`).
 *
 * @example
 * ```ts
 * oneLine("Failed caching npm package 'x'\n    0: client error (Connect)\n    1: timed out");
 * // "Failed caching npm package 'x' (timed out)"
 * ```
 */
export function oneLine(text: string): string {
  const lines = text.split("\n").map((line) => line.trim()).filter((line) => line !== "");
  const first = lines[0] ?? "";
  const causes = lines.filter((line) => /^\d+: /.test(line));
  const last = causes.at(-1)?.replace(/^\d+: /, "");
  return last && last !== first ? `${first} (${last})` : first;
}

/**
 * The hosts of a KV Connect store, asked of it by a Worker that may reach only the store's
 * own host and read only the token variable. Throws, with one line, when the store
 * refuses the token or cannot be reached.
 */
async function kvConnectHosts(location: KvConnectLocation): Promise<string[]> {
  const { net } = location;
  const probe = new Worker(new URL("./probe.ts", import.meta.url), {
    type: "module",
    name: "session-buddy-kv-connect-probe",
    deno: {
      permissions: {
        net: [net],
        env: [TOKEN_VARIABLE],
        read: false,
        write: false,
        run: false,
        ffi: false,
        sys: false,
        import: false,
      },
    },
  });
  try {
    const answer = await new Promise<{ ok: true; hosts: string[] } | { ok: false; reason: string }>(
      (resolve) => {
        probe.onmessage = (event) => resolve(event.data);
        probe.onerror = (event) => {
          event.preventDefault();
          resolve({ ok: false, reason: oneLine(event.message) });
        };
        probe.postMessage({ location });
      },
    );
    if (!answer.ok) {
      throw new Error(`cannot open store ${locationName(location)}: ${answer.reason}`);
    }
    return answer.hosts;
  } finally {
    probe.terminate();
  }
}

/**
 * Runs `forward` in the Worker, which may touch the local store and reach exactly its
 * target: the collector's address, or the target store's folder, socket or hosts.
 */
export async function launchForward(
  config: ServeConfig,
  command: ForwardCommand,
  token: string | null,
): Promise<number> {
  const storeOnly = { ...config, logFile: null };
  let grant: ForwardGrant | undefined;
  if (command.mode === "send") {
    const target = command.target;
    const remote = target.kind === "store" && target.location.kind === "kv-connect"
      ? await kvConnectHosts(target.location)
      : [];
    grant = forwardGrant(target, remote);
  }
  return await runWorker(storeOnly, {
    type: "forward",
    command,
    config: storeOnly,
    token,
    dbCa: dbCaOf(config),
  }, grant);
}

async function runWorker(
  config: ServeConfig,
  first: ToWorker,
  grant?: ForwardGrant,
): Promise<number> {
  const inputs = first.type === "command" &&
      (first.command.name === "import" || first.command.name === "verify") && first.command.file
    ? [first.command.file]
    : [];
  const remote = config.db.kind === "kv-connect" ? await kvConnectHosts(config.db) : [];
  const worker = new Worker(new URL("./worker.ts", import.meta.url), {
    type: "module",
    name: "session-buddy-server",
    deno: { permissions: workerPermissions(config, inputs, remote, grant) },
  });
  // Network was held only to be handed on; the Worker keeps its exact grant.
  await Deno.permissions.revoke({ name: "net" });
  const send = (message: ToWorker) => worker.postMessage(message);
  const status = await new Promise<number>((resolve) => {
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const message = event.data;
      if (message.type === "fatal") {
        console.error(`session-buddy: ${oneLine(message.message)}`);
        resolve(1);
      } else if (message.type === "stopped") {
        if (message.error) console.error(`session-buddy: ${oneLine(message.error)}`);
        resolve(message.code ?? 0);
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      console.error(`session-buddy: server failed: ${oneLine(event.message)}`);
      resolve(1);
    };
    const stop = () => send({ type: "stop" });
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      try {
        Deno.addSignalListener(signal, stop);
      } catch { /* signals this platform lacks */ }
    }
    send(first);
  });
  worker.terminate();
  return status;
}
