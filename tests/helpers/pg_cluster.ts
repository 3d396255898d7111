/**
 * The one way to start a throwaway PostgreSQL cluster, for the tests (tests/helpers/postgres.ts,
 * tests/helpers/pg_own_cluster.ts), the benchmarks (through those) and `.ci/run` (as a command):
 *
 *     deno run -q -P=test tests/helpers/pg_cluster.ts start [--owner PID] DIR
 *       initdb in DIR/data and start; stdout: the admin URL, then one line saying what runs
 *     deno run -q -P=test tests/helpers/pg_cluster.ts stop DIR
 *       stop the cluster in DIR (fast, else immediate) and remove DIR
 *     deno run -q -P=test tests/helpers/pg_cluster.ts bin
 *       the folder of initdb, pg_ctl and postgres; exit 1 (and why, on stderr) when there is none
 *
 * A cluster lives in a folder of its own (DIR): `DIR/data` (initdb), `DIR/log`, `DIR/pwfile`
 * and the Unix socket `DIR/.s.PGSQL.<port>`. It listens on 127.0.0.1 and on that socket, on a
 * free port, with scram-sha-256 for every line of pg_hba.conf and a random password for the
 * superuser `postgres`, tuned for tests (fsync and full_page_writes off, 200 connections). When
 * root, PostgreSQL's programs run as the `postgres` user (initdb refuses root) and DIR is given
 * to it. A watchdog (`sh`, detached, deaf to INT/HUP/TERM) polls an owner process once a second
 * and, once it is gone however it ended, stops the cluster and removes DIR.
 *
 * The binaries: `SESSION_BUDDY_TEST_PG_BIN` when set (that folder only), else PATH, else the
 * newest `/usr/lib/postgresql/<version>/bin`.
 */

/** How this process runs PostgreSQL's programs: directly, or as `postgres` when root. */
export interface Runner {
  /** The folder of initdb, pg_ctl and postgres. */
  bin: string;
  /** Words put before a program (`runuser -u postgres --`), or none. */
  as: string[];
  /** uid and gid to give the cluster's folder, when root. */
  owner: { uid: number; gid: number } | null;
}

function commandOutput(command: string, args: string[]): { code: number; stdout: string } {
  try {
    const out = new Deno.Command(command, { args, stdout: "piped", stderr: "null" }).outputSync();
    return { code: out.code, stdout: new TextDecoder().decode(out.stdout).trim() };
  } catch {
    return { code: -1, stdout: "" };
  }
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** The folder holding initdb, pg_ctl and postgres, or null. */
function findBin(): string | null {
  const has = (dir: string) =>
    ["initdb", "pg_ctl", "postgres"].every((name) => isFile(`${dir}/${name}`));
  const chosen = Deno.env.get("SESSION_BUDDY_TEST_PG_BIN");
  if (chosen !== undefined) return has(chosen) ? chosen : null;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "" || !isFile(`${dir}/initdb`)) continue;
    // /usr/local/bin/initdb may be a link into the real folder: use the folder it points to.
    let real = dir;
    try {
      real = Deno.realPathSync(`${dir}/initdb`).replace(/\/[^/]+$/, "");
    } catch { /* keep dir */ }
    if (has(real)) return real;
    if (has(dir)) return dir;
  }
  let versions: number[] = [];
  try {
    versions = [...Deno.readDirSync("/usr/lib/postgresql")].map((e) => Number(e.name))
      .filter((v) => Number.isInteger(v) && v > 0).sort((a, b) => b - a);
  } catch { /* no such folder */ }
  for (const v of versions) {
    if (has(`/usr/lib/postgresql/${v}/bin`)) return `/usr/lib/postgresql/${v}/bin`;
  }
  return null;
}

let runnerCache: { runner: Runner | null; missing: string | null } | null = null;

/**
 * How to run PostgreSQL's programs here, or null and why not (`missing` starts with
 * "no PostgreSQL binaries"). Cheap after the first call: it starts nothing.
 */
export function pgRunner(): { runner: Runner | null; missing: string | null } {
  if (runnerCache) return runnerCache;
  const chosen = Deno.env.get("SESSION_BUDDY_TEST_PG_BIN");
  const bin = findBin();
  if (!bin) {
    const missing = chosen !== undefined
      ? `no PostgreSQL binaries (SESSION_BUDDY_TEST_PG_BIN=${chosen} lacks initdb, pg_ctl or postgres)`
      : "no PostgreSQL binaries (initdb/pg_ctl/postgres are neither on PATH nor in /usr/lib/postgresql/*/bin; Debian: apt install postgresql)";
    return runnerCache = { runner: null, missing };
  }
  if (commandOutput("id", ["-u"]).stdout !== "0") {
    return runnerCache = { runner: { bin, as: [], owner: null }, missing: null };
  }
  const uid = commandOutput("id", ["-u", "postgres"]);
  const gid = commandOutput("id", ["-g", "postgres"]);
  if (uid.code !== 0 || gid.code !== 0) {
    const missing = "no PostgreSQL to run: running as root and there is no postgres user";
    return runnerCache = { runner: null, missing };
  }
  const as = commandOutput("runuser", ["--help"]).code === 0
    ? ["runuser", "-u", "postgres", "--"]
    : ["su", "postgres", "-s", "/bin/sh", "-c", '"$0" "$@"'];
  const owner = { uid: Number(uid.stdout), gid: Number(gid.stdout) };
  return runnerCache = { runner: { bin, as, owner }, missing: null };
}

