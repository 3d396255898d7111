/**
 * Network names and addresses as the HTTP options write them: the listener, browser
 * origins, proxy host names. Plain data in, plain data out; refusals are usage errors.
 */
import { UsageError } from "./usage_error.ts";

/** Whether a host name or address is this machine's loopback (`127.0.0.0/8`, `::1`, `localhost`). */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** `host:port` as Deno's net permission and URLs write it (IPv6 in brackets). */
export function hostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/**
 * Reads `[HOST:]PORT` (`8080`, `127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:8080`); HOST
 * defaults to `127.0.0.1`.
 */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):)?(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) {
    throw new UsageError(
      `invalid --http '${
        text.slice(0, 64)
      }': use [HOST:]PORT with PORT 1-65535 (8080, 0.0.0.0:8443, [::1]:8080)`,
    );
  }
  return { host: m[1] ?? m[2] ?? "127.0.0.1", port };
}

/** Reads a browser origin (`https://console.example.com`) as the `Origin` header carries it. */
export function parseOrigin(text: string): string {
  let url: URL | null = null;
  try {
    url = new URL(text.trim());
  } catch { /* refused below */ }
  if (
    !url || !["http:", "https:"].includes(url.protocol) || url.pathname !== "/" || url.search ||
    url.hash || url.username
  ) {
    throw new UsageError(
      `invalid --allowed-origin '${
        text.slice(0, 64)
      }': use scheme://host[:port], e.g. https://console.example.com`,
    );
  }
  return url.origin;
}

/**
 * A name for `--allowed-host`: a DNS name or an IP address, as a `Host` header carries it
 * without its port (an IPv6 address in brackets), compared without case.
 */
export function parseAllowedHost(text: string): string {
  const host = text.trim().toLowerCase();
  const name = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/;
  const ipv6 = /^\[[0-9a-f:.]+\]$/;
  if (host.length > 253 || !(name.test(host) || ipv6.test(host))) {
    throw new UsageError(
      `invalid --allowed-host '${
        text.slice(0, 64)
      }': give a host name as a proxy sends it in Host (collector.example.com; no scheme, port or path)`,
    );
  }
  return host.replace(/\.$/, "");
}
