/**
 * SPEC section 7: the outer process's grants (deno.json), the Worker's grants
 * (workerPermissions), and the boundary Deno really enforces on the Worker.
 */
import assert from "node:assert/strict";
import { freePort } from "../helpers/http.ts";
import { CONFIG, RUNTIME_FLAGS, tempDir } from "../helpers/server.ts";
import { servingPaths, workerPermissions } from "../../src/serve/permissions.ts";
import { parseLocation } from "../../src/store/location.ts";
import type { ProbeOutcome } from "../fixtures/permission_probe.ts";

/** A store location as `--db` gives it. */
const at = (text: string) => parseLocation(text, "/");

interface DenoJson {
  unstable?: string[];
  permissions: Record<string, Record<string, unknown>>;
  tasks: Record<string, string>;
}

const denoJson: DenoJson = JSON.parse(await Deno.readTextFile(CONFIG));

Deno.test("deno.json: the server set grants no run, ffi or sys", () => {
  const server = denoJson.permissions.server;
  assert.ok(server, "permissions.server exists");
  for (const kind of ["run", "ffi", "sys"]) {
    const grant = server[kind];
    assert.ok(grant === undefined || grant === false, `${kind} is ${JSON.stringify(grant)}`);
  }
});

Deno.test("deno.json: the server set holds net, because a Worker cannot get net its parent lacks", async () => {
  assert.equal(denoJson.permissions.server!.net, true);
  // Without net of its own, the outer process cannot hand the listener's address on.
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "--allow-read",
      "--unstable-worker-options",
      new URL("../fixtures/worker_with_net.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(
    new TextDecoder().decode(out.stdout).trim(),
    "NotCapable: Can't escalate parent thread permissions",
  );
});

Deno.test("deno.json: the server set's env is a list of its own variables and home ones", () => {
  const env = denoJson.permissions.server!.env;
  assert.ok(Array.isArray(env), `env is a list, got ${JSON.stringify(env)}`);
  assert.ok(env.length > 0);
  for (const name of env) {
    assert.equal(typeof name, "string");
    assert.ok(
      (name as string).startsWith("SESSION_BUDDY_") ||
        // The KV Connect token: Deno's KV client reads only this variable, in the Worker,
        // which cannot be granted env its parent lacks.
        ["HOME", "XDG_DATA_HOME", "NO_COLOR", "DENO_KV_ACCESS_TOKEN"].includes(name),
      `unexpected env grant ${name}`,
    );
  }
  assert.ok(env.includes("HOME"), "HOME is granted (default store)");
});

Deno.test("deno.json: start and compile use -P=server; compile includes the worker", () => {
  const { start, compile } = denoJson.tasks;
  assert.ok(start, "tasks.start exists");
  assert.ok(compile, "tasks.compile exists");
  assert.match(start, /(^|\s)-P=server(\s|$)/);
  assert.match(compile, /(^|\s)-P=server(\s|$)/);
  assert.match(compile, /--include[= ]src\/serve\/worker\.ts(\s|$)/);
  for (const task of [start, compile]) {
    assert.doesNotMatch(task, /--allow-|(^|\s)-A(\s|$)/, `no extra grant flags in: ${task}`);
  }
});

Deno.test("deno.json: every runtime flag of start is in both compile tasks", () => {
  assert.ok(RUNTIME_FLAGS.includes("-P=server"), RUNTIME_FLAGS.join(" "));
  assert.ok(RUNTIME_FLAGS.some((f) => f.startsWith("--v8-flags=")), RUNTIME_FLAGS.join(" "));
  // Without it, a first run prints the runtime's download lines and its warning that
  // permission sets are experimental, where SPEC 2 promises one line of ours.
  assert.ok(RUNTIME_FLAGS.includes("-q"), `start runs Deno --quiet: ${RUNTIME_FLAGS.join(" ")}`);
  for (const name of ["compile", "compile:target"]) {
    const words = denoJson.tasks[name]!.split(/\s+/);
    for (const flag of RUNTIME_FLAGS) assert.ok(words.includes(flag), `${name} lacks ${flag}`);
  }
});

/** The `deno run` flags that grant what a permission set grants (`deno install` drops `-P`). */
function grantFlags(set: Record<string, unknown>): string[] {
  return Object.entries(set).map(([kind, grant]) => {
    if (grant === true) return `--allow-${kind}`;
    if (Array.isArray(grant)) return `--allow-${kind}=${grant.join(",")}`;
    return `--deny-${kind}`;
  }).sort();
}

