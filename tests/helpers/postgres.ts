/**
 * A throwaway PostgreSQL cluster for the tests, and a fresh database for each test.
 *
 * Where the cluster comes from, in this order:
 *
 * 1. `SESSION_BUDDY_TEST_PG_URL`, an admin URL such as
 *    `postgres://postgres:PW@127.0.0.1:PORT/postgres?sslmode=disable` (`.ci/run` starts a
 *    cluster and sets it). The helper only creates and drops databases and roles there. Its
 *    Unix socket is used when the server says where it is and that folder is on this machine.
 * 2. PostgreSQL's own binaries (`initdb`, `pg_ctl`, `postgres`) in `SESSION_BUDDY_TEST_PG_BIN`
 *    when set, else on PATH or in `/usr/lib/postgresql/<version>/bin` (the newest): one
 *    cluster for the whole `deno test` process, started lazily by the first `pg()` call, in
 *    `$TMPDIR/session-buddy-test-pg-<pid>`, on a free port, listening on 127.0.0.1 and on a
 *    Unix socket in that folder, run as the `postgres` user when the tests run as root
 *    (initdb refuses root), as the current user otherwise.
 * 3. Neither: `pg()` returns null and `pgMissing()` says why; the tests say plainly that they
 *    skipped, and fail when CI=true.
 *
 * Authentication: `initdb -A scram-sha-256` for every line of pg_hba.conf, TCP and local
 * socket alike, with a random superuser password (user `postgres`). Each database gets a role
 * of its own (same name, LOGIN, random password) that owns it, so a wrong or missing password
 * is refused over TCP and over the socket, and a test can check how a server handles both.
 *
 * Sharing and stopping: `deno test` runs every test module in its own runtime within one OS
 * process, and fires "unload" at the end of each module, so an "unload" listener would stop
 * and restart the cluster for every file. The folder is therefore named after the process id
 * (every module of one run finds `cluster.json` there and reuses the cluster), and a watchdog
 * started with the cluster (`sh`, detached, deaf to INT/HUP/TERM) polls that process id once a
 * second; when the test process is gone, however it ended (normal exit, a failed assertion,
 * SIGKILL, Ctrl-C), it runs `pg_ctl stop -m fast` and removes the folder. Should the watchdog
 * itself be killed, the next start sweeps every `session-buddy-test-pg-<pid>` folder whose
 * process is dead (`pg_ctl stop -m immediate`, then removes it); folders of live processes
 * (another run on this machine) are left alone.
 *
 * A test that stops, freezes or reconfigures its database gets a cluster of its own instead
 * ({@linkcode startOwnCluster}, {@linkcode ownPgTest}), started the same way (initdb, a
 * watchdog) in `$TMPDIR/session-buddy-test-pg2-<pid>-<n>`, on the same port across restarts,
 * and stopped and removed after the test; the helper's admin connection uses its socket, so
 * that pg_hba.conf's TCP lines are the test's to choose. It needs PostgreSQL's binaries here
 * (a SESSION_BUDDY_TEST_PG_URL cluster cannot be stopped by a test).
 */
import pgModule from "pg";

/** A row as npm:pg returns it (column name to parsed value). */
export type Row = Record<string, unknown>;

/** A fresh database, owned by a role of its own. */
export interface PgDatabase {
  /** `sb_<random>`: the database's name, and its role's. */
  name: string;
  /** The role that owns the database (LOGIN, not a superuser). */
  user: string;
  /** That role's password. */
  password: string;
  /** `postgres://USER:PASSWORD@HOST:PORT/NAME?sslmode=disable` (TCP). */
  url: string;
  /** The same URL without the password (for `SESSION_BUDDY_DB_PASSWORD`). */
  urlWithoutPassword: string;
  /**
   * `postgres://USER:PASSWORD@localhost:PORT/NAME?host=SOCKETDIR&sslmode=disable`: the Unix
   * socket (`SOCKETDIR/.s.PGSQL.PORT`), or null when the cluster has none here.
   */
  socketUrl: string | null;
  /** Runs SQL in this database as the cluster's admin (sees every table, whoever owns it). */
  query(text: string, params?: unknown[]): Promise<Row[]>;
  /** Ends every connection to the database, drops it and its role. */
  drop(): Promise<void>;
}

