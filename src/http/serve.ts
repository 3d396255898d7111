/**
 * Serving the HTTP edge with `Deno.serve`: on exactly the configured address (the Worker's
 * net permission names it, and `DENO_SERVE_ADDRESS` could otherwise move the listener
 * silently), over TLS when a certificate is given, and stopped gracefully.
 */
import { hostPort } from "../config.ts";
import { createHandler, type HttpDeps } from "./handler.ts";

/** How long a stop waits for requests in progress. */
export const SHUTDOWN_LIMIT_MS = 10_000;

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

/** Starts listening; throws, with one line, when the address cannot be had. */
export function startHttp(listen: Listen, deps: HttpDeps): HttpServer {
  const address = hostPort(listen.host, listen.port);
  const handler = createHandler(deps);
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: listen.host,
      port: listen.port,
      ...(listen.tls ?? {}),
      // Deno prints "Listening on ..." to stderr unless told otherwise.
      onListen: () => {},
      onError: (error) => {
        deps.log.error(`HTTP request failed: ${error instanceof Error ? error.message : error}`);
        return new Response("Internal Server Error\n", { status: 500 });
      },
    }, handler.handle);
  } catch (error) {
    let reason = error instanceof Error ? error.message.split("\n")[0]! : String(error);
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
  return {
    origin: `${listen.tls ? "https" : "http"}://${address}`,
    async shutdown() {
      const began = Date.now();
      await handler.drain(SHUTDOWN_LIMIT_MS);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        server.shutdown(),
        new Promise<void>((resolve) =>
          timer = setTimeout(resolve, Math.max(0, SHUTDOWN_LIMIT_MS - (Date.now() - began)))
        ),
      ]);
      clearTimeout(timer);
    },
  };
}
