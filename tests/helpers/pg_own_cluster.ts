/**
 * A cluster of one test's own, for a test that stops, freezes or reconfigures its database
 * (TLS settings, pg_hba.conf, a restart) without disturbing the shared one: started the way
 * every throwaway cluster is (tests/helpers/pg_cluster.ts: initdb, a watchdog that stops it
 * when this process is gone) in `$TMPDIR/session-buddy-test-pg2-<pid>-<n>`, on the same port
 * across restarts, and stopped and removed after the test. The helper's admin connection uses
 * the cluster's Unix socket, so that pg_hba.conf's TCP lines are the test's to choose. It needs
 * PostgreSQL's binaries here (a SESSION_BUDDY_TEST_PG_URL cluster cannot be stopped by a test).
 */
import {
  exists,
  pgCtl,
  pgCtlStart,
  pgRunner,
  run,
  startCluster,
  stopCluster,
  sweep,
  writeOwned,
} from "./pg_cluster.ts";
import { clusterAt, type PgCluster, query } from "./pg_database.ts";

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

const IN_CI = Deno.env.get("CI") === "true";
const TMP = (Deno.env.get("TMPDIR") || "/tmp").replace(/\/+$/, "") || "/tmp";
/** Followed by `<pid>-<n>`: the n-th cluster of its own that process <pid> started. */
const OWN_PREFIX = "session-buddy-test-pg2-";
let ownClusters = 0;

/** Why {@linkcode startOwnCluster} cannot run here (it needs PostgreSQL's binaries), or null. */
export function ownClusterMissing(): string | null {
  return pgRunner().missing;
}

function hbaText(lines: string[]): string {
  return ["local all all scram-sha-256", ...lines].join("\n") + "\n";
}

/**
 * Starts a cluster of this test's own in `$TMPDIR/session-buddy-test-pg2-<pid>-<n>`. Null
 * when PostgreSQL's binaries are not here. Call `close()` when the test ends.
 */
export async function startOwnCluster(options: OwnClusterOptions = {}): Promise<OwnCluster | null> {
  if (!pgRunner().runner) return null;
  await sweep(TMP, OWN_PREFIX);
  const dir = `${TMP}/${OWN_PREFIX}${Deno.pid}-${++ownClusters}`;
  await Deno.mkdir(dir, { mode: 0o700 });
  const hbaFile = `${dir}/data/pg_hba.conf`;
  const settings = Object.entries(options.settings?.(dir) ?? {}).map(([k, v]) => `-c ${k}=${v}`);
  if (options.listen) settings.push(`-c listen_addresses=${options.listen.join(",")}`);
  let started;
  try {
    started = await startCluster(dir, {
      owner: Deno.pid,
      settings,
      async prepare(r) {
        for (const file of options.files ?? []) {
          await writeOwned(r, dir, file.name, file.text, file.mode ?? 0o600);
        }
        if (options.hba) await Deno.writeTextFile(hbaFile, hbaText(options.hba));
      },
    });
  } catch (error) {
    await stopCluster(dir, "immediate");
    throw error;
  }
  const { runner: r, port, password } = started;
  const admin = `postgres://postgres:${password}@localhost:${port}/postgres?host=${dir}`;
  const cluster = await clusterAt(admin, dir);
  /** Runs `change`, then `pg_ctl reload`, and waits until new sessions see the reload. */
  const reloadAfter = async (change: () => Promise<void>) => {
    const before = await query(admin, "SELECT pg_conf_load_time()::text AS t");
    await change();
    await pgCtl(r, dir, ["reload"], "pg_ctl reload");
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
      await pgCtl(r, dir, ["stop", "-m", mode, "-w", "-t", "60"], "pg_ctl stop");
    },
    async start() {
      await pgCtlStart(r, dir, port, settings);
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
        const mode = (await Deno.stat(`${dir}/${name}`).catch(() => null))?.mode ?? 0o600;
        await writeOwned(r, dir, name, text, mode & 0o777);
      });
    },
    async close() {
      await thaw();
      if (await exists(`${dir}/data/postmaster.pid`)) {
        await pgCtl(r, dir, ["stop", "-m", "fast", "-w", "-t", "60"], "").catch(() => {});
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
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
