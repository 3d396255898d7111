/**
 * contrib/systemd: the units are valid for systemd (`systemd-analyze verify`), hold the
 * hardening README "Installing as a systemd service" describes and no secret, their
 * command lines are ones this session-buddy accepts, the example environment file starts
 * no server as shipped, the sysusers file makes the user the units run as, and the
 * collector and the reaper really run under the units' system call filter (emulated
 * with libseccomp, as no systemd runs the tests) but not under MemoryDenyWriteExecute.
 * The namespace settings (ProtectSystem=, PrivateUsers=, RestrictAddressFamilies=, ...)
 * need systemd itself and are checked as written only.
 *
 * systemd is Linux's: elsewhere these tests say that they skipped and pass, in CI too.
 * On Linux a missing tool is a plain "skipped: ..." line, and a failure when CI=true.
 */
import assert from "node:assert/strict";
import { parseInvocation } from "../../src/config.ts";
import { SHUTDOWN_LIMIT_MS } from "../../src/http/serve.ts";
import { connectHttp, freePort } from "../helpers/http.ts";
import {
  compiledBinary,
  mintToken,
  type Output,
  programCommand,
  ROOT,
  runCommand,
  SECRET,
  spawnPiped,
  startArgs,
  tempDir,
} from "../helpers/server.ts";

const CONTRIB = `${ROOT}contrib/systemd/`;
const COLLECTOR = "session-buddy.service";
const REAPER = "session-buddy-reap.service";
const TIMER = "session-buddy-reap.timer";
const UNITS = [COLLECTOR, REAPER, TIMER];
/** Where the units expect the compiled binary. */
const BINARY = "/usr/local/bin/session-buddy";
const ENV_FILE = "/etc/session-buddy/session-buddy.env";
const IN_CI = Deno.env.get("CI") === "true";
const ON_LINUX = Deno.build.os === "linux";

/**
 * A tool this machine lacks: fails in CI on Linux (which must have it), says plainly that
 * it skipped elsewhere.
 */
function skipped(what: string): void {
  if (IN_CI && ON_LINUX) assert.fail(`${what} (CI must have it)`);
  console.log(`skipped: ${what}`);
}

const run = runCommand;

/** One `Key=value` line of a unit file. */
interface Setting {
  section: string;
  key: string;
  value: string;
}

/** Reads a unit file's settings in order (comments and blank lines left out). */
function parseUnit(text: string): Setting[] {
  const settings: Setting[] = [];
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const eq = line.indexOf("=");
    assert.ok(eq > 0, `not a setting: ${line}`);
    settings.push({ section, key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim() });
  }
  return settings;
}

/** Every value of `key` in a section, in order. */
function all(settings: Setting[], section: string, key: string): string[] {
  return settings.filter((s) => s.section === section && s.key === key).map((s) => s.value);
}

/** The one value of `key` in a section (undefined when absent). */
function one(settings: Setting[], section: string, key: string): string | undefined {
  const values = all(settings, section, key);
  assert.ok(values.length <= 1, `${key}= is set ${values.length} times`);
  return values[0];
}

async function unit(name: string): Promise<Setting[]> {
  return parseUnit(await Deno.readTextFile(`${CONTRIB}${name}`));
}

/** `Environment=NAME=value` settings as a map (one assignment per line in these units). */
function environment(settings: Setting[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const value of all(settings, "Service", "Environment")) {
    const eq = value.indexOf("=");
    env[value.slice(0, eq)] = value.slice(eq + 1);
  }
  return env;
}

/** The uncommented `KEY=value` lines of the example environment file. */
async function exampleEnv(): Promise<{ set: Record<string, string>; commented: string[] }> {
  const text = await Deno.readTextFile(`${CONTRIB}session-buddy.env.example`);
  const set: Record<string, string> = {};
  const commented: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^(#?)([A-Z_]+)=(.*)$/.exec(line);
    if (!m) continue;
    if (m[1]) commented.push(`${m[2]}=${m[3]}`);
    else set[m[2]!] = m[3]!;
  }
  return { set, commented };
}

