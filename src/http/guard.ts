/**
 * DNS-rebinding protection (SPEC 8.1): which `Host` and `Origin` a request may carry.
 * A page on a hostile site can make a browser send requests to a loopback server through
 * a name that resolves to 127.0.0.1; its `Host` then names the hostile site, and its
 * `Origin` the page. Requests without `Origin` (every non-browser client) pass the origin
 * check.
 */
import { isLoopback } from "../net.ts";

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
