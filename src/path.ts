/** File paths as the configuration keeps them: absolute, resolved without the file system. */

/**
 * Makes a path absolute against the working directory.
 *
 * @example
 * ```ts
 * absolute("../logs/sb.log", "/work/sub"); // "/work/logs/sb.log"
 * ```
 */
export function absolute(path: string, cwd: string): string {
  if (path.startsWith("/")) return path;
  const joined = `${cwd.replace(/\/+$/, "")}/${path}`;
  const parts: string[] = [];
  for (const part of joined.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}