/** A unit's ExecStart as words, `${VAR}` from `env` and `%d` as `credentials`. */
function execWords(
  settings: Setting[],
  env: Record<string, string>,
  credentials = "/run/credentials/session-buddy.service",
): string[] {
  const line = one(settings, "Service", "ExecStart");
  assert.ok(line, "ExecStart= is set");
  return line.split(/\s+/).map((word) =>
    word.replace(/\$\{([A-Z_]+)\}/g, (_, name: string) => {
      assert.ok(name in env, `ExecStart uses \${${name}}, which the unit sets`);
      return env[name]!;
    }).replaceAll("%d", credentials)
  );
}

/** A duration as systemd writes it (`15s`, `1min 30s`, `90`), in seconds. */
function systemdSeconds(text: string): number {
  const units: Record<string, number> = { "": 1, s: 1, sec: 1, min: 60, m: 60, h: 3600 };
  let total = 0;
  for (const part of text.trim().split(/\s+/)) {
    const m = /^(\d+(?:\.\d+)?)([a-z]*)$/.exec(part);
    assert.ok(m && m[2]! in units, `a duration: ${text}`);
    total += Number(m[1]) * units[m[2]!]!;
  }
  return total;
}

/** Copies of the units naming an executable stub instead of the installed binary. */
async function unitCopies(dir: string): Promise<void> {
  // systemd-analyze verify checks that ExecStart's program exists and is executable; the
  // units name the installed binary, which a test machine lacks. The copies name a stub
  // in the temporary folder and are otherwise the files as shipped.
  const stub = `${dir}/bin/session-buddy`;
  await Deno.mkdir(`${dir}/bin`);
  await Deno.writeTextFile(stub, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  for (const name of UNITS) {
    const text = await Deno.readTextFile(`${CONTRIB}${name}`);
    await Deno.writeTextFile(`${dir}/${name}`, text.replaceAll(BINARY, stub));
  }
}

/** What `systemd-analyze verify` says about these files: lines naming them. */
async function verify(dir: string, names: string[]): Promise<Output & { ours: string[] }> {
  const out = await run("systemd-analyze", ["verify", ...names.map((n) => `./${n}`)], {
    cwd: dir,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", SYSTEMD_LOG_COLOR: "0" },
  });
  assert.ok(out, "systemd-analyze ran");
  // verify exits 0 after warnings such as "Unknown key ..., ignoring": any line about our
  // files counts. Lines about other units of the machine (on a host systemd runs) do not.
  const ours = `${out.stdout}\n${out.stderr}`.split("\n").filter((line) =>
    names.some((n) => line.includes(n))
  );
  return { ...out, ours };
}

Deno.test("contrib/systemd: the units pass systemd-analyze verify", async (t) => {
  if (!ON_LINUX) return skipped("systemd units are verified on Linux only");
  if (!(await run("systemd-analyze", ["--version"]))) {
    return skipped("systemd-analyze is not installed (Debian/Ubuntu: systemd)");
  }
  const { dir, cleanup } = await tempDir();
  try {
    await unitCopies(dir);
    await t.step("the collector, the reaper and its timer: no error, no warning", async () => {
      const out = await verify(dir, UNITS);
      assert.deepEqual(out.ours, [], out.stderr);
      assert.equal(out.code, 0, out.stderr);
    });
    await t.step("a misspelt setting is reported (the check above can fail)", async () => {
      const text = await Deno.readTextFile(`${dir}/${COLLECTOR}`);
      await Deno.writeTextFile(
        `${dir}/misspelt.service`,
        text.replace(/^ProtectSystem=strict$/m, "ProtectSystm=strict"),
      );
      const out = await verify(dir, ["misspelt.service"]);
      assert.ok(out.ours.some((line) => line.includes("ProtectSystm")), out.stderr);
    });
  } finally {
    await cleanup();
  }
});

Deno.test("contrib/systemd: the collector unit is hardened and holds no secret", async (t) => {
  const service = await unit(COLLECTOR);
  const text = await Deno.readTextFile(`${CONTRIB}${COLLECTOR}`);
  const get = (key: string) => one(service, "Service", key);

  await t.step("the hardening directives are set", () => {
    const expected: Record<string, string> = {
      Type: "exec",
      User: "session-buddy",
      StateDirectory: "session-buddy",
      StateDirectoryMode: "0700",
      LogsDirectory: "session-buddy",
      UMask: "0077",
      NoNewPrivileges: "yes",
      CapabilityBoundingSet: "",
      AmbientCapabilities: "",
      ProtectSystem: "strict",
      ProtectHome: "yes",
      PrivateTmp: "yes",
      PrivateDevices: "yes",
      PrivateUsers: "yes",
      ProtectProc: "invisible",
      ProtectKernelTunables: "yes",
      ProtectKernelModules: "yes",
      ProtectKernelLogs: "yes",
      ProtectControlGroups: "yes",
      ProtectClock: "yes",
      ProtectHostname: "yes",
      RestrictNamespaces: "yes",
      RestrictRealtime: "yes",
      RestrictSUIDSGID: "yes",
      LockPersonality: "yes",
      RestrictAddressFamilies: "AF_INET AF_INET6 AF_UNIX",
      SystemCallArchitectures: "native",
      SystemCallErrorNumber: "EPERM",
      Restart: "on-failure",
    };
    for (const [key, value] of Object.entries(expected)) assert.equal(get(key), value, key);
    assert.deepEqual(all(service, "Service", "SystemCallFilter"), [
      "@system-service",
      "~@privileged",
    ]);
    // V8's JIT cannot run under it (see the test below): off, and said so.
    assert.equal(get("MemoryDenyWriteExecute"), "no");
    assert.match(text, /V8's JIT/);
  });

  await t.step("the secret comes from a root-only environment file, not the unit", () => {
    // No "-": a missing file fails the unit instead of serving without authentication.
    assert.equal(get("EnvironmentFile"), ENV_FILE);
    for (const name of UNITS) {
      const body = Deno.readTextFileSync(`${CONTRIB}${name}`).split("\n")
        .filter((line) => !line.trim().startsWith("#")).join("\n");
      assert.doesNotMatch(body, /SESSION_BUDDY_SECRET/, name);
      assert.doesNotMatch(body, /\beyJ[A-Za-z0-9_-]+\./, `${name}: no token`);
      for (const value of Object.values(environment(parseUnit(body)))) {
        assert.doesNotMatch(value, /^[A-Za-z0-9_-]{32,}$/, `${name}: no secret-like value`);
      }
    }
  });

  await t.step("the stop timeout leaves room for the server's drain", () => {
    assert.equal(get("KillSignal"), "SIGTERM");
    const seconds = systemdSeconds(get("TimeoutStopSec") ?? "90s");
    assert.ok(seconds > SHUTDOWN_LIMIT_MS / 1000, `TimeoutStopSec ${seconds} s`);
    assert.ok(seconds <= 30, `TimeoutStopSec ${seconds} s: a bit above the drain, not minutes`);
    // A usage error (exit 2) is not retried: a restart cannot fix it.
    assert.equal(get("RestartPreventExitStatus"), "2");
  });

  await t.step("ExecStart is a serve --http command line this session-buddy accepts", () => {
    const env = environment(service);
    assert.equal(env.SESSION_BUDDY_DB, "/var/lib/session-buddy/sessions.kv");
    const words = execWords(service, env);
    assert.equal(words[0], BINARY);
    assert.deepEqual(words.slice(1, 3), ["serve", "--http"]);
    // Each credential the command line reads is one the unit loads.
    for (const name of ["tls.crt", "tls.key"]) {
      assert.ok(
        all(service, "Service", "LoadCredential").includes(`${name}:/etc/session-buddy/${name}`),
        name,
      );
    }
    const invocation = parseInvocation(words.slice(1), { ...env, SESSION_BUDDY_SECRET: SECRET }, {
      os: "linux",
      cwd: "/",
    });
    assert.equal(invocation.kind, "serve");
    if (invocation.kind !== "serve") return;
    assert.equal(invocation.config.db, "/var/lib/session-buddy/sessions.kv");
    assert.deepEqual(invocation.config.http, {
      host: "0.0.0.0",
      port: 8443,
      tlsCert: "/run/credentials/session-buddy.service/tls.crt",
      tlsKey: "/run/credentials/session-buddy.service/tls.key",
      allowedOrigins: [],
      allowedHosts: [],
    });
  });

  await t.step("every optional setting of the example environment file is accepted", async () => {
    const { commented } = await exampleEnv();
    const env: Record<string, string> = { ...environment(service), SESSION_BUDDY_SECRET: SECRET };
    for (const line of commented) {
      const eq = line.indexOf("=");
      env[line.slice(0, eq)] = line.slice(eq + 1);
    }
    assert.ok(commented.length >= 5, commented.join("\n"));
    const invocation = parseInvocation(execWords(service, env).slice(1), env, {
      os: "linux",
      cwd: "/",
    });
    assert.equal(invocation.kind, "serve");
    if (invocation.kind !== "serve") return;
    // EnvironmentFile= overrides Environment=: the file's listen address wins.
    assert.equal(invocation.config.http?.host, "10.0.0.5");
    assert.deepEqual(invocation.config.http?.allowedOrigins, ["https://console.example.com"]);
    assert.equal(invocation.config.logFile, "/var/log/session-buddy/session-buddy.log");
    assert.equal(invocation.config.logLevel, "info");
  });
});

Deno.test("contrib/systemd: the reaper runs sessions reap on the collector's store daily", async () => {
  const [service, reaper, timer] = await Promise.all([unit(COLLECTOR), unit(REAPER), unit(TIMER)]);
  for (const key of ["User", "Group", "StateDirectory", "EnvironmentFile"]) {
    assert.equal(one(reaper, "Service", key), one(service, "Service", key), key);
  }
  assert.equal(one(reaper, "Service", "Type"), "oneshot");
  assert.equal(
    environment(reaper).SESSION_BUDDY_DB,
    environment(service).SESSION_BUDDY_DB,
  );
  const words = execWords(reaper, environment(reaper));
  assert.equal(words[0], BINARY);
  const invocation = parseInvocation(words.slice(1), environment(reaper), {
    os: "linux",
    cwd: "/",
  });
  assert.equal(invocation.kind, "store");
  if (invocation.kind === "store") assert.equal(invocation.command.name, "reap");
  assert.equal(one(reaper, "Service", "PrivateNetwork"), "yes");
  assert.equal(one(reaper, "Service", "MemoryDenyWriteExecute"), "no");
  // The timer starts the service of its own name.
  assert.equal(one(timer, "Timer", "Unit"), undefined);
  assert.equal(TIMER.replace(/\.timer$/, ".service"), REAPER);
  assert.equal(one(timer, "Timer", "OnCalendar"), "daily");
  assert.equal(one(timer, "Install", "WantedBy"), "timers.target");
});

Deno.test("contrib/systemd: the example environment file starts no server as shipped", async () => {
  const { set } = await exampleEnv();
  // Only the secret is set; its placeholder must be refused, not served with.
  assert.deepEqual(Object.keys(set), ["SESSION_BUDDY_SECRET"]);
  const { dir, cleanup } = await tempDir();
  try {
    const service = await unit(COLLECTOR);
    const env = {
      ...environment(service),
      SESSION_BUDDY_HTTP: `127.0.0.1:${freePort()}`,
      SESSION_BUDDY_DB: `${dir}/sessions.kv`,
      HOME: dir,
      ...set,
    };
    const words = execWords(service, env, dir);
    const child = spawnPiped(programCommand(words.slice(1)), env);
    await child.stdin.close();
    const out = await child.output();
    const stderr = new TextDecoder().decode(out.stderr).trim();
    assert.equal(out.code, 2, stderr);
    assert.match(stderr, /^session-buddy: SESSION_BUDDY_SECRET is too short/);
    assert.equal(stderr.split("\n").length, 1, stderr);
    // Exit status 2 is the one the unit does not restart after.
    assert.equal(one(service, "Service", "RestartPreventExitStatus"), "2");
  } finally {
    await cleanup();
  }
});

Deno.test("contrib/systemd: the sysusers file makes the user the units run as", async () => {
  if (!ON_LINUX) return skipped("sysusers.d is checked on Linux only");
  const { dir, cleanup } = await tempDir();
  try {
    await Deno.mkdir(`${dir}/etc`);
    const conf = await Deno.readTextFile(`${CONTRIB}session-buddy.sysusers`);
    const out = await run("systemd-sysusers", [`--root=${dir}`, "-"], { stdin: conf });
    if (!out) return skipped("systemd-sysusers is not installed (Debian/Ubuntu: systemd)");
    assert.equal(out.code, 0, out.stderr);
    const passwd = (await Deno.readTextFile(`${dir}/etc/passwd`)).trim().split("\n");
    assert.equal(passwd.length, 1, passwd.join("\n"));
    const [name, , uid, gid, , home, shell] = passwd[0]!.split(":");
    const service = await unit(COLLECTOR);
    assert.equal(name, one(service, "Service", "User"));
    assert.ok(Number(uid) > 0 && Number(uid) < 1000, `a system uid: ${uid}`);
    // Its home is the unit's StateDirectory, so nothing else of the machine is its own.
    assert.equal(home, `/var/lib/${one(service, "Service", "StateDirectory")}`);
    assert.equal(shell, "/usr/sbin/nologin");
    const group = (await Deno.readTextFile(`${dir}/etc/group`)).trim().split(":");
    assert.deepEqual([group[0], group[2]], [one(service, "Service", "Group"), gid]);
  } finally {
    await cleanup();
  }
});

/** `systemd-analyze syscall-filter`'s groups, each with its members (names or groups). */
async function syscallGroups(): Promise<Map<string, string[]> | null> {
  const out = await run("systemd-analyze", ["syscall-filter"]);
  if (!out || out.code !== 0) return null;
  const groups = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const line of out.stdout.split("\n")) {
    const item = line.trim();
    if (item === "" || item.startsWith("#")) continue;
    if (!line.startsWith(" ")) groups.set(item, current = []);
    else current?.push(item);
  }
  return groups;
}

function expand(groups: Map<string, string[]>, name: string, seen = new Set<string>()): string[] {
  if (!name.startsWith("@")) return [name];
  if (seen.has(name)) return [];
  seen.add(name);
  const members = groups.get(name);
  assert.ok(members, `systemd knows the group ${name}`);
  return members.flatMap((m) => expand(groups, m, seen));
}

/**
 * The system calls a unit's SystemCallFilter= lines allow, as systemd reads them: the
 * first line without `~` starts an allow-list, `~` lines take from it, others add.
 */
function allowedCalls(groups: Map<string, string[]>, filters: string[]): string[] {
  // systemd permits these in every allow-list, whatever it says.
  const allowed = new Set([
    "execve",
    "exit",
    "exit_group",
    "getrlimit",
    "rt_sigreturn",
    "sigreturn",
  ]);
  assert.ok(filters.length > 0 && !filters[0]!.startsWith("~"), "an allow-list comes first");
  for (const filter of filters) {
    const deny = filter.startsWith("~");
    for (const name of filter.replace(/^~/, "").split(/\s+/)) {
      for (const call of expand(groups, name)) deny ? allowed.delete(call) : allowed.add(call);
    }
  }
  return [...allowed].sort();
}

/**
 * Runs a program under a seccomp filter that allows only the listed calls and fails the
 * others with EPERM, as SystemCallErrorNumber=EPERM does (after PR_SET_NO_NEW_PRIVS, as
 * NoNewPrivileges=yes). libseccomp is the library systemd itself builds its filters with.
 */
const SECCOMP_WRAPPER = `
import ctypes, errno, os, sys
lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
lib.seccomp_init.restype = ctypes.c_void_p
lib.seccomp_init.argtypes = [ctypes.c_uint32]
lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
lib.seccomp_load.argtypes = [ctypes.c_void_p]
ALLOW = 0x7FFF0000
ctx = lib.seccomp_init(0x00050000 | errno.EPERM)
for name in open(sys.argv[1]).read().split():
    nr = lib.seccomp_syscall_resolve_name(name.encode())
    if nr >= 0 and lib.seccomp_rule_add(ctx, ALLOW, nr, 0) != 0:
        sys.exit("seccomp_rule_add failed for " + name)
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(38, 1, 0, 0, 0) != 0 or lib.seccomp_load(ctx) != 0:
    sys.exit("cannot load the seccomp filter")
os.execvp(sys.argv[2], sys.argv[2:])
`;

/** The program as the units run it: the compiled binary when the run has one. */
function installed(args: string[]): { command: string; args: string[] } {
  const bin = compiledBinary();
  return bin ? { command: bin, args } : programCommand(args);
}

/** A private CA and a certificate for 127.0.0.1 signed by it, as tls.crt and tls.key. */
async function makeCertificate(dir: string): Promise<string | null> {
  const steps = [
    `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -days 2 -subj /CN=test-ca -keyout ca.key -out ca.crt`,
    `openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout tls.key -out tls.csr`,
    `openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -days 2 -copy_extensions copy -out tls.crt`,
  ];
  for (const step of steps) {
    const [command, ...args] = step.split(" ");
    const out = await run(command!, args, { cwd: dir });
    if (!out) return null;
    assert.equal(out.code, 0, `${step}\n${out.stderr}`);
  }
  return await Deno.readTextFile(`${dir}/ca.crt`);
}

Deno.test("contrib/systemd: the collector and the reaper run under the units' system call filter", async (t) => {
  if (!ON_LINUX) return skipped("seccomp filters are Linux's");
  const groups = await syscallGroups();
  if (!groups) return skipped("systemd-analyze is not installed (Debian/Ubuntu: systemd)");
  const probe = await run("python3", [
    "-c",
    "import ctypes, sys; ctypes.CDLL('libseccomp.so.2'); print(sys.executable)",
  ]);
  if (probe?.code !== 0) return skipped("python3 with libseccomp.so.2 is not available");
  // The interpreter itself: a PATH shim (pyenv) may need variables the children lack.
  const python = probe.stdout.trim();
  const { dir, cleanup } = await tempDir();
  try {
    const [service, reaper] = await Promise.all([unit(COLLECTOR), unit(REAPER)]);
    assert.equal(one(service, "Service", "SystemCallErrorNumber"), "EPERM");
    assert.equal(one(service, "Service", "NoNewPrivileges"), "yes");
    await Deno.writeTextFile(`${dir}/seccomp.py`, SECCOMP_WRAPPER);
    const filtered = async (settings: Setting[], name: string) => {
      const list = `${dir}/${name}.allowed`;
      await Deno.writeTextFile(
        list,
        allowedCalls(groups, all(settings, "Service", "SystemCallFilter")).join("\n"),
      );
      return (command: { command: string; args: string[] }) => ({
        command: python,
        args: [`${dir}/seccomp.py`, list, command.command, ...command.args],
      });
    };
    const underCollector = await filtered(service, "collector");
    const underReaper = await filtered(reaper, "reaper");

    await t.step("the filter is in force: a call of @privileged is refused", async () => {
      const file = `${dir}/owned`;
      await Deno.writeTextFile(file, "");
      const uid = (await run("id", ["-u"]))!.stdout.trim();
      const plain = await run("chown", [uid, file]);
      assert.equal(plain?.code, 0, plain?.stderr);
      const wrapped = underCollector({ command: "chown", args: [uid, file] });
      const out = await run(wrapped.command, wrapped.args);
      assert.notEqual(out?.code, 0);
      assert.match(out!.stderr, /Operation not permitted/);
    });

    const creds = `${dir}/credentials`;
    await Deno.mkdir(creds);
    const ca = await makeCertificate(creds);
    if (!ca) return skipped("openssl is not installed");
    const state = `${dir}/state`;
    const logs = `${dir}/logs`;
    await Deno.mkdir(state, { mode: 0o700 });
    await Deno.mkdir(logs, { mode: 0o700 });
    const port = freePort();
    const env: Record<string, string> = {
      ...environment(service),
      SESSION_BUDDY_HTTP: `127.0.0.1:${port}`,
      SESSION_BUDDY_DB: `${state}/sessions.kv`,
      SESSION_BUDDY_LOG_FILE: `${logs}/session-buddy.log`,
      SESSION_BUDDY_SECRET: SECRET,
      // What reap closes: sessions unseen for longer than this.
      SESSION_BUDDY_STALE_AFTER: "1s",
      HOME: state,
    };

    await t.step("the collector serves HTTPS, tracks a session and stops with 0", async () => {
      const child = spawnPiped(
        underCollector(installed(execWords(service, env, creds).slice(1))),
        env,
      );
      await child.stdin.close();
      let stderr = "";
      const decoder = new TextDecoder();
      const pumps = [
        (async () => {
          for await (const chunk of child.stderr) stderr += decoder.decode(chunk, { stream: true });
        })(),
        child.stdout.cancel(),
      ];
      let exited = false;
      const status = child.status.finally(() => exited = true);
      let code: number;
      try {
        const until = Date.now() + 30_000;
        while (!stderr.includes("serving MCP on")) {
          assert.ok(!exited && Date.now() < until, `the collector did not start:\n${stderr}`);
          await new Promise((r) => setTimeout(r, 20));
        }
        const client = Deno.createHttpClient({ caCerts: [ca] });
        try {
          const origin = `https://127.0.0.1:${port}`;
          const health = await fetch(`${origin}/healthz`, { client });
          assert.equal(health.status, 200, await health.text());
          const token = await mintToken();
          const mcp = await connectHttp(`${origin}/mcp`, {
            headers: { authorization: `Bearer ${token}` },
            fetch: ((input: string | URL | Request, init?: RequestInit) =>
              fetch(input, { ...init, client })) as typeof fetch,
          });
          try {
            const started = await mcp.call("track_session_start", startArgs());
            assert.equal(started.status, "tracked", JSON.stringify(started));
          } finally {
            await mcp.close();
          }
          const metrics = await fetch(`${origin}/metrics`, {
            client,
            headers: { authorization: `Bearer ${token}` },
          });
          assert.equal(metrics.status, 200);
          assert.match(
            await metrics.text(),
            /session_buddy_tool_calls_total\{tool="track_session_start",status="tracked"\} 1/,
          );
        } finally {
          client.close();
        }
      } finally {
        // As systemctl stop does.
        if (!exited) child.kill("SIGTERM");
        ({ code } = await status);
        await Promise.all(pumps);
      }
      assert.equal(code, 0, stderr);
      assert.doesNotMatch(stderr, /NotCapable|Operation not permitted|panicked/);
      const logged = await Deno.readTextFile(`${logs}/session-buddy.log`);
      assert.match(logged, /Session start tracked: /);
    });

    await t.step("the reaper ends the session, unseen for longer than allowed", async () => {
      // SESSION_BUDDY_STALE_AFTER is 1 s: the session is stale once that has passed.
      await new Promise((r) => setTimeout(r, 1500));
      const reapEnv = { ...environment(reaper), ...env };
      const command = underReaper(installed(execWords(reaper, reapEnv).slice(1)));
      const child = spawnPiped(command, reapEnv);
      await child.stdin.close();
      const out = await child.output();
      const decoder = new TextDecoder();
      const stdout = decoder.decode(out.stdout);
      assert.equal(out.code, 0, decoder.decode(out.stderr));
      assert.match(stdout, /^Reaped 1 session:/, stdout);
    });
  } finally {
    await cleanup();
  }
});

Deno.test("contrib/systemd: MemoryDenyWriteExecute stays off, as Deno cannot start under it", async () => {
  if (!ON_LINUX) return skipped("MemoryDenyWriteExecute is Linux's");
  const service = await unit(COLLECTOR);
  assert.equal(one(service, "Service", "MemoryDenyWriteExecute"), "no");
  // The kernel's own form of the setting (PR_SET_MDWE, Linux 6.3), which newer systemd
  // versions use; older ones install a seccomp filter with the same effect.
  const wrapper = [
    "import ctypes, os, sys",
    "libc = ctypes.CDLL(None, use_errno=True)",
    "if libc.prctl(65, 1, 0, 0, 0) != 0: sys.exit(77)",
    "os.execv(sys.argv[1], sys.argv[1:])",
  ].join("\n");
  const control = await run("python3", ["-c", wrapper, "/bin/sh", "-c", "exit 0"]);
  if (!control) return skipped("python3 is not installed");
  if (control.code === 77) {
    return console.log("skipped: this kernel has no PR_SET_MDWE (Linux 6.3 or later)");
  }
  assert.equal(control.code, 0, `a program without a JIT runs under it: ${control.stderr}`);
  const program = installed(["--version"]);
  const out = await run("python3", ["-c", wrapper, program.command, ...program.args]);
  assert.ok(out);
  // Should this ever pass, MemoryDenyWriteExecute=yes can be turned on.
  assert.notEqual(out.code, 0, `session-buddy ran under MemoryDenyWriteExecute:\n${out.stdout}`);
});