/** The cluster the tests use. */
export interface PgCluster {
  /** Admin URL (a superuser, or a role that may create databases and roles). */
  admin: string;
  /** TCP host, `127.0.0.1` for a cluster started here. */
  host: string;
  port: number;
  /** The folder of the Unix socket `.s.PGSQL.<port>`, or null when there is none here. */
  socketDir: string | null;
  /** Creates a database (and its role) for one test. */
  createDatabase(): Promise<PgDatabase>;
}

/** The part of an npm:pg `Client` the helpers use. */
export interface PgClient {
  connect(): Promise<void>;
  query(text: string, values?: unknown[]): Promise<{ rows: Row[] }>;
  end(): Promise<void>;
  on(event: "error", listener: (error: Error) => void): unknown;
}

// npm:pg ships no types; this is the part of its API used here.
const { Client } = pgModule as unknown as {
  Client: new (config: { connectionString: string }) => PgClient;
};

/** Connects to `url` (any postgres:// URL npm:pg understands), runs `fn`, always disconnects. */
export async function withClient<T>(url: string, fn: (client: PgClient) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  // A backend ended under an idle client (a dropped database) must not be an uncaught error.
  client.on("error", () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Runs one statement on `url` and returns its rows. */
export async function query(url: string, text: string, params: unknown[] = []): Promise<Row[]> {
  return await withClient(url, async (client) => (await client.query(text, params)).rows);
}

/** `"name"`, for identifiers the helper makes itself (letters, digits, `_`). */
function ident(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain identifier: ${name}`);
  return `"${name}"`;
}

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

const IN_CI = Deno.env.get("CI") === "true";
const TMP = (Deno.env.get("TMPDIR") || "/tmp").replace(/\/+$/, "") || "/tmp";
const FOLDER_PREFIX = "session-buddy-test-pg-";

/** How this process runs PostgreSQL's programs: directly, or as `postgres` when root. */
interface Runner {
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

/**
 * The folder holding initdb, pg_ctl and postgres: `SESSION_BUDDY_TEST_PG_BIN` when set (that
 * folder only), else PATH, then Debian's layout.
 */
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

function runner(): { runner: Runner | null; missing: string | null } {
  if (runnerCache) return runnerCache;
  const bin = findBin();
  if (!bin) {
    runnerCache = {
      runner: null,
      missing: Deno.env.get("SESSION_BUDDY_TEST_PG_BIN") !== undefined
        ? `no PostgreSQL (SESSION_BUDDY_TEST_PG_URL is unset, and SESSION_BUDDY_TEST_PG_BIN=${
          Deno.env.get("SESSION_BUDDY_TEST_PG_BIN")
        } lacks initdb, pg_ctl or postgres)`
        : "no PostgreSQL (SESSION_BUDDY_TEST_PG_URL is unset, and initdb/pg_ctl/postgres are neither on PATH nor in /usr/lib/postgresql/*/bin; Debian: apt install postgresql)",
    };
    return runnerCache;
  }
  if (commandOutput("id", ["-u"]).stdout !== "0") {
    runnerCache = { runner: { bin, as: [], owner: null }, missing: null };
    return runnerCache;
  }
  const uid = commandOutput("id", ["-u", "postgres"]);
  const gid = commandOutput("id", ["-g", "postgres"]);
  if (uid.code !== 0 || gid.code !== 0) {
    runnerCache = {
      runner: null,
      missing: "no PostgreSQL to run: the tests run as root and there is no postgres user",
    };
    return runnerCache;
  }
  const owner = { uid: Number(uid.stdout), gid: Number(gid.stdout) };
  const as = commandOutput("runuser", ["--help"]).code === 0
    ? ["runuser", "-u", "postgres", "--"]
    : ["su", "postgres", "-s", "/bin/sh", "-c", '"$0" "$@"'];
  runnerCache = { runner: { bin, as, owner }, missing: null };
  return runnerCache;
}

/**
 * Why no cluster can be had here, or null when one can (a URL is given, or the binaries are
 * there). Cheap: it starts nothing.
 */
export function pgMissing(): string | null {
  if (Deno.env.get("SESSION_BUDDY_TEST_PG_URL")) return null;
  return runner().missing;
}

/** The message a test prints when it has no PostgreSQL; under CI=true it throws instead. */
export function skipWithoutPg(what: string): void {
  const missing = pgMissing() ?? "no PostgreSQL";
  if (IN_CI) throw new Error(`${missing}: ${what} (CI must have it)`);
  console.log(`skipped: ${missing}: ${what}`);
}

let clusterPromise: Promise<PgCluster | null> | null = null;

/**
 * The cluster: the one `SESSION_BUDDY_TEST_PG_URL` names, else the one this process started
 * (starting it on the first call), else null when PostgreSQL is not available here.
 */
export function pg(): Promise<PgCluster | null> {
  clusterPromise ??= findOrStart();
  return clusterPromise;
}

async function findOrStart(): Promise<PgCluster | null> {
  const given = Deno.env.get("SESSION_BUDDY_TEST_PG_URL");
  if (given) return await clusterAt(given, null);
  const { runner: r } = runner();
  if (!r) return null;
  return await startLocal(r);
}

/** A cluster reachable at `admin`; `socketDir` when known, else asked of the server. */
async function clusterAt(admin: string, knownSocketDir: string | null): Promise<PgCluster> {
  const url = new URL(admin);
  const host = url.searchParams.get("host")?.startsWith("/")
    ? "127.0.0.1"
    : decodeURIComponent(url.hostname.replace(/^\[|\]$/g, "")) || "127.0.0.1";
  let settings: Row;
  try {
    [settings = {}] = await query(
      admin,
      "SELECT current_setting('port') AS port, current_setting('unix_socket_directories') AS dirs",
    );
  } catch (error) {
    throw new Error(
      `PostgreSQL at ${redact(admin)} does not answer: ${(error as Error).message}`,
    );
  }
  const port = Number(settings.port);
  let socketDir = knownSocketDir;
  if (socketDir === null) {
    for (const dir of String(settings.dirs ?? "").split(",").map((d) => d.trim())) {
      if (dir.startsWith("/") && await exists(`${dir}/.s.PGSQL.${port}`)) {
        socketDir = dir;
        break;
      }
    }
  }
  return {
    admin,
    host,
    port,
    socketDir,
    createDatabase: () => createDatabase(admin, host, port, socketDir),
  };
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function createDatabase(
  admin: string,
  host: string,
  port: number,
  socketDir: string | null,
): Promise<PgDatabase> {
  const name = `sb_${randomHex(8)}`;
  const password = randomHex(16);
  await withClient(admin, async (client) => {
    await client.query(`CREATE ROLE ${ident(name)} LOGIN PASSWORD '${password}'`);
    await client.query(`CREATE DATABASE ${ident(name)} OWNER ${ident(name)}`);
  });
  const hostPart = host.includes(":") ? `[${host}]` : host;
  const urlWithoutPassword = `postgres://${name}@${hostPart}:${port}/${name}?sslmode=disable`;
  const url = `postgres://${name}:${password}@${hostPart}:${port}/${name}?sslmode=disable`;
  const socketUrl = socketDir === null
    ? null
    : `postgres://${name}:${password}@localhost:${port}/${name}?host=${
      encodeURIComponent(socketDir).replaceAll("%2F", "/")
    }&sslmode=disable`;
  const adminUrl = new URL(admin);
  adminUrl.pathname = `/${name}`;
  const inDatabase = adminUrl.toString();
  let client: PgClient | null = null;
  let dropped = false;
  return {
    name,
    user: name,
    password,
    url,
    urlWithoutPassword,
    socketUrl,
    async query(text, params = []) {
      if (dropped) throw new Error(`database ${name} was dropped`);
      if (!client) {
        const fresh = new Client({ connectionString: inDatabase });
        fresh.on("error", () => {});
        await fresh.connect();
        client = fresh;
      }
      return (await client.query(text, params)).rows;
    },
    async drop() {
      if (dropped) return;
      dropped = true;
      const open = client;
      client = null;
      await open?.end().catch(() => {});
      await withClient(admin, async (c) => {
        const [{ v = 0 } = {}] = (await c.query(
          "SELECT current_setting('server_version_num')::int AS v",
        )).rows as { v?: number }[];
        if (v >= 130000) {
          await c.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
        } else {
          for (let attempt = 0;; attempt++) {
            await c.query(
              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
              [name],
            );
            try {
              await c.query(`DROP DATABASE IF EXISTS ${ident(name)}`);
              break;
            } catch (error) {
              if (attempt >= 20) throw error;
              await new Promise((r) => setTimeout(r, 50));
            }
          }
        }
        await c.query(`DROP ROLE IF EXISTS ${ident(name)}`);
      });
    },
  };
}

/** A TCP port nobody listens on right now on 127.0.0.1. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function run(
  command: string[],
  what: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [program, ...args] = command as [string, ...string[]];
  const out = await new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  const result = {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
  if (what && result.code !== 0) {
    throw new Error(`${what} failed (exit ${result.code}):\n${result.stdout}${result.stderr}`);
  }
  return result;
}

/** Whether process `pid` is alive (`kill -0`; as root that works for any process). */
async function alive(pid: number): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  return (await run(["sh", "-c", 'kill -0 "$1" 2>/dev/null', "sh", String(pid)], "")).code === 0;
}

/** Stops and removes the clusters of earlier test processes that are gone. */
async function sweep(r: Runner): Promise<void> {
  let entries: Deno.DirEntry[] = [];
  try {
    entries = await Array.fromAsync(Deno.readDir(TMP));
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.isDirectory) continue;
    let pid: number;
    if (entry.name.startsWith(FOLDER_PREFIX)) pid = Number(entry.name.slice(FOLDER_PREFIX.length));
    else if (entry.name.startsWith(OWN_PREFIX)) {
      // `<pid>-<n>`: the n-th cluster of its own that process <pid> started.
      pid = Number(/^(\d+)-\d+$/.exec(entry.name.slice(OWN_PREFIX.length))?.[1]);
    } else continue;
    if (pid === Deno.pid || await alive(pid)) continue;
    const dir = `${TMP}/${entry.name}`;
    if (await exists(`${dir}/data/postmaster.pid`)) {
      await run([...r.as, `${r.bin}/pg_ctl`, "stop", "-D", `${dir}/data`, "-m", "immediate"], "")
        .catch(() => {});
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** What `cluster.json` holds. */
interface ClusterFile {
  admin: string;
  socketDir: string;
}

async function startLocal(r: Runner): Promise<PgCluster> {
  const dir = `${TMP}/${FOLDER_PREFIX}${Deno.pid}`;
  const file = `${dir}/cluster.json`;
  await sweep(r);
  try {
    await Deno.mkdir(dir, { mode: 0o700 });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    // Another module of this process started it (or is starting it right now).
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      if (await exists(`${dir}/failed`)) {
        throw new Error(`PostgreSQL did not start: ${await Deno.readTextFile(`${dir}/failed`)}`);
      }
      if (await exists(file)) {
        const known = JSON.parse(await Deno.readTextFile(file)) as ClusterFile;
        return await clusterAt(known.admin, known.socketDir);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`${dir} exists but its cluster did not come up within 60 s`);
  }
  try {
    return await initAndStart(r, dir, file);
  } catch (error) {
    await Deno.writeTextFile(`${dir}/failed`, (error as Error).message).catch(() => {});
    throw error;
  }
}

/**
 * Writes the superuser's password file, starts the watchdog that stops the cluster in `dir`
 * and removes the folder once this process is gone, and runs initdb in `dir/data`.
 */
async function initCluster(r: Runner, dir: string, password: string): Promise<void> {
  await Deno.writeTextFile(`${dir}/owner`, `${Deno.pid}\n`);
  await Deno.writeTextFile(`${dir}/pwfile`, `${password}\n`, { mode: 0o600 });
  if (r.owner) {
    await Deno.chown(dir, r.owner.uid, r.owner.gid);
    await Deno.chown(`${dir}/pwfile`, r.owner.uid, r.owner.gid);
  }
  // The watchdog first, so that a process dying during start-up leaves nothing running. The
  // outer sh exits at once (no child handle outlives this call); the inner one lives on.
  const pgCtl = [...r.as, `${r.bin}/pg_ctl`].map((w) => `'${w.replaceAll("'", `'\\''`)}'`)
    .join(" ");
  const watchdog = `trap '' INT HUP TERM
while kill -0 ${Deno.pid} 2>/dev/null; do sleep 1; done
if [ -f '${dir}/data/postmaster.pid' ]; then
  # A cluster a test froze (SIGSTOP) would not hear the stop: resume it first.
  pm=$(head -n 1 '${dir}/data/postmaster.pid')
  for p in $(ps -o pid= --ppid "$pm" 2>/dev/null) "$pm"; do kill -CONT "$p" 2>/dev/null; done
  ${pgCtl} stop -D '${dir}/data' -m fast -w -t 20 || ${pgCtl} stop -D '${dir}/data' -m immediate
fi
rm -rf '${dir}'`;
  await run(
    ["sh", "-c", 'trap "" INT HUP TERM; sh -c "$1" </dev/null >/dev/null 2>&1 &', "sh", watchdog],
    "starting the cluster's watchdog",
  );
  await run(
    [
      ...r.as,
      `${r.bin}/initdb`,
      "-D",
      `${dir}/data`,
      "-U",
      "postgres",
      "-A",
      "scram-sha-256",
      `--pwfile=${dir}/pwfile`,
      "-E",
      "UTF8",
      "--locale=C",
      "--no-sync",
    ],
    "initdb",
  );
}

/** `pg_ctl start` of the cluster in `dir` on `port`, with `extra` `-c` settings. */
async function pgCtlStart(
  r: Runner,
  dir: string,
  port: number,
  extra: string[] = [],
): Promise<{ code: number; stderr: string; log: string }> {
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses=127.0.0.1",
    "-c fsync=off",
    "-c full_page_writes=off",
    "-c max_connections=200",
    "-c shared_buffers=32MB",
    ...extra,
  ].join(" ");
  const started = await run(
    [
      ...r.as,
      `${r.bin}/pg_ctl`,
      "start",
      "-D",
      `${dir}/data`,
      "-l",
      `${dir}/log`,
      "-w",
      "-t",
      "60",
      "-o",
      options,
    ],
    "",
  );
  const log = started.code === 0 ? "" : await Deno.readTextFile(`${dir}/log`).catch(() => "");
  return { code: started.code, stderr: started.stderr, log };
}

/**
 * Starts the cluster in `dir` on a free port (another one when someone took it between
 * freePort() and the bind); returns the port.
 */
async function startOnFreePort(r: Runner, dir: string, extra: string[] = []): Promise<number> {
  let lastError: Error | null = null;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = freePort();
    const started = await pgCtlStart(r, dir, port, extra);
    if (started.code === 0) return port;
    lastError = new Error(
      `pg_ctl start failed (exit ${started.code}):\n${started.stderr}\n${started.log}`,
    );
    if (!/already in use|could not bind/i.test(started.log)) break;
  }
  throw lastError ?? new Error("pg_ctl start failed");
}

async function initAndStart(r: Runner, dir: string, file: string): Promise<PgCluster> {
  const password = randomHex(16);
  await initCluster(r, dir, password);
  const port = await startOnFreePort(r, dir);
  const admin = `postgres://postgres:${password}@127.0.0.1:${port}/postgres?sslmode=disable`;
  const cluster = await clusterAt(admin, dir);
  await Deno.writeTextFile(`${file}.tmp`, JSON.stringify({ admin, socketDir: dir }));
  await Deno.rename(`${file}.tmp`, file);
  return cluster;
}

/** How {@linkcode startOwnCluster} sets its cluster up. */
export interface OwnClusterOptions {
  /**
   * Files written into the cluster's folder before it starts, owned by the cluster's user
   * (a server certificate and its key, say), each with its mode (default 0600).
   */
  files?: { name: string; text: string; mode?: number }[];
  /** `-c` settings, given the cluster's folder (`ssl=on`, `ssl_cert_file=DIR/...`). */
  settings?: (dir: string) => Record<string, string>;
  /** Addresses to listen on (default `127.0.0.1`). */
  listen?: string[];
  /**
   * The TCP lines of pg_hba.conf (`host ...`, `hostssl ...`), replacing initdb's. A `local`
   * line for every role over the Unix socket (scram-sha-256) always comes first: the helper's
   * own admin connection uses the socket.
   */
  hba?: string[];
}

/**
 * A cluster of one test's own, to stop, restart, freeze and reconfigure without disturbing
 * the shared one. Same port and socket across restarts: what a server was granted stays
 * valid.
 */
export interface OwnCluster extends PgCluster {
  /** The cluster's folder (its socket, its log, the files of `options.files`). */
  dir: string;
  /** `pg_ctl stop` (`fast` by default: every session ended, in-flight work rolled back). */
  stop(mode?: "fast" | "immediate"): Promise<void>;
  /** `pg_ctl start` again on the same port and socket. */
  start(): Promise<void>;
  /**
   * Stops (SIGSTOP) the postmaster and every backend: the database hangs with its
   * connections open, as behind a network partition. New connections wait in the listen
   * backlog.
   */
  freeze(): Promise<void>;
  /** Resumes a frozen cluster (SIGCONT). */
  thaw(): Promise<void>;
  /** Replaces the TCP lines of pg_hba.conf and reloads; new connections see them. */
  setHba(lines: string[]): Promise<void>;
  /**
   * Writes a file in the cluster's folder (owned by the cluster's user; a certificate or key
   * named in the settings, say) and reloads the configuration; new connections see it.
   */
  replaceFile(name: string, text: string): Promise<void>;
  /** Stops the cluster and removes its folder. */
  close(): Promise<void>;
}

const OWN_PREFIX = "session-buddy-test-pg2-";
let ownClusters = 0;

/** Why {@linkcode startOwnCluster} cannot run here (it needs PostgreSQL's binaries), or null. */
export function ownClusterMissing(): string | null {
  const missing = runner().missing;
  if (missing === null) return null;
  return missing.replace(
    /^no PostgreSQL \(SESSION_BUDDY_TEST_PG_URL is unset, and /,
    "no PostgreSQL binaries (",
  );
}

function hbaText(lines: string[]): string {
  return ["local all all scram-sha-256", ...lines].join("\n") + "\n";
}

/**
 * Starts a second throwaway cluster, the way the shared one is started (initdb, a watchdog
 * that stops it when this process is gone), in `$TMPDIR/session-buddy-test-pg2-<pid>-<n>`.
 * Null when PostgreSQL's binaries are not here. Call `close()` when the test ends.
 */
export async function startOwnCluster(options: OwnClusterOptions = {}): Promise<OwnCluster | null> {
  const { runner: r } = runner();
  if (!r) return null;
  await sweep(r);
  const dir = `${TMP}/${OWN_PREFIX}${Deno.pid}-${++ownClusters}`;
  await Deno.mkdir(dir, { mode: 0o700 });
  const password = randomHex(16);
  await initCluster(r, dir, password);
  for (const file of options.files ?? []) {
    const path = `${dir}/${file.name}`;
    await Deno.writeTextFile(path, file.text, { mode: file.mode ?? 0o600 });
    await Deno.chmod(path, file.mode ?? 0o600);
    if (r.owner) await Deno.chown(path, r.owner.uid, r.owner.gid);
  }
  const hbaFile = `${dir}/data/pg_hba.conf`;
  if (options.hba) await Deno.writeTextFile(hbaFile, hbaText(options.hba));
  const settings = Object.entries(options.settings?.(dir) ?? {}).map(([k, v]) => `-c ${k}=${v}`);
  if (options.listen) settings.push(`-c listen_addresses=${options.listen.join(",")}`);
  let port: number;
  try {
    port = await startOnFreePort(r, dir, settings);
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  const admin = `postgres://postgres:${password}@localhost:${port}/postgres?host=${dir}`;
  const cluster = await clusterAt(admin, dir);
  const pgCtl = (args: string[], what: string) =>
    run([...r.as, `${r.bin}/pg_ctl`, ...args, "-D", `${dir}/data`], what);
  /** Runs `change`, then `pg_ctl reload`, and waits until new sessions see the reload. */
  const reloadAfter = async (change: () => Promise<void>) => {
    const before = await query(admin, "SELECT pg_conf_load_time()::text AS t");
    await change();
    await pgCtl(["reload"], "pg_ctl reload");
    // A new session reports the postmaster's load time: wait until it moved.
    for (let i = 0; i < 200; i++) {
      const now = await query(admin, "SELECT pg_conf_load_time()::text AS t");
      if (now[0]?.t !== before[0]?.t) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error("pg_ctl reload: the new configuration was not loaded within 5 s");
  };
  let frozen: number[] = [];
  const thaw = async () => {
    // Backends first, the postmaster last: nothing new is forked before they run again.
    for (const pid of frozen.toReversed()) {
      try {
        Deno.kill(pid, "SIGCONT");
      } catch { /* gone */ }
    }
    frozen = [];
    await Promise.resolve();
  };
  return {
    ...cluster,
    dir,
    async stop(mode = "fast") {
      await pgCtl(["stop", "-m", mode, "-w", "-t", "60"], "pg_ctl stop");
    },
    async start() {
      const started = await pgCtlStart(r, dir, port, settings);
      if (started.code !== 0) {
        throw new Error(
          `pg_ctl start failed (exit ${started.code}):\n${started.stderr}\n${started.log}`,
        );
      }
    },
    async freeze() {
      const postmaster = Number(
        (await Deno.readTextFile(`${dir}/data/postmaster.pid`)).split("\n")[0],
      );
      const children = (await run(["ps", "-o", "pid=", "--ppid", String(postmaster)], "")).stdout
        .split("\n").map((l) => Number(l.trim())).filter((n) => n > 0);
      frozen = [postmaster, ...children];
      for (const pid of frozen) Deno.kill(pid, "SIGSTOP");
    },
    thaw,
    async setHba(lines) {
      await reloadAfter(() => Deno.writeTextFile(hbaFile, hbaText(lines)));
    },
    async replaceFile(name, text) {
      await reloadAfter(async () => {
        const path = `${dir}/${name}`;
        const mode = (await Deno.stat(path).catch(() => null))?.mode ?? 0o600;
        await Deno.writeTextFile(path, text);
        await Deno.chmod(path, mode & 0o777);
        if (r.owner) await Deno.chown(path, r.owner.uid, r.owner.gid);
      });
    },
    async close() {
      await thaw();
      if (await exists(`${dir}/data/postmaster.pid`)) {
        await pgCtl(["stop", "-m", "fast", "-w", "-t", "60"], "").catch(() => {});
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Registers a test that needs the shared cluster ({@linkcode pg}); where there is none, a
 * test of the same name that says it skipped (and fails when CI=true).
 */
export function pgTest(
  name: string,
  fn: (cluster: PgCluster, t: Deno.TestContext) => Promise<void>,
  options: { ignore?: boolean } = {},
): void {
  if (pgMissing() !== null) {
    Deno.test({ name, ignore: options.ignore, fn: () => skipWithoutPg(name) });
    return;
  }
  Deno.test({
    name,
    ignore: options.ignore,
    async fn(t) {
      const cluster = await pg();
      if (!cluster) throw new Error(`no PostgreSQL: ${pgMissing()}`);
      await fn(cluster, t);
    },
  });
}

/**
 * Registers a test that needs a cluster of its own ({@linkcode startOwnCluster} with
 * `options`), started before `fn` and always closed after it; where PostgreSQL's binaries
 * are missing, a test of the same name that says it skipped (and fails when CI=true).
 */
export function ownPgTest(
  name: string,
  fn: (cluster: OwnCluster, t: Deno.TestContext) => Promise<void>,
  options: OwnClusterOptions = {},
  test: { ignore?: boolean } = {},
): void {
  const missing = ownClusterMissing();
  if (missing !== null) {
    Deno.test({
      name,
      ignore: test.ignore,
      fn() {
        if (IN_CI) throw new Error(`${missing}: ${name} (CI must have it)`);
        console.log(`skipped: ${missing}: ${name}`);
      },
    });
    return;
  }
  Deno.test({
    name,
    ignore: test.ignore,
    async fn(t) {
      const cluster = await startOwnCluster(options);
      if (!cluster) throw new Error(ownClusterMissing() ?? "no PostgreSQL binaries");
      try {
        await fn(cluster, t);
      } finally {
        await cluster.close();
      }
    },
  });
}
