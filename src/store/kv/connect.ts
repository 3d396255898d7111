/**
 * KV Connect stores (SPEC 8.4): `SESSION_BUDDY_DB=https://...` names a Deno KV database
 * on the other side of a network (Deno Deploy KV, or a self-hosted denokv), opened with
 * `Deno.openKv(url)` and the access token in `DENO_KV_ACCESS_TOKEN`. Here: reading the
 * URL, showing it without credentials, and the metadata exchange that says which hosts
 * the data lives on (the serving Worker is granted exactly those).
 */

/** The one environment variable Deno's KV client reads for the token. */
export const TOKEN_VARIABLE = "DENO_KV_ACCESS_TOKEN";

/** Whether a store location is a KV Connect URL. */
export function isKvConnectUrl(location: string): boolean {
  return /^https?:\/\//i.test(location);
}

function loopback(hostname: string): boolean {
  const h = hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\./.test(h);
}

/** `host:port` as Deno's net permission writes it. */
function netOf(url: URL): string {
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return `${url.hostname}:${port}`;
}

/**
 * Reads a KV Connect URL; throws a `TypeError` naming what is wrong. Plain `http://` is
 * only for a loopback host (a denokv beside the server): a token must not cross a network
 * in the clear.
 */
export function parseKvConnectUrl(location: string): { url: string; net: string } {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new TypeError("not a KV Connect URL: use https://HOST/PATH");
  }
  if (url.username || url.password) {
    throw new TypeError(
      `a KV Connect URL takes no user or password: the token goes in ${TOKEN_VARIABLE}`,
    );
  }
  if (url.protocol === "http:" && !loopback(url.hostname)) {
    throw new TypeError(
      "plain http:// is only for a loopback host: use https:// for a KV Connect store",
    );
  }
  return { url: url.href, net: netOf(url) };
}

/** The URL as it may be shown: scheme, host and path, never a query or a fragment. */
export function describeKvConnect(location: string): string {
  try {
    const url = new URL(location);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return "(a KV Connect URL that cannot be read)";
  }
}

/**
 * The metadata exchange of KV Connect: which hosts (`host:port`) the data endpoints are
 * on. Reasons never quote the token.
 */
export async function dataHosts(
  location: { url: string; net: string },
  token: string | undefined,
  fetcher: typeof fetch = fetch,
): Promise<{ ok: true; hosts: string[] } | { ok: false; reason: string }> {
  if (!token) {
    return {
      ok: false,
      reason: `${TOKEN_VARIABLE} is not set: a KV Connect store needs its access token`,
    };
  }
  // Read once already (src/store/location.ts); the normal form is what fetch's errors quote.
  const { net } = location;
  const url = new URL(location.url).href;
  let response: Response;
  try {
    response = await fetcher(url, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ supportedVersions: [1, 2, 3] }),
      signal: AbortSignal.timeout(5000),
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === "TimeoutError") {
      return { ok: false, reason: `${net} did not answer within 5 s` };
    }
    const reason = (error instanceof Error ? error.message.split("\n")[0]! : String(error))
      .replaceAll(url, describeKvConnect(url));
    return { ok: false, reason: `cannot reach ${net}: ${reason}` };
  }
  if (response.status === 401 || response.status === 403) {
    await response.body?.cancel();
    return {
      ok: false,
      reason: `the KV Connect server refused the access token (${response.status})`,
    };
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    return {
      ok: false,
      reason: `the KV Connect server answered ${response.status} to the metadata exchange`,
    };
  }
  let endpoints: unknown;
  try {
    endpoints = (await response.json()).endpoints;
  } catch {
    return { ok: false, reason: "the KV Connect server's metadata is not JSON" };
  }
  if (!Array.isArray(endpoints) || endpoints.length === 0) {
    return { ok: false, reason: "the KV Connect server's metadata names no data endpoint" };
  }
  const hosts = new Set([net]);
  for (const endpoint of endpoints) {
    try {
      hosts.add(netOf(new URL(String((endpoint as { url?: unknown }).url), url)));
    } catch {
      return {
        ok: false,
        reason: "the KV Connect server's metadata names an endpoint that is no URL",
      };
    }
  }
  return { ok: true, hosts: [...hosts] };
}