Deno.test("deno.json: install is deno install --global of main.ts with the server set's grants and start's flags", () => {
  // deno task strips the quotes that keep its shell from expanding a `*`.
  // The task says where it installed after `&&`; the install itself comes first.
  const words = denoJson.tasks.install!.split(" && ")[0]!.replaceAll("'", "").split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "install"]);
  assert.equal(words.at(-1), "main.ts");
  for (const flag of ["--global", "--force", "--name", "session-buddy", "--config", "deno.json"]) {
    assert.ok(words.includes(flag), `install lacks ${flag}`);
  }
  const grants = words.filter((w) => /^--(allow|deny)-/.test(w)).sort();
  assert.deepEqual(grants, grantFlags(denoJson.permissions.server!));
  for (const flag of RUNTIME_FLAGS.filter((f) => f !== "-P=server")) {
    assert.ok(words.includes(flag), `install lacks ${flag}`);
  }
});

Deno.test("deno.json: the tooling's tasks resolve through its own import map and frozen lock", () => {
  for (const name of ["test", "check", "bench", "bench:list", "stress"]) {
    const words = denoJson.tasks[name]!.split(/\s+/);
    for (const flag of ["--frozen", "--import-map=tests/imports.json", "--lock=tests/deno.lock"]) {
      assert.ok(words.includes(flag), `${name} lacks ${flag}`);
    }
  }
});

Deno.test("deno.json: unstable includes kv and worker-options", () => {
  assert.ok(denoJson.unstable?.includes("kv"));
  assert.ok(denoJson.unstable?.includes("worker-options"));
});

Deno.test("workerPermissions: read/write only the store folder and the log file", () => {
  const p = workerPermissions({
    db: at("/var/lib/sb/sessions.kv"),
    logFile: "/var/log/sb.log",
    http: null,
  });
  assert.deepEqual(p.read, ["/var/lib/sb", "/var/log/sb.log"]);
  assert.deepEqual(p.write, ["/var/lib/sb", "/var/log/sb.log"]);
  for (const kind of ["env", "net", "run", "ffi", "sys"] as const) {
    assert.equal(p[kind], false, kind);
  }
});

Deno.test("workerPermissions: without a log file only the store folder", () => {
  const p = workerPermissions({ db: at("/data/s.kv"), logFile: null, http: null });
  assert.deepEqual(p.read, ["/data"]);
  assert.deepEqual(p.write, ["/data"]);
  assert.deepEqual(servingPaths({ db: at("/data/s.kv"), logFile: null }), ["/data"]);
});

Deno.test("workerPermissions: a store at the root folder grants the root only then", () => {
  const p = workerPermissions({ db: at("/s.kv"), logFile: null, http: null });
  assert.deepEqual(p.read, ["/"]);
});

Deno.test("workerPermissions: :memory: gives no read or write at all", () => {
  const p = workerPermissions({ db: at(":memory:"), logFile: null, http: null });
  assert.equal(p.read, false);
  assert.equal(p.write, false);
  for (const kind of ["env", "net", "run", "ffi", "sys"] as const) {
    assert.equal(p[kind], false, kind);
  }
});

Deno.test("workerPermissions: serve --http grants net on exactly the listener's address", () => {
  const http = { port: 8443, tlsCert: null, tlsKey: null, allowedOrigins: [], allowedHosts: [] };
  const v4 = workerPermissions({
    db: at(":memory:"),
    logFile: null,
    http: { ...http, host: "0.0.0.0" },
  });
  assert.deepEqual(v4.net, ["0.0.0.0:8443"]);
  const v6 = workerPermissions({
    db: at(":memory:"),
    logFile: null,
    http: { ...http, host: "::1" },
  });
  assert.deepEqual(v6.net, ["[::1]:8443"]);
  for (const kind of ["env", "run", "ffi", "sys"] as const) assert.equal(v4[kind], false, kind);
});

Deno.test("workerPermissions: a PostgreSQL store grants net on its host:port, or its socket as file and net", () => {
  const tcp = workerPermissions({
    db: at("postgres://sb:pw@10.0.0.5:6432/s?sslmode=require"),
    logFile: null,
    http: null,
  });
  assert.deepEqual(tcp.net, ["10.0.0.5:6432"]);
  assert.equal(tcp.read, false, "no file at all");
  assert.equal(tcp.env, false, "no env: the driver sees an empty environment");
  const socket = workerPermissions({
    db: at("postgres://sb@/s?host=/run/postgresql"),
    logFile: null,
    http: null,
  });
  assert.deepEqual(socket.read, ["/run/postgresql/.s.PGSQL.5432"]);
  assert.deepEqual(socket.write, ["/run/postgresql/.s.PGSQL.5432"]);
  assert.deepEqual(socket.net, ["unix:/run/postgresql/.s.PGSQL.5432"]);
  const http = {
    host: "127.0.0.1",
    port: 8080,
    tlsCert: null,
    tlsKey: null,
    allowedOrigins: [],
    allowedHosts: [],
  };
  const both = workerPermissions({ db: at("postgres://sb@127.0.0.1:5432/s"), logFile: null, http });
  assert.deepEqual(both.net, ["127.0.0.1:8080", "127.0.0.1:5432"]);
});