/** Runs `command`; throws with its output when `what` is given and it fails. */
export async function run(
  command: string[],
  what: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [program, ...args] = command as [string, ...string[]];
  const options = { args, stdin: "null", stdout: "piped", stderr: "piped" } as const;
  const out = await new Deno.Command(program, options).output();
  const [stdout, stderr] = [out.stdout, out.stderr].map((b) => new TextDecoder().decode(b));
  const result = { code: out.code, stdout: stdout!, stderr: stderr! };
  if (what && result.code !== 0) {
    throw new Error(`${what} failed (exit ${result.code}):\n${result.stdout}${result.stderr}`);
  }
  return result;
}

/** `pg_ctl ARGS -D DIR/data`, as the cluster's user. */
export function pgCtl(r: Runner, dir: string, args: string[], what: string) {
  return run([...r.as, `${r.bin}/pg_ctl`, ...args, "-D", `${dir}/data`], what);
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

export function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Writes `text` to DIR/`name` with `mode`, owned by the cluster's user. */
export async function writeOwned(
  r: Runner,
  dir: string,
  name: string,
  text: string,
  mode = 0o600,
): Promise<void> {
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, text, { mode });
  await Deno.chmod(path, mode);
  if (r.owner) await Deno.chown(path, r.owner.uid, r.owner.gid);
}

/** The watchdog's script: once `pid` is gone, stop the cluster in `dir` and remove `dir`. */
function watchdogScript(r: Runner, dir: string, pid: number): string {
  const pgCtlWords = [...r.as, `${r.bin}/pg_ctl`].map((w) => `'${w.replaceAll("'", `'\\''`)}'`)
    .join(" ");
  return `trap '' INT HUP TERM
while kill -0 ${pid} 2>/dev/null; do sleep 1; done
if [ -f '${dir}/data/postmaster.pid' ]; then
  # A cluster a test froze (SIGSTOP) would not hear the stop: resume it first.
  pm=$(head -n 1 '${dir}/data/postmaster.pid')
  for p in $(ps -o pid= --ppid "$pm" 2>/dev/null) "$pm"; do kill -CONT "$p" 2>/dev/null; done
  ${pgCtlWords} stop -D '${dir}/data' -m fast -w -t 20 || ${pgCtlWords} stop -D '${dir}/data' -m immediate
fi
rm -rf '${dir}'`;
}

/**
 * Starts the watchdog for `pid` (first, so that a process dying during start-up leaves nothing
 * running), writes the password file and runs initdb in `dir/data`. `dir` must exist.
 */
async function initCluster(r: Runner, dir: string, password: string, pid: number | null) {
  if (r.owner) await Deno.chown(dir, r.owner.uid, r.owner.gid);
  if (pid !== null) {
    await Deno.writeTextFile(`${dir}/owner`, `${pid}\n`);
    // The outer sh exits at once (no child handle outlives this call); the inner one lives on.
    const detach = 'trap "" INT HUP TERM; sh -c "$1" </dev/null >/dev/null 2>&1 &';
    await run(["sh", "-c", detach, "sh", watchdogScript(r, dir, pid)], "starting the watchdog");
  }
  await writeOwned(r, dir, "pwfile", `${password}\n`);
  const initdb = [`${r.bin}/initdb`, "-D", `${dir}/data`, "-U", "postgres", "-A", "scram-sha-256"];
  initdb.push(`--pwfile=${dir}/pwfile`, "-E", "UTF8", "--locale=C", "--no-sync");
  await run([...r.as, ...initdb], "initdb");
}

/** `pg_ctl start` of the cluster in `dir` on `port`, with `extra` `-c` settings. */
export async function pgCtlStart(
  r: Runner,
  dir: string,
  port: number,
  extra: string[] = [],
): Promise<void> {
  const options = [`-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`]
    .concat("-c full_page_writes=off -c max_connections=200 -c shared_buffers=32MB", extra)
    .join(" ");
  const args = ["start", "-l", `${dir}/log`, "-w", "-t", "60", "-o", options];
  const started = await pgCtl(r, dir, args, "");
  if (started.code === 0) return;
  const log = await Deno.readTextFile(`${dir}/log`).catch(() => "");
  throw new Error(`pg_ctl start failed (exit ${started.code}):\n${started.stderr}\n${log}`);
}

/** A TCP port nobody listens on right now on 127.0.0.1. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** How {@linkcode startCluster} sets a cluster up. */
export interface StartOptions {
  /** The process whose end stops the cluster and removes its folder (null: no watchdog). */
  owner: number | null;
  /** `-c` settings after the usual ones (a later setting wins). */
  settings?: string[];
  /** Runs after initdb, before the first start (to write files, pg_hba.conf). */
  prepare?: (r: Runner) => Promise<void>;
}

/** A cluster {@linkcode startCluster} started. */
export interface StartedCluster {
  runner: Runner;
  dir: string;
  port: number;
  /** The superuser `postgres`'s password. */
  password: string;
  /** `postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres?sslmode=disable` */
  admin: string;
}

/**
 * initdb in `dir/data` (`dir` must exist; it is given to the cluster's user) and a start on a
 * free port (another one when someone took it between the check and the bind).
 */
export async function startCluster(dir: string, options: StartOptions): Promise<StartedCluster> {
  const { runner: r, missing } = pgRunner();
  if (!r) throw new Error(missing ?? "no PostgreSQL binaries");
  if (await exists(`${dir}/data`)) throw new Error(`${dir}/data exists: a cluster is there`);
  const password = randomHex(16);
  await initCluster(r, dir, password, options.owner);
  await options.prepare?.(r);
  let lastError: Error | null = null;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = freePort();
    try {
      await pgCtlStart(r, dir, port, options.settings);
    } catch (error) {
      lastError = error as Error;
      if (/already in use|could not bind/i.test(lastError.message)) continue;
      break;
    }
    const admin = `postgres://postgres:${password}@127.0.0.1:${port}/postgres?sslmode=disable`;
    return { runner: r, dir, port, password, admin };
  }
  throw lastError ?? new Error("pg_ctl start failed");
}

