/**
 * The PostgreSQL cluster the tests and benchmarks share, and a fresh database for each test.
 *
 * Where the cluster comes from, in this order:
 *
 * 1. `SESSION_BUDDY_TEST_PG_URL`, an admin URL such as
 *    `postgres://postgres:PW@127.0.0.1:PORT/postgres?sslmode=disable` (`.ci/run` starts a
 *    cluster with tests/helpers/pg_cluster.ts and sets it). The helper only creates and drops
 *    databases and roles there. Its Unix socket is used when the server says where it is and
 *    that folder is on this machine.
 * 2. PostgreSQL's own binaries (tests/helpers/pg_cluster.ts says where it looks): one cluster
 *    for the whole `deno test` process, started lazily by the first `pg()` call with
 *    tests/helpers/pg_cluster.ts (scram-sha-256, a random superuser password, a free port on
 *    127.0.0.1 and a Unix socket, as `postgres` when root) in
 *    `$TMPDIR/session-buddy-test-pg-<pid>`.
 * 3. Neither: `pg()` returns null and `pgMissing()` says why; the tests say plainly that they
 *    skipped, and fail when CI=true.
 *
 * Sharing and stopping: `deno test` runs every test module in its own runtime within one OS
 * process, and fires "unload" at the end of each module, so an "unload" listener would stop
 * and restart the cluster for every file. The folder is therefore named after the process id
 * (every module of one run finds `cluster.json` there and reuses the cluster), and the
 * cluster's watchdog polls that process id; when the test process is gone, however it ended
 * (normal exit, a failed assertion, SIGKILL, Ctrl-C), it stops the cluster and removes the
 * folder. Should the watchdog itself be killed, the next start sweeps every
 * `session-buddy-test-pg-<pid>` folder whose process is dead; folders of live processes
 * (another run on this machine) are left alone.
 *
 * Databases: tests/helpers/pg_database.ts. A test that stops, freezes or reconfigures its
 * database gets a cluster of its own instead: tests/helpers/pg_own_cluster.ts. Both are
 * re-exported here.
 */
import { exists, pgRunner, startCluster, sweep } from "./pg_cluster.ts";
import { clusterAt, type PgCluster } from "./pg_database.ts";

export {
  clusterAt,
  type PgClient,
  type PgCluster,
  type PgDatabase,
  query,
  type Row,
  withClient,
} from "./pg_database.ts";
export {
  type OwnCluster,
  ownClusterMissing,
  type OwnClusterOptions,
  ownPgTest,
  startOwnCluster,
} from "./pg_own_cluster.ts";

const IN_CI = Deno.env.get("CI") === "true";
const TMP = (Deno.env.get("TMPDIR") || "/tmp").replace(/\/+$/, "") || "/tmp";
const FOLDER_PREFIX = "session-buddy-test-pg-";

/**
 * Why no cluster can be had here, or null when one can (a URL is given, or the binaries are
 * there). Cheap: it starts nothing.
 */
export function pgMissing(): string | null {
  if (Deno.env.get("SESSION_BUDDY_TEST_PG_URL")) return null;
  return pgRunner().missing?.replace(
    /^no PostgreSQL binaries \(/,
    "no PostgreSQL (SESSION_BUDDY_TEST_PG_URL is unset, and ",
  ) ?? null;
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
  if (!pgRunner().runner) return null;
  return await startShared();
}

/** What `cluster.json` holds. */
interface ClusterFile {
  admin: string;
  socketDir: string;
}

/** Starts this process's shared cluster, or waits for the module of it that is starting it. */
async function startShared(): Promise<PgCluster> {
  const dir = `${TMP}/${FOLDER_PREFIX}${Deno.pid}`;
  const file = `${dir}/cluster.json`;
  await sweep(TMP, FOLDER_PREFIX);
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
    const { admin } = await startCluster(dir, { owner: Deno.pid });
    const cluster = await clusterAt(admin, dir);
    const known: ClusterFile = { admin, socketDir: dir };
    await Deno.writeTextFile(`${file}.tmp`, JSON.stringify(known));
    await Deno.rename(`${file}.tmp`, file);
    return cluster;
  } catch (error) {
    await Deno.writeTextFile(`${dir}/failed`, (error as Error).message).catch(() => {});
    throw error;
  }
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
