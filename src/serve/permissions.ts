/**
 * The Worker's permissions, derived from the configuration: read and write on the store's
 * folder, on the log file and on the sealing key file (and the file that replaces it), net on exactly the HTTP listener's address when there is
 * one, and nothing else.
 */
import type { ServeConfig } from "../config.ts";
import { hostPort } from "../net.ts";
import { TOKEN_VARIABLE } from "../store/kv/connect.ts";
import { netAddress } from "../store/postgres/url.ts";

/** The folder holding a file path (paths are absolute once configuration is parsed). */
export function folderOf(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut <= 0 ? "/" : path.slice(0, cut);
}

/** The places the serving code may read and write. */
export function servingPaths(
  config: Pick<ServeConfig, "db" | "logFile"> & Partial<Pick<ServeConfig, "seal">>,
): string[] {
  const paths: string[] = [];
  const db = config.db;
  // A Unix socket is read and written as a file; a TCP database needs no file at all.
  if (db.kind === "postgres" && db.url.socket) paths.push(db.url.socket);
  // Deno KV writes -wal and -shm files beside the store, hence its whole folder.
  if (db.kind === "file") paths.push(folderOf(db.path));
  if (config.logFile) paths.push(config.logFile);
  // The sealing key moves forward by a write beside it and a rename over it.
  if (config.seal) paths.push(config.seal.keyFile, `${config.seal.keyFile}.next`);
  return paths;
}

/**
 * The addresses the serving code may use: the HTTP listener's `host:port`, the database's
 * `host:port` (or `unix:<socket>`), and a KV Connect store's hosts (`remote`: its own and
 * those of the data endpoints its metadata names).
 */
export function servingAddresses(
  config: Pick<ServeConfig, "db" | "http">,
  remote: string[] = [],
): string[] {
  const addresses: string[] = [];
  if (config.http) addresses.push(hostPort(config.http.host, config.http.port));
  if (config.db.kind === "postgres") addresses.push(netAddress(config.db.url));
  addresses.push(...remote);
  return addresses;
}

/**
 * What `forward` reaches besides its own store: a collector's `host:port`, or a target
 * store's folder or socket and addresses (and the KV Connect token variable).
 */
export interface ForwardGrant {
  paths: string[];
  net: string[];
  kvConnect: boolean;
}

/** The grant of a forward target: a collector URL's address, or a store's places. */
export function forwardGrant(
  target: { kind: "collector"; url: string } | { kind: "store"; location: ServeConfig["db"] },
  remote: string[] = [],
): ForwardGrant {
  if (target.kind === "collector") {
    const url = new URL(target.url);
    const port = url.port || (url.protocol === "https:" ? "443" : "80");
    return {
      paths: [],
      net: [hostPort(url.hostname.replace(/^\[|\]$/g, ""), Number(port))],
      kvConnect: false,
    };
  }
  const db = target.location;
  return {
    paths: servingPaths({ db, logFile: null }),
    net: servingAddresses({ db, http: null }, remote),
    kvConnect: db.kind === "kv-connect",
  };
}

/** The permission options the serving Worker is created with. */
export function workerPermissions(
  config: Pick<ServeConfig, "db" | "logFile" | "http"> & Partial<Pick<ServeConfig, "seal">>,
  /** Files the Worker only reads: the input of `sessions import`. */
  inputs: string[] = [],
  /** A KV Connect store's hosts, from its metadata exchange. */
  remote: string[] = [],
  /** What a forwarder's target needs. */
  forward: ForwardGrant = { paths: [], net: [], kvConnect: false },
): Deno.PermissionOptionsObject {
  const paths = [...servingPaths(config), ...forward.paths];
  const addresses = [...servingAddresses(config, remote), ...forward.net];
  const reads = [...paths, ...inputs];
  return {
    read: reads.length > 0 ? reads : false,
    write: paths.length > 0 ? paths : false,
    // Deno's KV client reads its token from this one variable, and checks env first.
    env: config.db.kind === "kv-connect" || forward.kvConnect ? [TOKEN_VARIABLE] : false,
    net: addresses.length > 0 ? addresses : false,
    run: false,
    ffi: false,
    sys: false,
    import: false,
  };
}
