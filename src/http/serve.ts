/**
 * Serving the HTTP edge with `Deno.serve`: on exactly the configured address (the Worker's
 * net permission names it, and `DENO_SERVE_ADDRESS` could otherwise move the listener
 * silently), over TLS when a certificate is given, listening again when the listener
 * stops under it, and stopped gracefully.
 */
import { hostPort } from "../net.ts";
import { withDeadline } from "../deadline.ts";
import { createHandler, type HttpDeps } from "./handler.ts";

/** How long a stop waits for requests in progress. */
export const SHUTDOWN_LIMIT_MS = 10_000;
/** How long to wait before listening again after the listener stopped. */
export const RELISTEN_DELAY_MS = 1000;

/** A running listener. */
export interface HttpServer {
  /** `http://host:port` or `https://host:port`. */
  origin: string;
  /** Stops accepting, answers what is in progress (at most 10 s), and resolves. */
  shutdown(): Promise<void>;
}

/** Where to listen, and the PEM texts for HTTPS (null for plain HTTP). */
export interface Listen {
  host: string;
  port: number;
  tls: { cert: string; key: string } | null;
}

function firstLine(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0]! : String(error);
}

/**
 * Starts listening; throws, with one line, when the address cannot be had.
 *
 * `Deno.serve` stops accepting for good when accepting fails, as it does when the process
 * runs out of file descriptors (many connections held open, for instance); the
 * connections it holds are still answered. The listener is then started again every
 * {@linkcode RELISTEN_DELAY_MS} until it listens, so the collector recovers by itself once
 * descriptors are free.
 */
export function startHttp(listen: Listen, deps: HttpDeps): HttpServer {
  const address = hostPort(listen.host, listen.port);
  const handler = createHandler(deps);
  let stopping = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const bind = (): Deno.HttpServer<Deno.NetAddr> => {
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        hostname: listen.host,
        port: listen.port,
        ...(listen.tls ?? {}),
        // Deno prints "Listening on ..." to stderr unless told otherwise.
        onListen: () => {},
        onError: (error) => {
          deps.log.error(`HTTP request failed: ${firstLine(error)}`);
          return new Response("Internal Server Error\n", { status: 500 });
        },
      }, handler.handle);
    } catch (error) {
      let reason = firstLine(error);
      const asked = /access to "([^"]+)"/.exec(reason)?.[1];
      if (error instanceof Deno.errors.NotCapable && asked !== address) {
        // The Worker may listen only where it was told; the runtime was asked for elsewhere.
        reason = `the runtime was asked to listen on ${
          asked ?? "another address"
        } instead (is DENO_SERVE_ADDRESS set?)`;
      }
      throw new Error(`cannot listen on ${address}: ${reason}`);
    }
    const actual = server.addr;
    // A name (localhost) resolves to an address; an address given must be the one bound.
    const literal = /^[\d.]+$|:/.test(listen.host);
    if (actual.port !== listen.port || (literal && actual.hostname !== listen.host)) {
      void server.shutdown();
      throw new Error(
        `listening on ${
          hostPort(actual.hostname, actual.port)
        }, not ${address} as configured (is DENO_SERVE_ADDRESS set?)`,
      );
    }
    server.finished.catch((error) => {
      if (stopping) return;
      deps.log.error(
        `HTTP listener on ${address} stopped: ${firstLine(error)}; listening again in ${
          RELISTEN_DELAY_MS / 1000
        } s`,
      );
      relisten(false);
    });
    return server;
  };

  const relisten = (retrying: boolean): void => {
    timer = setTimeout(() => {
      timer = undefined;
      if (stopping) return;
      try {
        current = bind();
        deps.log.warning(`HTTP listener on ${address} is listening again`);
      } catch (error) {
        // Said once per outage; the attempts go on quietly.
        if (!retrying) deps.log.error(`${firstLine(error)}; trying again`);
        relisten(true);
      }
    }, RELISTEN_DELAY_MS);
  };

  let current: Deno.HttpServer<Deno.NetAddr> = bind();
  return {
    origin: `${listen.tls ? "https" : "http"}://${address}`,
    async shutdown() {
      const began = Date.now();
      await handler.drain(SHUTDOWN_LIMIT_MS);
      stopping = true;
      clearTimeout(timer);
      // What is still in progress after the limit is given up on, as is a failed shutdown.
      await withDeadline(
        current.shutdown(),
        Math.max(0, SHUTDOWN_LIMIT_MS - (Date.now() - began)),
        () => new Error("the listener did not stop in time"),
      ).catch(() => {});
    },
  };
}