/** Stops the cluster in `dir` if it runs (fast, else immediate), then removes `dir`. */
export async function stopCluster(dir: string, mode: "fast" | "immediate" = "fast") {
  const { runner: r } = pgRunner();
  if (r && await exists(`${dir}/data/postmaster.pid`)) {
    const stopped = await pgCtl(r, dir, ["stop", "-m", mode, "-w", "-t", "30"], "")
      .catch(() => ({ code: 1 }));
    if (stopped.code !== 0) await pgCtl(r, dir, ["stop", "-m", "immediate"], "").catch(() => {});
  }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

/** Whether process `pid` is alive (`kill -0`; as root that works for any process). */
async function alive(pid: number): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  return (await run(["sh", "-c", 'kill -0 "$1" 2>/dev/null', "sh", String(pid)], "")).code === 0;
}

/**
 * Stops and removes the clusters in `parent` whose folder is `prefix<pid>...` for a process
 * that is gone (their watchdog was killed too); folders of live processes are left alone.
 */
export async function sweep(parent: string, prefix: string): Promise<void> {
  const entries = await Array.fromAsync(Deno.readDir(parent)).catch(() => []);
  for (const entry of entries) {
    if (!entry.isDirectory || !entry.name.startsWith(prefix)) continue;
    const pid = Number(/^\d+/.exec(entry.name.slice(prefix.length))?.[0]);
    if (pid === Deno.pid || await alive(pid)) continue;
    await stopCluster(`${parent}/${entry.name}`, "immediate");
  }
}

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === "bin") {
    const { runner: r, missing } = pgRunner();
    if (r) console.log(r.bin);
    else console.error(missing);
    return r ? 0 : 1;
  }
  if (command === "stop" && rest.length === 1) {
    await stopCluster(rest[0]!);
    return 0;
  }
  const owner = rest[0] === "--owner" ? Number(rest[1]) : null;
  const dir = owner === null ? rest[0] : rest[2];
  const ownerOk = owner === null || (Number.isInteger(owner) && owner > 0);
  if (command !== "start" || !dir || rest.length !== (owner === null ? 1 : 3) || !ownerOk) {
    console.error("usage: pg_cluster.ts start [--owner PID] DIR | stop DIR | bin");
    return 2;
  }
  try {
    const started = await startCluster(dir, { owner });
    const version = (await run([`${started.runner.bin}/postgres`, "--version"], "")).stdout
      .split(" ")[2];
    console.log(started.admin);
    console.log(`PostgreSQL ${version} on 127.0.0.1:${started.port} and a socket in ${dir}`);
    return 0;
  } catch (error) {
    console.error((error as Error).message);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
