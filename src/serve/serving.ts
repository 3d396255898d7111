/**
 * What the serving Worker does: open the store and the log, then speak MCP on
 * stdin/stdout, or run one operator command. It runs with read/write on its store folder
 * and log file only (see `permissions.ts`); `worker.ts` loads it.
 */
/// <reference lib="deno.worker" />
import { acceptAll, type Verifier } from "../auth/verifier.ts";
import { isLoopback } from "../net.ts";
import { Metrics } from "../metrics.ts";
import { flushStderr, getLog, setupLogging, shutdownLogging } from "../log.ts";
import { createServer } from "../mcp/server.ts";
import { LineTransport } from "../mcp/stdio.ts";
import { locationName } from "../store/location.ts";
import { openStore } from "../store/open.ts";
import type { SessionStore } from "../store/port.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";
import type { Sealer } from "./sealing.ts";

function post(message: FromWorker): void {
  // The outer process may end this Worker as soon as it hears of a stop or a failure.
  if (message.type !== "ready") flushStderr();
  self.postMessage(message);
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

let stop: (() => Promise<void>) | null = null;

/** The token check; jose is loaded only when there is a secret to check against. */
async function verifierFor(secret: string | null): Promise<Verifier> {
  if (!secret) return acceptAll;
  const { createVerifier } = await import("../auth/verify.ts");
  return createVerifier(secret);
}

/** Runs one operator command on the store and reports its exit status. */
async function command(message: Extract<ToWorker, { type: "command" }>): Promise<void> {
  const { config } = message;
  // Only reap, import and prune write; the other commands never create or change a store.
  const readOnly = !["reap", "import", "prune"].includes(message.command.name);
  // An export verifies offline: no store is opened for it.
  const offline = message.command.name === "verify" && message.command.file !== null;
  let opened: SessionStore;
  try {
    opened = await openStore(offline ? { kind: "memory" } : config.db, {
      readOnly,
      password: config.dbPassword,
      ca: message.dbCa,
    });
  } catch (error) {
    post({
      type: "fatal",
      message: `cannot open store ${locationName(config.db)}: ${reasonOf(error)}`,
    });
    return;
  }
  let interrupt!: () => void;
  const stopped = new Promise<void>((resolve) => interrupt = resolve);
  stop = () => Promise.resolve(interrupt());
  const encoder = new TextEncoder();
  const writer = Deno.stdout.writable.getWriter();
  // Operator commands are loaded on demand so that serving never pays for them.
  const { runStoreCommand } = await import("../cli/commands.ts");
  try {
    const outcome = await runStoreCommand(message.command, {
      store: opened,
      write: (line) => writer.write(encoder.encode(line + "\n")),
      now: () => new Date(),
      staleAfterMs: config.staleAfterMs,
      json: message.json,
      colour: message.colour,
      stopped,
      warn: (line) => Deno.stderr.write(encoder.encode(`session-buddy: ${line}\n`)).then(() => {}),
      readInput: () => {
        const command = message.command;
        if ((command.name === "import" || command.name === "verify") && command.file) {
          return Deno.readTextFile(command.file);
        }
        return new Response(Deno.stdin.readable).text();
      },
    });
    await writer.close();
    post({ type: "stopped", code: outcome.code, error: outcome.error });
  } catch (error) {
    // A reader that stops early (`| head`) is not a failure of the command.
    if (error instanceof Deno.errors.BrokenPipe) post({ type: "stopped", code: 0 });
    else post({ type: "fatal", message: reasonOf(error) });
  } finally {
    await opened.close();
  }
}

async function serve(message: Extract<ToWorker, { type: "start" }>): Promise<void> {
  const { config, version } = message;
  try {
    await setupLogging({ level: config.logLevel, file: config.logFile });
  } catch (error) {
    post({ type: "fatal", message: `cannot open log file ${config.logFile}: ${reasonOf(error)}` });
    return;
  }
  const log = getLog("server");
  let opened: SessionStore;
  try {
    opened = await openStore(config.db, {
      password: config.dbPassword,
      ca: message.dbCa,
      onIndexError: (error) =>
        log.warning(
          `Writing index keys failed, will retry (sessions stay listed): ${reasonOf(error)}`,
        ),
    });
  } catch (error) {
    await shutdownLogging();
    post({
      type: "fatal",
      message: `cannot open store ${locationName(config.db)}: ${reasonOf(error)}`,
    });
    return;
  }
  let sealer: Sealer | null = null;
  if (config.seal) {
    // Loaded only when sealing is asked for: serving without it does not pay for it.
    const { sealingProblem, startSealing } = await import("./sealing.ts");
    const problem = await sealingProblem(opened, config.seal);
    if (problem) {
      await opened.close();
      await shutdownLogging();
      post({ type: "fatal", message: problem });
      return;
    }
    sealer = startSealing(
      opened.history!(),
      config.seal,
      (error) => log.error(`Sealing failed, will try again: ${reasonOf(error)}`),
    );
  }
  // Said once serving has begun: a start that fails is one line (SPEC 2).
  const warnOpen = () => {
    if (config.secret) return;
    log.warning(
      "SESSION_BUDDY_SECRET is not set: authentication is off and every token is accepted",
    );
  };
  const verify = await verifierFor(config.secret);
  const metrics = config.http ? new Metrics() : undefined;
  const deps = {
    store: opened,
    verify,
    log,
    now: () => new Date(),
    staleAfterMs: config.staleAfterMs,
    authRequired: config.secret !== null,
    version,
    metrics,
  };
  const server = createServer(deps);
  let stopping: Promise<void> | null = null;
  const closeAll = async (before: () => Promise<void>) => {
    await before();
    // Periods over by now are sealed before the store is let go.
    await sealer?.stop();
    await opened.close();
    log.debug("Server stopped");
    await shutdownLogging();
    post({ type: "stopped" });
  };
  if (config.http && metrics) {
    // Loaded only when HTTP is asked for: stdio start-up does not pay for it.
    const { startHttp } = await import("../http/serve.ts");
    opened.observe({
      commit: (seconds) => metrics.storeCommit(seconds),
      retry: () => metrics.storeRetry(),
    });
    let http;
    try {
      http = startHttp({ host: config.http.host, port: config.http.port, tls: message.tls }, {
        ...deps,
        rpc: server,
        metrics,
        guard: {
          loopback: isLoopback(config.http.host),
          allowedOrigins: config.http.allowedOrigins,
          allowedHosts: config.http.allowedHosts,
        },
        startSeconds: performance.timeOrigin / 1000,
        rssBytes: () => Deno.memoryUsage().rss,
      });
    } catch (error) {
      await sealer?.stop();
      await opened.close();
      await shutdownLogging();
      post({ type: "fatal", message: reasonOf(error) });
      return;
    }
    const listening = http;
    stop = () => stopping ??= closeAll(() => listening.shutdown());
    warnOpen();
    log.info(
      `session-buddy ${version} serving MCP on ${listening.origin}/mcp; store ${
        locationName(config.db)
      }`,
    );
    post({ type: "ready" });
    return;
  }
  stop = () => stopping ??= closeAll(() => server.close());
  server.onclose = () => void stop?.();
  await server.connect(
    new LineTransport({
      read: (buffer) => Deno.stdin.read(buffer),
      write: (bytes) => Deno.stdout.write(bytes),
    }),
  );
  warnOpen();
  log.info(`session-buddy ${version} serving MCP on stdio; store ${locationName(config.db)}`);
  post({ type: "ready" });
}

/** Runs `forward` (or `forward --status`) and reports its exit status. */
async function forwarding(message: Extract<ToWorker, { type: "forward" }>): Promise<void> {
  let interrupt!: () => void;
  const stopped = new Promise<void>((resolve) => interrupt = resolve);
  stop = () => Promise.resolve(interrupt());
  const encoder = new TextEncoder();
  // Loaded on demand so that serving never pays for it.
  const { runForward } = await import("../forward/run.ts");
  const outcome = await runForward({
    ...message,
    stopped,
    write: (line) => Deno.stdout.write(encoder.encode(line + "\n")).then(() => {}),
  });
  post({ type: "stopped", code: outcome.code, error: outcome.error });
}

/** Handles one message from the outer process. */
export function receive(message: ToWorker): void {
  if (message.type === "start") {
    serve(message).catch((error) => post({ type: "fatal", message: reasonOf(error) }));
  } else if (message.type === "command") {
    command(message).catch((error) => post({ type: "fatal", message: reasonOf(error) }));
  } else if (message.type === "forward") {
    forwarding(message).catch((error) => post({ type: "fatal", message: reasonOf(error) }));
  } else if (message.type === "stop") {
    if (stop) void stop();
    else post({ type: "stopped" });
  }
}
