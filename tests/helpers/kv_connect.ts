/**
 * KV Connect servers for the tests (tests/fixtures/kv_connect_shim.ts: denokv's SQLite engine
 * behind `Deno.serve`), each a subprocess of its own: the only process of a test run that is
 * granted `--allow-ffi`, for the native module. A store is one database of a shim,
 * `http://127.0.0.1:PORT/db/NAME`, kept in the SQLite file `DIR/NAME.sqlite`, which the tests
 * read with `Deno.openKv(path)` to see what the server committed.
 *
 * The native module is built for Linux on x86-64 (glibc) only; elsewhere
 * {@linkcode kvConnectMissing} says why the tests cannot run.
 */
import { DEV_FLAGS } from "./dev_flags.ts";
import { ROOT, runtimeEnv } from "./server.ts";

/** Why this machine cannot run a KV Connect shim, or null when it can. */
export function kvConnectMissing(): string | null {
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    return `no KV Connect test server here (npm:@deno/kv-linux-x64-gnu is built for linux x86_64, this is ${Deno.build.os} ${Deno.build.arch})`;
  }
  return null;
}

/**
 * Registers a test that needs a KV Connect shim; on a machine that cannot run one it says
 * plainly that it skipped (and fails when CI=true).
 */
export function kvConnectTest(name: string, fn: () => Promise<void>): void {
  Deno.test(name, async () => {
    const missing = kvConnectMissing();
    if (missing) {
      if (Deno.env.get("CI") === "true") throw new Error(`${missing} (CI must have it)`);
      console.log(`skipped: ${missing}: ${name}`);
      return;
    }
    await fn();
  });
}

/** A running shim. */
export interface KvConnectShim {
  /** `http://127.0.0.1:PORT`. */
  readonly origin: string;
  readonly port: number;
  /** The token it accepts (DENO_KV_ACCESS_TOKEN). */
  readonly token: string;
  /** The folder of its SQLite files. */
  readonly dir: string;
  /** A fresh database: its URL (SESSION_BUDDY_DB) and its SQLite file. */
  database(): { url: string; path: string };
  /** Toggles the outage mode (every data request 503) with SIGUSR1. */
  toggleOutage(): Promise<void>;
  /** Every line the shim wrote to stdout (requests, with `log`). */
  output(): string;
  /** Stops it (SIGKILL when `hard`) and removes its folder unless `keep`. */
  stop(options?: { hard?: boolean; keep?: boolean }): Promise<void>;
}

let shims = 0;

/** A word for sh, quoted. */
function sh(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Starts a shim on a free port (or `port`, and on the SQLite files of `dir`), with
 * `latencyMs` before each answer. It runs
 * detached (no handle of it in this runtime, so test sanitizers see nothing open), writes
 * to files in its folder, and ends with this process at the latest (a watchdog).
 */
export async function startShim(
  options: { latencyMs?: number; token?: string; log?: boolean; port?: number; dir?: string } = {},
): Promise<KvConnectShim> {
  const missing = kvConnectMissing();
  if (missing) throw new Error(missing);
  // A shim started again on the folder of one that stopped serves the same databases.
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "session-buddy-kvc-" });
  // The line of a shim that ran here before must not be taken for this one's.
  await Deno.remove(`${dir}/out`).catch(() => {});
  const token = options.token ?? `kvc-${crypto.randomUUID()}`;
  const command = [
    Deno.execPath(),
    "run",
    "-q",
    "--allow-ffi",
    "--allow-net=127.0.0.1",
    "--allow-read",
    `--allow-write=${dir}`,
    ...DEV_FLAGS,
    `${ROOT}tests/fixtures/kv_connect_shim.ts`,
    "--dir",
    dir,
    "--token",
    token,
    "--port",
    String(options.port ?? 0),
    "--latency-ms",
    String(options.latencyMs ?? 0),
    ...(options.log ? ["--log"] : []),
  ].map(sh).join(" ");
  const env = Object.entries(runtimeEnv()).map(([k, v]) => `${k}=${sh(v)}`).join(" ");
  // A watchdog beside it (as tests/helpers/postgres.ts keeps its clusters): once this process
  // is gone, however it ended, the shim is stopped.
  const watched = `env -i ${env} ${command} </dev/null >${sh(`${dir}/out`)} 2>${
    sh(`${dir}/err`)
  } & s=$!
trap '' INT HUP TERM
while kill -0 ${Deno.pid} 2>/dev/null && kill -0 "$s" 2>/dev/null; do sleep 1; done
kill "$s" 2>/dev/null
kill -0 ${Deno.pid} 2>/dev/null || { sleep 1; rm -rf ${sh(dir)}; }`;
  const started = await new Deno.Command("sh", {
    args: ["-c", 'sh -c "$1" </dev/null >/dev/null 2>&1 &', "sh", watched],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!started.success) {
    throw new Error(
      `could not start the KV Connect shim: ${new TextDecoder().decode(started.stderr)}`,
    );
  }
  const read = (name: string) => Deno.readTextFile(`${dir}/${name}`).catch(() => "");
  let port = 0;
  let pid = 0;
  for (let i = 0; i < 300 && port === 0; i++) {
    const m = /^listening (\d+) (\d+)$/m.exec(await read("out"));
    if (m) [port, pid] = [Number(m[1]), Number(m[2])];
    else await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (port === 0) {
    const err = await read("err");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new Error(`the KV Connect shim did not listen within 30 s:\n${err}`);
  }
  const origin = `http://127.0.0.1:${port}`;
  let stopped = false;
  const alive = () => {
    try {
      Deno.statSync(`/proc/${pid}`);
      return true;
    } catch {
      return false;
    }
  };
  ++shims;
  const shim: KvConnectShim = {
    origin,
    port,
    token,
    dir,
    database() {
      const name = `t${shims}-${crypto.randomUUID().slice(0, 8)}`;
      return { url: `${origin}/db/${name}`, path: `${dir}/${name}.sqlite` };
    },
    async toggleOutage() {
      Deno.kill(pid, "SIGUSR1");
      // The signal is handled on the shim's next turn; a request right after must see it.
      await new Promise((resolve) => setTimeout(resolve, 100));
    },
    output: () => {
      try {
        return Deno.readTextFileSync(`${dir}/out`);
      } catch {
        return "";
      }
    },
    async stop(opts = {}) {
      if (!stopped) {
        stopped = true;
        try {
          Deno.kill(pid, opts.hard ? "SIGKILL" : "SIGTERM");
        } catch { /* gone */ }
        for (let i = 0; i < 100 && alive(); i++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      if (!opts.keep) await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  return shim;
}

let shared: Promise<KvConnectShim> | null = null;

/**
 * The shim this test module shares between its KV Connect stores (one database each),
 * stopped when the module ends (`deno test` fires "unload" per module).
 */
export function sharedShim(): Promise<KvConnectShim> {
  shared ??= startShim().then((shim) => {
    globalThis.addEventListener("unload", () => {
      try {
        Deno.kill(Number(/^listening \d+ (\d+)$/m.exec(shim.output())?.[1]), "SIGTERM");
      } catch { /* gone */ }
      try {
        Deno.removeSync(shim.dir, { recursive: true });
      } catch { /* gone */ }
    });
    return shim;
  });
  return shared;
}
