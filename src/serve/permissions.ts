/**
 * The Worker's permissions, derived from the configuration: read and write on the store's
 * folder and on the log file, net on exactly the HTTP listener's address when there is
 * one, and nothing else.
 */
import { hostPort, type ServeConfig } from "../config.ts";

/** The folder holding a file path (paths are absolute once configuration is parsed). */
export function folderOf(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut <= 0 ? "/" : path.slice(0, cut);
}

/** The places the serving code may read and write. */
export function servingPaths(config: Pick<ServeConfig, "db" | "logFile">): string[] {
  const paths: string[] = [];
  // Deno KV writes -wal and -shm files beside the store, hence its whole folder.
  if (config.db !== ":memory:") paths.push(folderOf(config.db));
  if (config.logFile) paths.push(config.logFile);
  return paths;
}

/** The addresses the serving code may use: the HTTP listener's `host:port`, if any. */
export function servingAddresses(config: Pick<ServeConfig, "http">): string[] {
  return config.http ? [hostPort(config.http.host, config.http.port)] : [];
}

/** The permission options the serving Worker is created with. */
export function workerPermissions(
  config: Pick<ServeConfig, "db" | "logFile" | "http">,
): Deno.PermissionOptionsObject {
  const paths = servingPaths(config);
  const addresses = servingAddresses(config);
  return {
    read: paths.length > 0 ? paths : false,
    write: paths.length > 0 ? paths : false,
    env: false,
    net: addresses.length > 0 ? addresses : false,
    run: false,
    ffi: false,
    sys: false,
    import: false,
  };
}