Deno.test("workerPermissions: a KV Connect store grants its hosts and the token variable, no file", () => {
  const db = "https://api.deno.com/v2/databases/00000000-0000-0000-0000-000000000000/connect";
  const p = workerPermissions({ db: at(db), logFile: null, http: null }, [], [
    "api.deno.com:443",
    "us-east4.kv.example:443",
  ]);
  assert.deepEqual(p.net, ["api.deno.com:443", "us-east4.kv.example:443"]);
  assert.deepEqual(p.env, ["DENO_KV_ACCESS_TOKEN"]);
  assert.equal(p.read, false);
  assert.equal(p.write, false);
  assert.equal(workerPermissions({ db: at("/data/s.kv"), logFile: null, http: null }).env, false);
});

Deno.test("workerPermissions: sessions import reads its input file, and writes nothing but the store", () => {
  const p = workerPermissions({ db: at("/data/s.kv"), logFile: null, http: null }, [
    "/tmp/old.ndjson",
  ]);
  assert.deepEqual(p.read, ["/data", "/tmp/old.ndjson"]);
  assert.deepEqual(p.write, ["/data"]);
});

Deno.test("workerPermissions: :memory: with a log file grants the log file only", () => {
  const p = workerPermissions({ db: at(":memory:"), logFile: "/tmp/x/sb.log", http: null });
  assert.deepEqual(p.read, ["/tmp/x/sb.log"]);
  assert.deepEqual(p.write, ["/tmp/x/sb.log"]);
});

async function probe(
  dir: string,
  outside: string,
  listen?: { host: string; port: number },
): Promise<Record<string, ProbeOutcome>> {
  const http = listen
    ? { ...listen, tlsCert: null, tlsKey: null, allowedOrigins: [], allowedHosts: [] }
    : null;
  const worker = new Worker(new URL("../fixtures/permission_probe.ts", import.meta.url), {
    type: "module",
    deno: {
      permissions: workerPermissions({ db: at(`${dir}/s.kv`), logFile: `${dir}/log`, http }),
    },
  });
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("probe timed out")), 20_000);
      worker.onmessage = (e) => {
        clearTimeout(timer);
        resolve(e.data);
      };
      worker.onerror = (e) => {
        clearTimeout(timer);
        e.preventDefault();
        reject(new Error(`probe failed: ${e.message}`));
      };
      worker.postMessage({ db: `${dir}/s.kv`, dir, outside, listen });
    });
  } finally {
    worker.terminate();
  }
}

Deno.test("a Worker with workerPermissions: KV works, everything else is NotCapable", async () => {
  const { dir, cleanup } = await tempDir();
  const other = await tempDir();
  const outside = `${other.dir}/outside.txt`;
  try {
    const r = await probe(dir, outside);
    assert.deepEqual(r.openKv, { ok: true }, "Deno.openKv on the store works");
    assert.deepEqual(r.writeInside, { ok: true }, "writing in the store folder works");
    for (
      const name of ["readHostnameFile", "writeOutside", "envHome", "fetch", "run", "hostname"]
    ) {
      const outcome = r[name];
      assert.ok(outcome, `${name} reported`);
      assert.equal(outcome.ok, false, `${name} should have been refused`);
      if (!outcome.ok) assert.equal(outcome.notCapable, true, `${name}: ${outcome.error}`);
    }
    await assert.rejects(Deno.stat(outside), Deno.errors.NotFound);
  } finally {
    await cleanup();
    await other.cleanup();
  }
});

Deno.test("a Worker serving HTTP: its own address works, another port or host is NotCapable", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const port = freePort();
    const r = await probe(dir, `${dir}/../outside-${port}.txt`, { host: "127.0.0.1", port });
    assert.deepEqual(r.serveGranted, { ok: true }, "serving on the granted address works");
    for (
      const name of [
        "listenOtherPort",
        "listenAnyAddress",
        "connectOtherHost",
        "readHostnameFile",
        "envHome",
      ]
    ) {
      const outcome = r[name];
      assert.ok(outcome && !outcome.ok, `${name} should have been refused`);
      if (!outcome.ok) assert.equal(outcome.notCapable, true, `${name}: ${outcome.error}`);
    }
  } finally {
    await cleanup();
  }
});
