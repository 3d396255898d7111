/**
 * DNS-rebinding protection (SPEC 8.1): which `Host` and `Origin` a request may carry.
 * A page on a hostile site can make a browser send requests to a loopback server through
 * a name that resolves to 127.0.0.1; its `Host` then names the hostile site, and its
 * `Origin` the page. Requests without `Origin` (every non-browser client) pass the origin
 * check.
 */
import { isLoopback } from "../net.ts";
import { text } from "./_response.ts";
import type { Step } from "./compose.ts";

/** How a request's host and origin are judged, for one listener. */
export interface GuardOptions {
  /** Whether the listener's address is a loopback one. */
  loopback: boolean;
  /** Origins allowed besides loopback ones, as `scheme://host[:port]`. */
  allowedOrigins: readonly string[];
  /** Host names allowed besides loopback ones on a loopback listener (a proxy's), lower case. */
  allowedHosts?: readonly string[];
}

const LOOPBACK_NAMES = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

/**
 * Whether a request's host (from its URL, which Deno builds from `Host` or, on HTTP/2,
 * `:authority`) may reach this listener: on a loopback address only loopback names and
 * those given with `--allowed-host` (the name a proxy in front forwards).
 */
export function hostAllowed(hostname: string, options: GuardOptions): boolean {
  if (!options.loopback) return true;
  const name = hostname.toLowerCase();
  return LOOPBACK_NAMES.has(name) || (options.allowedHosts?.includes(name) ?? false);
}

/** Whether an `Origin` is a loopback one (`http://localhost:5173`, `https://127.0.0.1`). */
export function isLoopbackOrigin(origin: string): boolean {
  try {
    const url = new URL(origin);
    return (url.protocol === "http:" || url.protocol === "https:") && isLoopback(url.hostname);
  } catch {
    return false;
  }
}

/**
 * Whether an `Origin` header may call this listener: absent, a listed origin, or (on a
 * loopback address) a loopback origin.
 */
export function originAllowed(origin: string | null, options: GuardOptions): boolean {
  if (origin === null) return true;
  if (options.allowedOrigins.includes(origin)) return true;
  return options.loopback && isLoopbackOrigin(origin);
}

/** Builds the step that answers 403 to a host or origin `options` does not allow. */
export function guard(options: GuardOptions): Step {
  return (exchange, next) => {
    const { request } = exchange;
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      // Deno builds the URL from the Host header; one that is not a host at all is no
      // loopback name either.
      return Promise.resolve(
        options.loopback ? forbidden() : text(400, "Bad Request: the Host header is not a host\n"),
      );
    }
    if (!hostAllowed(url.hostname, options)) return Promise.resolve(forbidden());
    if (!originAllowed(request.headers.get("origin"), options)) return Promise.resolve(forbidden());
    return next(exchange);
  };
}

function forbidden(): Response {
  return text(403, "Forbidden: this host or origin may not call this server\n");
}
