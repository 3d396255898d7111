/**
 * contrib/systemd and docs/systemd.md: the units and their drop-ins are valid for systemd
 * (`systemd-analyze verify` on every combination, and systemd's own reading of each one
 * compared with the one these tests emulate), hold the hardening docs/systemd.md describes
 * and no secret, load every credential their command lines read, and their command lines
 * are ones this session-buddy accepts. The example environment files hold only variables
 * the program reads (and the forwarder's COLLECTOR_URL, which only its ExecStart= reads),
 * no secret, and the collector's starts no server without the secret credential. The
 * sysusers file makes the user the units run as.
 *
 * The units' commands really run as systemd would start them (their Environment=,
 * EnvironmentFile=, UnsetEnvironment=, specifiers and `$$`, a credentials folder in place
 * of /run/credentials) under their SystemCallFilter= and RestrictAddressFamilies= (built
 * with libseccomp, as systemd builds them; no systemd runs the tests) and, where a unit
 * says PrivateNetwork=yes, in a network namespace of their own: the collector over HTTPS
 * on a Deno KV file, behind the proxy drop-in on PostgreSQL and over HTTPS on KV Connect
 * (real servers, tests/helpers/stores.ts), each tracking a session that the reaper then
 * ends, and the reaper without a store drop-in failing to reach a remote store; and a
 * host's forwarder sending a session of the host's store to a collector, as root without
 * any capability (setpriv, when the tests run as root). The other namespace settings
 * (ProtectSystem=, PrivateUsers=, ...) need systemd itself and are checked as written only. MemoryDenyWriteExecute stays off because Deno cannot start
 * under it.
 *
 * Every fenced block of docs/systemd.md is checked: unit snippets are lines of the files in
 * contrib/systemd, environment lines are in the example and accepted, and every command
 * runs under a temporary root (systemctl verbs that need a running manager are checked
 * against what the commands before them installed).
 *
 * systemd is Linux's: elsewhere these tests say that they skipped and pass, in CI too.
 * On Linux a missing tool is a plain "skipped: ..." line, and a failure when CI=true; so is
 * a store (PostgreSQL, KV Connect) the helpers cannot start here.
 */
import assert from "node:assert/strict";
import { jwtVerify } from "jose";
import { parseInvocation } from "../../src/cli/invocation.ts";
import { parseLocation } from "../../src/store/location.ts";
import { UsageError } from "../../src/usage_error.ts";
import { SHUTDOWN_LIMIT_MS } from "../../src/http/serve.ts";
import { SEND_DEADLINE_MS } from "../../src/forward/target.ts";
import { connectHttp, freePort, type HttpRunning, startHttpServer } from "../helpers/http.ts";
import {
  compiledBinary,
  endArgs,
  MAIN,
  mintToken,
  type Output,
  programCommand,
  ROOT,
  runCommand,
  SECRET,
  spawnPiped,
  startArgs,
  startServer,
  tempDir,
} from "../helpers/server.ts";
import {
  KV_STORE,
  type StoreName,
  STORES,
  type TestStore,
  UNAVAILABLE,
} from "../helpers/stores.ts";

const CONTRIB = `${ROOT}contrib/systemd/`;
const DOCS = `${ROOT}docs/systemd.md`;
const COLLECTOR = "session-buddy.service";
const REAPER = "session-buddy-reap.service";
const TIMER = "session-buddy-reap.timer";
/** A host's forwarder (`session-buddy forward --collector`), on the hosts, not the collector. */
const FORWARDER = "session-buddy-forward.service";
const UNITS = [COLLECTOR, REAPER, TIMER, FORWARDER];
/** The drop-ins shipped for each unit, in the order systemd applies them. */
const DROP_INS: Record<string, string[]> = {
  [COLLECTOR]: ["10-proxy.conf", "20-kv-connect.conf", "20-postgres.conf"],
  [REAPER]: ["20-kv-connect.conf", "20-postgres.conf"],
};
/** The drop-in of each store kept elsewhere, for both units. */
const STORE_DROP_IN: Record<"postgres" | "kv-connect", string> = {
  postgres: "20-postgres.conf",
  "kv-connect": "20-kv-connect.conf",
};
/** What each store drop-in hands over: the credential, and the variable it becomes. */
const STORE_CREDENTIAL: Record<"postgres" | "kv-connect", [string, string]> = {
  postgres: ["db-password", "SESSION_BUDDY_DB_PASSWORD"],
  "kv-connect": ["kv-access-token", "DENO_KV_ACCESS_TOKEN"],
};
/** Where the units expect the compiled binary. */
const BINARY = "/usr/local/bin/session-buddy";
const ENV_FILE = "/etc/session-buddy/session-buddy.env";
const FORWARD_ENV_FILE = "/etc/session-buddy/forward.env";
/** The forwarder's example environment file, and the variable only its ExecStart= reads. */
const FORWARD_EXAMPLE = "forward.env.example";
const COLLECTOR_URL = "COLLECTOR_URL";
/** The Host a proxy in front forwards, in these tests. */
const PROXY_HOST = "collector.example.com";
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

// ---------------------------------------------------------------------------------------
// Unit files as systemd reads them

/** One `Key=value` line of a unit file. */
interface Setting {
  section: string;
  key: string;
  value: string;
}

/**
 * Reads a unit file's settings in order (comments and blank lines left out). A line ending
 * in a backslash goes on on the next one, the backslash read as a space, as systemd does.
 */
function parseUnit(text: string): Setting[] {
  const settings: Setting[] = [];
  let section = "";
  let pending: string | null = null;
  for (const raw of text.split("\n")) {
    const trimmed = raw.trim();
    if (trimmed.startsWith("#") || trimmed.startsWith(";")) continue;
    if (pending === null && trimmed === "") continue;
    if (trimmed.endsWith("\\")) {
      pending = `${pending ?? ""}${trimmed.slice(0, -1)} `;
      continue;
    }
    const line = `${pending ?? ""}${trimmed}`.trim();
    pending = null;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const eq = line.indexOf("=");
    assert.ok(eq > 0, `not a setting: ${line}`);
    settings.push({ section, key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim() });
  }
  assert.equal(pending, null, "the file ends in a continued line");
  return settings;
}

/** Every value of `key` in a section, in order, as written. */
function all(settings: Setting[], section: string, key: string): string[] {
  return settings.filter((s) => s.section === section && s.key === key).map((s) => s.value);
}

/** The one value of `key` in a section (undefined when absent). */
function one(settings: Setting[], section: string, key: string): string | undefined {
  const values = all(settings, section, key);
  assert.ok(values.length <= 1, `${key}= is set ${values.length} times`);
  return values[0];
}

/** A list setting as systemd builds it: each value adds, an empty one resets the list. */
function list(settings: Setting[], section: string, key: string): string[] {
  let out: string[] = [];
  for (const value of all(settings, section, key)) out = value === "" ? [] : [...out, value];
  return out;
}

/** A single-valued setting: the last assignment wins. */
function last(settings: Setting[], section: string, key: string): string | undefined {
  return all(settings, section, key).at(-1);
}

/** A unit with some of its drop-ins: the settings systemd reads, in its order. */
interface Unit {
  name: string;
  dropIns: string[];
  settings: Setting[];
}

/** Reads a unit and the named drop-ins of `<name>.d/` from `dir` (contrib/systemd). */
async function loadUnit(name: string, dropIns: string[] = [], dir = CONTRIB): Promise<Unit> {
  // systemd applies drop-ins in the order of their file names, whatever order they came in.
  const sorted = [...dropIns].sort();
  const texts = await Promise.all([
    Deno.readTextFile(`${dir}${name}`),
    ...sorted.map((d) => Deno.readTextFile(`${dir}${name}.d/${d}`)),
  ]);
  return { name, dropIns: sorted, settings: texts.flatMap(parseUnit) };
}

/** `%d` (the credentials folder) and `%%` resolved, as systemd does when it loads a unit. */
function specifiers(text: string, credentials: string): string {
  return text.replace(/%(.)/g, (_, c: string) => {
    if (c === "d") return credentials;
    if (c === "%") return "%";
    return assert.fail(`a specifier these tests do not resolve: %${c}`);
  });
}

/** `text` for a regular expression that matches it literally. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The credentials folder systemd gives a system service. */
function credentialsOf(name: string): string {
  return `/run/credentials/${name}`;
}

/**
 * The `Environment=` assignments, specifiers resolved, as systemd merges them: a variable
 * assigned again keeps its place and takes the later value.
 */
function environmentList(unit: Unit, credentials = credentialsOf(unit.name)): string[] {
  const merged = new Map<string, string>();
  for (const value of list(unit.settings, "Service", "Environment")) {
    // One assignment per line in these units: no quoting to undo.
    assert.match(value, /^[A-Z_]+=\S*$/, `one plain assignment per Environment= line: ${value}`);
    const eq = value.indexOf("=");
    merged.set(value.slice(0, eq), specifiers(value.slice(eq + 1), credentials));
  }
  return [...merged].map(([name, value]) => `${name}=${value}`);
}

/** `Environment=NAME=value` settings as a map. */
function environment(unit: Unit, credentials = credentialsOf(unit.name)): Record<string, string> {
  const env: Record<string, string> = {};
  for (const assignment of environmentList(unit, credentials)) {
    const eq = assignment.indexOf("=");
    env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
  }
  return env;
}

/** The names `UnsetEnvironment=` removes. */
function unsetNames(unit: Unit): string[] {
  return list(unit.settings, "Service", "UnsetEnvironment").flatMap((v) => v.split(/\s+/));
}

/** The credentials a unit loads: id to source path. */
function credentials(unit: Unit): Map<string, string> {
  return new Map(
    list(unit.settings, "Service", "LoadCredential").map((value) => {
      const colon = value.indexOf(":");
      assert.ok(colon > 0, `LoadCredential=ID:PATH: ${value}`);
      return [value.slice(0, colon), value.slice(colon + 1)];
    }),
  );
}

/**
 * The environment systemd starts the unit's command with: Environment=, then the
 * environment file (which wins), less UnsetEnvironment=, with CREDENTIALS_DIRECTORY when
 * the unit loads credentials.
 */
function unitEnv(
  unit: Unit,
  envFile: Record<string, string>,
  creds = credentialsOf(unit.name),
): Record<string, string> {
  const env: Record<string, string> = { ...environment(unit, creds), ...envFile };
  for (const name of unsetNames(unit)) delete env[name];
  if (credentials(unit).size > 0) env.CREDENTIALS_DIRECTORY = creds;
  return env;
}

/** A command line split into words as systemd splits ExecStart= (quotes removed). */
function splitWords(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1);
      assert.ok(end > i, `an unclosed quote in: ${line}`);
      let quoted = line.slice(i + 1, end);
      if (c === '"') {
        // Escapes within double quotes (systemd's dump writes \" and \$ there).
        let j = i + 1;
        quoted = "";
        for (; line[j] !== '"'; j++) {
          if (line[j] === "\\") j++;
          assert.ok(j < line.length, `an unclosed quote in: ${line}`);
          quoted += line[j];
        }
        i = j;
      } else {
        i = end;
      }
      word = (word ?? "") + quoted;
    } else if (c === "\\") {
      word = (word ?? "") + (line[++i] ?? "");
    } else {
      word = (word ?? "") + c;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

/** The one ExecStart= command line of a unit (empty assignments reset the list). */
function execLine(unit: Unit): string {
  const lines = list(unit.settings, "Service", "ExecStart");
  assert.equal(lines.length, 1, `${unit.name} ${unit.dropIns.join(" ")}: one ExecStart=`);
  return lines[0]!;
}

/** The ExecStart words once systemd has loaded the unit: specifiers resolved. */
function loadedWords(unit: Unit, creds = credentialsOf(unit.name)): string[] {
  const words = splitWords(execLine(unit));
  for (const word of words) {
    // "$NAME" as a word of its own would be split at white space: these units never do.
    assert.doesNotMatch(word, /^\$[A-Za-z_]/, `a bare variable in ExecStart: ${word}`);
  }
  return words.map((word) => specifiers(word, creds));
}

/**
 * The words the program is started with: `${NAME}` from `env` (which must set it), `$$` as
 * `$` (systemd's escape of a dollar meant for the program, here the shell).
 */
function execWords(unit: Unit, env: Record<string, string>, creds = credentialsOf(unit.name)) {
  return loadedWords(unit, creds).map((word) =>
    word.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (match, name?: string) => {
      if (match === "$$") return "$";
      assert.ok(name! in env, `ExecStart uses \${${name}}, which the unit's environment sets`);
      return env[name!]!;
    })
  );
}

/**
 * The program's own words: those after `sh` when a store drop-in starts it through
 * `/bin/sh -c '...' sh`, else all of them. The shell's script is checked as written.
 */
function programWords(words: string[]): string[] {
  if (words[0] !== "/bin/sh") return words;
  assert.equal(words[1], "-c");
  // `$$` as written in the unit, `$` once systemd has passed it on.
  assert.match(words[2]!, /^([A-Z_]+)=\$\$?\(cat \S+\) && export \1 && exec "\$\$?@"$/);
  assert.equal(words[3], "sh");
  return words.slice(4);
}

/** The uncommented `KEY=value` lines of the example environment file, as systemd reads them. */
function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    assert.ok(m, `not an assignment: ${line}`);
    env[m[1]!] = m[2]!.replace(/^"(.*)"$|^'(.*)'$/, "$1$2");
  }
  return env;
}

/**
 * An example environment file (the collector's unless named): what it sets, and its
 * commented settings grouped as they go together (a run of `#KEY=value` lines with nothing
 * between them is one choice).
 */
async function exampleEnv(name = "session-buddy.env.example"): Promise<
  { text: string; set: Record<string, string>; choices: [string, string][][] }
> {
  const text = await Deno.readTextFile(`${CONTRIB}${name}`);
  const choices: [string, string][][] = [];
  let current: [string, string][] | null = null;
  for (const line of text.split("\n")) {
    const m = /^#([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!m) {
      current = null;
      continue;
    }
    if (!current) choices.push(current = []);
    current.push([m[1]!, m[2]!]);
  }
  return { text, set: parseEnvFile(text), choices };
}

/** The variables main.ts reads (its ENV_NAMES), from its source. */
async function programVariables(): Promise<string[]> {
  const source = await Deno.readTextFile(MAIN);
  const m = /const ENV_NAMES = \[([\s\S]*?)\];/.exec(source);
  assert.ok(m, "main.ts lists the variables it reads in ENV_NAMES");
  const names = [...m[1]!.matchAll(/"([A-Z_]+)"/g)].map((x) => x[1]!);
  assert.ok(names.includes("SESSION_BUDDY_DB"), names.join(", "));
  return names;
}

/** Parses a command line as this session-buddy does (the secret file read from `files`). */
function parseWords(
  words: string[],
  env: Record<string, string>,
  files: Record<string, string> = {},
) {
  return parseInvocation(words, env, {
    os: "linux",
    cwd: "/",
    readTextFile: (path: string) => {
      if (path in files) return files[path]!;
      throw new Deno.errors.NotFound(path);
    },
  });
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

/** Each combination of a unit and its drop-ins an operator may install. */
const COMBINATIONS: { unit: string; dropIns: string[]; with?: string[] }[] = [
  { unit: COLLECTOR, dropIns: [] },
  { unit: COLLECTOR, dropIns: ["10-proxy.conf"] },
  { unit: COLLECTOR, dropIns: ["20-postgres.conf"] },
  { unit: COLLECTOR, dropIns: ["20-kv-connect.conf"] },
  { unit: COLLECTOR, dropIns: ["10-proxy.conf", "20-postgres.conf"] },
  { unit: COLLECTOR, dropIns: ["10-proxy.conf", "20-kv-connect.conf"] },
  { unit: REAPER, dropIns: [], with: [TIMER] },
  { unit: REAPER, dropIns: ["20-postgres.conf"], with: [TIMER] },
  { unit: REAPER, dropIns: ["20-kv-connect.conf"], with: [TIMER] },
  { unit: FORWARDER, dropIns: [] },
];

function label(c: { unit: string; dropIns: string[] }): string {
  return [c.unit, ...c.dropIns].join(" + ");
}

// ---------------------------------------------------------------------------------------
// systemd-analyze verify, and systemd's own reading of each combination

/**
 * Copies of a unit (with the timer, when given) and the chosen drop-ins in `dir`, naming an
 * executable stub instead of the installed binary: systemd-analyze verify checks that
 * ExecStart's program exists and is executable, and the units name the installed binary,
 * which a test machine lacks. Otherwise the files as shipped.
 */
async function unitCopies(
  dir: string,
  combination: { unit: string; dropIns: string[]; with?: string[] },
): Promise<string> {
  const stub = `${dir}/bin/session-buddy`;
  await Deno.mkdir(`${dir}/bin`, { recursive: true });
  await Deno.writeTextFile(stub, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  const copy = async (from: string, to: string) => {
    const text = await Deno.readTextFile(`${CONTRIB}${from}`);
    await Deno.writeTextFile(`${dir}/${to}`, text.replaceAll(BINARY, stub), { mode: 0o644 });
  };
  for (const name of [combination.unit, ...(combination.with ?? [])]) await copy(name, name);
  if (combination.dropIns.length > 0) {
    await Deno.mkdir(`${dir}/${combination.unit}.d`, { mode: 0o755 });
    for (const d of combination.dropIns) {
      await copy(`${combination.unit}.d/${d}`, `${combination.unit}.d/${d}`);
    }
  }
  return stub;
}

/** What `systemd-analyze verify` says about these files: lines naming them. */
async function verify(dir: string, names: string[]): Promise<Output & { ours: string[] }> {
  const out = await run("systemd-analyze", ["verify", ...names.map((n) => `./${n}`)], {
    cwd: dir,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", SYSTEMD_LOG_COLOR: "0" },
  });
  assert.ok(out, "systemd-analyze ran");
  // verify exits 0 after warnings such as "Unknown key ..., ignoring": any line about our
  // files (drop-ins included: their paths name the unit) counts. Lines about other units of
  // the machine (on a host systemd runs) do not.
  const ours = `${out.stdout}\n${out.stderr}`.split("\n").filter((line) =>
    names.some((n) => line.includes(n))
  );
  return { ...out, ours };
}

/** What systemd's manager itself makes of a unit: the parts its test mode prints. */
interface SystemdReading {
  dropIns: string[];
  environment: string[];
  unset: string[];
  privateNetwork: string | undefined;
  exec: string[];
}

/** The systemd manager's binary, if this machine has one. */
async function systemdBinary(): Promise<string | null> {
  for (const path of ["/usr/lib/systemd/systemd", "/lib/systemd/systemd"]) {
    try {
      if ((await Deno.stat(path)).isFile) return path;
    } catch { /* not here */ }
  }
  return null;
}

/**
 * `systemd --test --system --unit=NAME`, which loads the unit and its drop-ins from `dir`
 * (SYSTEMD_UNIT_PATH) as the manager does and prints what it read, without starting
 * anything. It refuses to run as root: as root it runs as nobody (the folder is made
 * readable to all for that).
 */
async function systemdReading(
  binary: string,
  dir: string,
  name: string,
): Promise<SystemdReading> {
  const root = (await run("id", ["-u"]))?.stdout.trim() === "0";
  const command = root
    ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", binary]
    : [binary];
  if (root) {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) await Deno.chmod(`${dir}/${entry.name}`, 0o755);
    }
    // The folder and the test's temporary folder above it (made 0700).
    await Deno.chmod(dir, 0o755);
    await Deno.chmod(dir.slice(0, dir.lastIndexOf("/")), 0o755);
  }
  const out = await run(command[0]!, [
    ...command.slice(1),
    "--test",
    "--system",
    `--unit=${name}`,
    "--no-pager",
  ], {
    env: { SYSTEMD_UNIT_PATH: `${dir}:`, SYSTEMD_LOG_LEVEL: "err", SYSTEMD_LOG_COLOR: "0" },
  });
  assert.ok(out, `${command[0]} ran`);
  assert.equal(out.code, 0, out.stderr);
  const lines = out.stdout.split("\n");
  const start = lines.findIndex((l) => l.trim() === `-> Unit ${name}:`);
  assert.ok(start >= 0, `systemd --test printed ${name}:\n${out.stderr}`);
  const reading: SystemdReading = {
    dropIns: [],
    environment: [],
    unset: [],
    privateNetwork: undefined,
    exec: [],
  };
  for (const line of lines.slice(start + 1)) {
    const item = line.trim();
    if (item.startsWith("-> Unit ") || item.startsWith("-> Job ")) break;
    const m = /^([A-Za-z ]+): (.*)$/.exec(item);
    if (!m) continue;
    const [, key, value] = m;
    if (key === "Unit Load State") assert.equal(value, "loaded", out.stderr);
    else if (key === "DropIn Path") reading.dropIns.push(value!.slice(value!.lastIndexOf("/") + 1));
    else if (key === "Environment") reading.environment.push(value!);
    else if (key === "UnsetEnvironment") reading.unset.push(value!);
    else if (key === "PrivateNetwork") reading.privateNetwork = value;
    else if (key === "Command Line") {
      assert.deepEqual(reading.exec, [], "one command line");
      reading.exec = splitWords(value!);
    }
  }
  return reading;
}

Deno.test("contrib/systemd: each combination of units and drop-ins passes systemd-analyze verify", async (t) => {
  if (!ON_LINUX) return skipped("systemd units are verified on Linux only");
  if (!(await run("systemd-analyze", ["--version"]))) {
    return skipped("systemd-analyze is not installed (Debian/Ubuntu: systemd)");
  }
  const { dir, cleanup } = await tempDir();
  try {
    await t.step("the drop-in folders hold the drop-ins these tests know", async () => {
      for (const [unit, dropIns] of Object.entries(DROP_INS)) {
        const found: string[] = [];
        for await (const e of Deno.readDir(`${CONTRIB}${unit}.d`)) found.push(e.name);
        assert.deepEqual(found.sort(), dropIns, unit);
      }
    });
    let n = 0;
    for (const combination of COMBINATIONS) {
      await t.step(`${label(combination)}: no error, no warning`, async () => {
        const sub = `${dir}/${++n}`;
        await Deno.mkdir(sub);
        await unitCopies(sub, combination);
        const out = await verify(sub, [combination.unit, ...(combination.with ?? [])]);
        assert.deepEqual(out.ours, [], out.stderr);
        assert.equal(out.code, 0, out.stderr);
      });
    }
    await t.step("a misspelt setting is reported, in a unit and in a drop-in", async () => {
      const sub = `${dir}/misspelt`;
      await Deno.mkdir(sub);
      await unitCopies(sub, { unit: COLLECTOR, dropIns: ["10-proxy.conf"] });
      const unitFile = `${sub}/${COLLECTOR}`;
      const text = await Deno.readTextFile(unitFile);
      await Deno.writeTextFile(
        unitFile,
        text.replace(/^ProtectSystem=strict$/m, "ProtectSystm=strict"),
      );
      const dropIn = `${sub}/${COLLECTOR}.d/10-proxy.conf`;
      await Deno.writeTextFile(
        dropIn,
        (await Deno.readTextFile(dropIn)).replace("UnsetEnvironment=", "UnsetEnviroment="),
      );
      const out = await verify(sub, [COLLECTOR]);
      assert.ok(out.ours.some((line) => line.includes("ProtectSystm")), out.stderr);
      assert.ok(out.ours.some((line) => line.includes("UnsetEnviroment")), out.stderr);
    });
  } finally {
    await cleanup();
  }
});

Deno.test("contrib/systemd: systemd's own reading of each combination is the one these tests run", async (t) => {
  if (!ON_LINUX) return skipped("systemd units are read on Linux only");
  const binary = await systemdBinary();
  if (!binary) return skipped("no systemd manager binary (Debian/Ubuntu: systemd)");
  const { dir, cleanup } = await tempDir();
  try {
    let n = 0;
    for (const combination of COMBINATIONS) {
      await t.step(label(combination), async () => {
        const sub = `${dir}/${++n}`;
        await Deno.mkdir(sub);
        const stub = await unitCopies(sub, combination);
        const reading = await systemdReading(binary, sub, combination.unit);
        // The emulation below, on the same copies.
        const unit = await loadUnit(combination.unit, combination.dropIns, `${sub}/`);
        assert.deepEqual(reading.dropIns, unit.dropIns);
        assert.deepEqual(reading.exec, loadedWords(unit));
        assert.ok(reading.exec.includes(stub), reading.exec.join(" "));
        assert.deepEqual(reading.environment, environmentList(unit));
        assert.deepEqual(reading.unset, unsetNames(unit));
        assert.equal(
          reading.privateNetwork,
          last(unit.settings, "Service", "PrivateNetwork") ?? "no",
        );
      });
    }
  } finally {
    await cleanup();
  }
});

// ---------------------------------------------------------------------------------------
// The units as written

Deno.test("contrib/systemd: the collector unit is hardened and holds no secret", async (t) => {
  const service = await loadUnit(COLLECTOR);
  const text = await Deno.readTextFile(`${CONTRIB}${COLLECTOR}`);
  const get = (key: string) => one(service.settings, "Service", key);

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
    assert.deepEqual(all(service.settings, "Service", "SystemCallFilter"), [
      "@system-service",
      "~@privileged",
    ]);
    // V8's JIT cannot run under it (see the test below): off, and said so.
    assert.equal(get("MemoryDenyWriteExecute"), "no");
    assert.match(text, /V8's JIT/);
  });

  await t.step("no unit, drop-in or example holds a secret, a password or a token", async () => {
    // No "-": a missing file fails the unit instead of starting on defaults.
    assert.equal(get("EnvironmentFile"), ENV_FILE);
    const files = [...UNITS, "session-buddy.env.example", FORWARD_EXAMPLE];
    for (const [unit, dropIns] of Object.entries(DROP_INS)) {
      files.push(...dropIns.map((d) => `${unit}.d/${d}`));
    }
    for (const name of files) {
      const text = await Deno.readTextFile(`${CONTRIB}${name}`);
      for (
        const variable of [
          "SESSION_BUDDY_SECRET",
          "SESSION_BUDDY_DB_PASSWORD",
          "SESSION_BUDDY_FORWARD_TOKEN",
        ]
      ) {
        assert.doesNotMatch(text, new RegExp(`^#?\\s*(Environment=)?${variable}=`, "m"), name);
      }
      assert.doesNotMatch(text, /^#?\s*(Environment=)?DENO_KV_ACCESS_TOKEN=/m, name);
      assert.doesNotMatch(text, /\beyJ[A-Za-z0-9_-]+\./, `${name}: no token`);
      assert.doesNotMatch(text, /:\/\/[^/\s:@]+:[^/\s@]+@/, `${name}: no password in a URL`);
      for (const [, value] of text.matchAll(/^#?\s*(?:Environment=)?[A-Z_]+=(.*)$/gm)) {
        assert.doesNotMatch(value!, /^[A-Za-z0-9_-]{32,}$/, `${name}: no secret-like value`);
      }
    }
  });

  await t.step(
    "each combination loads every credential its command line reads, from /etc",
    async () => {
      for (const combination of COMBINATIONS) {
        const unit = await loadUnit(combination.unit, combination.dropIns);
        const creds = credentials(unit);
        const folder = credentialsOf(unit.name);
        // Every path into the credentials folder, in the command line or a variable.
        const used = new Set<string>();
        const env = unitEnv(unit, {});
        const texts = [...loadedWords(unit), ...Object.values(env)];
        for (const text of texts) {
          for (
            const [, id] of text.matchAll(new RegExp(`${literal(folder)}/([A-Za-z0-9._-]+)`, "g"))
          ) {
            used.add(id!);
          }
        }
        assert.deepEqual([...used].sort(), [...creds.keys()].sort(), label(combination));
        for (const [id, path] of creds) {
          assert.equal(path, `/etc/session-buddy/${id}`, `${label(combination)}: ${id}`);
        }
      }
    },
  );

  await t.step("the stop timeout leaves room for the server's drain", () => {
    assert.equal(get("KillSignal"), "SIGTERM");
    const seconds = systemdSeconds(get("TimeoutStopSec") ?? "90s");
    assert.ok(seconds > SHUTDOWN_LIMIT_MS / 1000, `TimeoutStopSec ${seconds} s`);
    assert.ok(seconds <= 30, `TimeoutStopSec ${seconds} s: a bit above the drain, not minutes`);
    // A usage error (exit 2) is not retried: a restart cannot fix it.
    assert.equal(get("RestartPreventExitStatus"), "2");
  });

  await t.step("ExecStart is a serve --http command line this session-buddy accepts", () => {
    const env = unitEnv(service, {});
    assert.equal(env.SESSION_BUDDY_DB, "/var/lib/session-buddy/sessions.kv");
    const words = execWords(service, env);
    assert.equal(words[0], BINARY);
    assert.deepEqual(words.slice(1, 3), ["serve", "--http"]);
    const folder = credentialsOf(COLLECTOR);
    const invocation = parseWords(words.slice(1), env, { [`${folder}/secret`]: `${SECRET}\n` });
    assert.equal(invocation.kind, "serve");
    if (invocation.kind !== "serve") return;
    assert.equal(invocation.config.secret, SECRET);
    assert.deepEqual(invocation.config.db, {
      kind: "file",
      path: "/var/lib/session-buddy/sessions.kv",
    });
    assert.deepEqual(invocation.config.http, {
      host: "0.0.0.0",
      port: 8443,
      tlsCert: `${folder}/tls.crt`,
      tlsKey: `${folder}/tls.key`,
      allowedOrigins: [],
      allowedHosts: [],
    });
  });

  await t.step("a store drop-in wraps the unit's own command line, unchanged", async () => {
    for (const [unitName, dropIns] of Object.entries(DROP_INS)) {
      const base = await loadUnit(unitName);
      for (const d of dropIns.filter((d) => d.startsWith("20-"))) {
        const unit = await loadUnit(unitName, [d]);
        const words = loadedWords(unit);
        assert.deepEqual(programWords(words), loadedWords(base), `${unitName} ${d}`);
        // The shell reads the credential the drop-in loads into the variable it names.
        const kind = d === "20-postgres.conf" ? "postgres" : "kv-connect";
        const [id, variable] = STORE_CREDENTIAL[kind];
        assert.equal(
          words[2],
          `${variable}=$$(cat ${
            credentialsOf(unitName)
          }/${id}) && export ${variable} && exec "$$@"`,
        );
        // Nothing else of the unit changes but what a remote store needs.
        const changed = new Set(["ExecStart", "LoadCredential"]);
        if (unitName === REAPER) {
          for (const key of ["PrivateNetwork", "RestrictAddressFamilies"]) changed.add(key);
        }
        const keys = new Set(base.settings.map((s) => `${s.section}\0${s.key}`));
        for (const key of keys) {
          const [section, name] = key.split("\0") as [string, string];
          if (changed.has(name)) continue;
          assert.deepEqual(
            list(unit.settings, section, name),
            list(base.settings, section, name),
            `${unitName} ${d}: ${name}`,
          );
        }
      }
    }
  });
});

Deno.test("contrib/systemd: the proxy drop-in serves plain HTTP on loopback and needs no TLS file", async () => {
  const proxied = await loadUnit(COLLECTOR, ["10-proxy.conf"]);
  // Only the secret is loaded: systemd fails a start whose credential file is missing, so a
  // proxy install needs no tls.crt or tls.key.
  assert.deepEqual([...credentials(proxied).keys()], ["secret"]);
  const env = unitEnv(proxied, {});
  assert.equal(env.SESSION_BUDDY_TLS_CERT, undefined);
  assert.equal(env.SESSION_BUDDY_TLS_KEY, undefined);
  assert.equal(env.SESSION_BUDDY_HTTP, "127.0.0.1:8765");
  const words = execWords(proxied, env);
  assert.ok(!words.some((w) => /tls/.test(w)), words.join(" "));
  const folder = credentialsOf(COLLECTOR);
  const secretFile = { [`${folder}/secret`]: SECRET };
  const invocation = parseWords(words.slice(1), env, secretFile);
  assert.equal(invocation.kind, "serve");
  if (invocation.kind !== "serve") return;
  // Loopback: no --plain-http needed, and Host names a proxy forwards can be allowed.
  assert.deepEqual(
    [invocation.config.http?.host, invocation.config.http?.port, invocation.config.http?.tlsCert],
    ["127.0.0.1", 8765, null],
  );
  assert.equal(invocation.config.secret, SECRET);
  const allowed = parseWords(words.slice(1), {
    ...env,
    SESSION_BUDDY_ALLOWED_HOSTS: PROXY_HOST,
  }, secretFile);
  assert.ok(allowed.kind === "serve" && allowed.config.http?.allowedHosts.includes(PROXY_HOST));

  // With a store drop-in: the proxy's reset comes first, the store's credential after it.
  for (const kind of ["postgres", "kv-connect"] as const) {
    const both = await loadUnit(COLLECTOR, ["10-proxy.conf", STORE_DROP_IN[kind]]);
    assert.deepEqual([...credentials(both).keys()], ["secret", STORE_CREDENTIAL[kind][0]]);
    assert.deepEqual(programWords(execWords(both, unitEnv(both, {}))), words);
  }
  for (const d of DROP_INS[COLLECTOR]!.filter((d) => d !== "10-proxy.conf")) {
    assert.ok(d > "10-proxy.conf", `${d} comes after 10-proxy.conf`);
    const settings = parseUnit(await Deno.readTextFile(`${CONTRIB}${COLLECTOR}.d/${d}`));
    assert.ok(!all(settings, "Service", "LoadCredential").includes(""), `${d} resets nothing`);
  }
});

Deno.test("contrib/systemd: the reaper runs sessions reap daily, reaching a remote store only with its drop-in", async () => {
  const [service, reaper, timer] = await Promise.all([
    loadUnit(COLLECTOR),
    loadUnit(REAPER),
    loadUnit(TIMER),
  ]);
  for (const key of ["User", "Group", "StateDirectory", "EnvironmentFile"]) {
    assert.equal(
      one(reaper.settings, "Service", key),
      one(service.settings, "Service", key),
      key,
    );
  }
  assert.equal(one(reaper.settings, "Service", "Type"), "oneshot");
  assert.equal(environment(reaper).SESSION_BUDDY_DB, environment(service).SESSION_BUDDY_DB);
  // The reaper needs no secret and no TLS file.
  assert.deepEqual([...credentials(reaper).keys()], []);
  const words = execWords(reaper, unitEnv(reaper, {}));
  assert.deepEqual(words, [BINARY, "sessions", "reap"]);
  const invocation = parseWords(words.slice(1), unitEnv(reaper, {}));
  assert.equal(invocation.kind, "store");
  if (invocation.kind === "store") assert.equal(invocation.command.name, "reap");
  // On the Deno KV file: no network at all.
  assert.equal(one(reaper.settings, "Service", "PrivateNetwork"), "yes");
  assert.equal(one(reaper.settings, "Service", "RestrictAddressFamilies"), "AF_UNIX");
  assert.equal(one(reaper.settings, "Service", "MemoryDenyWriteExecute"), "no");
  // The collector's hardening, setting for setting, but for the network.
  const network = new Set(["PrivateNetwork", "RestrictAddressFamilies"]);
  for (const s of service.settings.filter((s) => s.section === "Service")) {
    if (
      network.has(s.key) ||
      !/^(Protect|Private|Restrict|NoNew|Capab|Ambient|SystemCall|Lock|UMask|Keyring|RemoveIPC|MemoryDeny)/
        .test(s.key)
    ) continue;
    assert.deepEqual(
      list(reaper.settings, "Service", s.key),
      list(service.settings, "Service", s.key),
      s.key,
    );
  }
  // With a store drop-in: IPv4 and IPv6, once the network is up, and the store's credential.
  for (const kind of ["postgres", "kv-connect"] as const) {
    const remote = await loadUnit(REAPER, [STORE_DROP_IN[kind]]);
    assert.equal(last(remote.settings, "Service", "PrivateNetwork"), "no");
    assert.deepEqual(addressFamilies(remote), ["AF_INET", "AF_INET6", "AF_UNIX"]);
    assert.deepEqual(list(remote.settings, "Unit", "Wants"), ["network-online.target"]);
    assert.deepEqual(list(remote.settings, "Unit", "After"), ["network-online.target"]);
    assert.deepEqual([...credentials(remote).keys()], [STORE_CREDENTIAL[kind][0]]);
    assert.deepEqual(programWords(execWords(remote, unitEnv(remote, {}))), words);
  }
  // The timer starts the service of its own name.
  assert.equal(one(timer.settings, "Timer", "Unit"), undefined);
  assert.equal(TIMER.replace(/\.timer$/, ".service"), REAPER);
  assert.equal(one(timer.settings, "Timer", "OnCalendar"), "daily");
  assert.equal(one(timer.settings, "Timer", "Persistent"), "true");
  assert.equal(one(timer.settings, "Install", "WantedBy"), "timers.target");
});

Deno.test("contrib/systemd: the forward unit is hardened and holds no secret", async (t) => {
  const [service, forwarder] = await Promise.all([loadUnit(COLLECTOR), loadUnit(FORWARDER)]);
  const get = (key: string) => one(forwarder.settings, "Service", key);
  const folder = credentialsOf(FORWARDER);
  const { set } = await exampleEnv(FORWARD_EXAMPLE);

  await t.step("the hardening directives are set", () => {
    const expected: Record<string, string> = {
      Type: "exec",
      // Root, as the shells that write the host's store are, with no capability at all.
      User: "root",
      StateDirectory: "session-buddy",
      StateDirectoryMode: "0700",
      UMask: "0077",
      NoNewPrivileges: "yes",
      CapabilityBoundingSet: "",
      AmbientCapabilities: "",
      ProtectSystem: "strict",
      ProtectHome: "yes",
      PrivateTmp: "yes",
      PrivateDevices: "yes",
      DevicePolicy: "closed",
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
      RemoveIPC: "yes",
      LockPersonality: "yes",
      KeyringMode: "private",
      RestrictAddressFamilies: "AF_INET AF_INET6 AF_UNIX",
      SystemCallArchitectures: "native",
      SystemCallErrorNumber: "EPERM",
      MemoryDenyWriteExecute: "no",
      Restart: "on-failure",
    };
    for (const [key, value] of Object.entries(expected)) assert.equal(get(key), value, key);
    assert.deepEqual(all(forwarder.settings, "Service", "SystemCallFilter"), [
      "@system-service",
      "~@privileged",
    ]);
    // PrivateUsers=yes would make root someone else, who could not open root's store.
    assert.equal(get("PrivateUsers"), undefined);
    assert.equal(get("Group"), undefined);
    // The collector's hardening, setting for setting, but for PrivateUsers.
    for (const s of service.settings.filter((s) => s.section === "Service")) {
      if (
        s.key === "PrivateUsers" ||
        !/^(Protect|Private|Restrict|NoNew|Capab|Ambient|SystemCall|Lock|UMask|Keyring|RemoveIPC|MemoryDeny|DevicePolicy)/
          .test(s.key)
      ) continue;
      assert.deepEqual(
        list(forwarder.settings, "Service", s.key),
        list(service.settings, "Service", s.key),
        s.key,
      );
    }
    // The collector is reached over the network: started once it is up.
    assert.deepEqual(list(forwarder.settings, "Unit", "Wants"), ["network-online.target"]);
    assert.deepEqual(list(forwarder.settings, "Unit", "After"), ["network-online.target"]);
    assert.equal(one(forwarder.settings, "Install", "WantedBy"), "multi-user.target");
    // The same store as a collector's on its own host: the shells' MCP configuration names it.
    assert.equal(get("StateDirectory"), one(service.settings, "Service", "StateDirectory"));
    assert.equal(environment(forwarder).SESSION_BUDDY_DB, environment(service).SESSION_BUDDY_DB);
  });

  await t.step("no token in the unit or in its example environment file", async () => {
    // No "-": a missing file fails the unit instead of starting without a collector.
    assert.equal(get("EnvironmentFile"), FORWARD_ENV_FILE);
    assert.ok(!("SESSION_BUDDY_FORWARD_TOKEN" in unitEnv(forwarder, set)));
    for (const name of [FORWARDER, FORWARD_EXAMPLE]) {
      const text = await Deno.readTextFile(`${CONTRIB}${name}`);
      assert.doesNotMatch(text, /^#?\s*(Environment=)?SESSION_BUDDY_FORWARD_TOKEN=/m, name);
      assert.doesNotMatch(text, /\beyJ[A-Za-z0-9_-]+\./, `${name}: no token`);
      assert.doesNotMatch(text, /:\/\/[^/\s:@]+:[^/\s@]+@/, `${name}: no password in a URL`);
    }
  });

  await t.step("the token is a credential from /etc, and the command line reads it", () => {
    assert.deepEqual([...credentials(forwarder)], [[
      "forward-token",
      "/etc/session-buddy/forward-token",
    ]]);
    const words = loadedWords(forwarder);
    const at = words.indexOf("--forward-token-file");
    assert.ok(at > 0, words.join(" "));
    assert.equal(words[at + 1], `${folder}/forward-token`);
  });

  await t.step("the stop timeout leaves room for the delivery under way", () => {
    assert.equal(get("KillSignal"), "SIGTERM");
    const seconds = systemdSeconds(get("TimeoutStopSec") ?? "90s");
    assert.ok(seconds > SEND_DEADLINE_MS / 1000, `TimeoutStopSec ${seconds} s`);
    assert.ok(seconds <= 60, `TimeoutStopSec ${seconds} s: a bit above the deadline`);
    // A usage error (exit 2: a bad URL, an empty token file) is not retried.
    assert.equal(get("RestartPreventExitStatus"), "2");
  });

  await t.step("ExecStart is a forward to a collector this session-buddy accepts", async () => {
    assert.match(set[COLLECTOR_URL] ?? "", /^https:\/\/\S+\/mcp$/);
    const env = unitEnv(forwarder, set);
    const words = execWords(forwarder, env);
    assert.equal(words[0], BINARY);
    assert.deepEqual(words.slice(1, 3), ["forward", "--collector"]);
    const token = await mintToken({ user_id: "forward-host-b" });
    const invocation = parseWords(words.slice(1), env, {
      [`${folder}/forward-token`]: `${token}\n`,
    });
    assert.equal(invocation.kind, "forward");
    if (invocation.kind !== "forward" || invocation.command.mode !== "send") {
      return assert.fail(JSON.stringify(invocation));
    }
    assert.deepEqual(invocation.command.target, { kind: "collector", url: set[COLLECTOR_URL] });
    // Running until SIGTERM, not once.
    assert.equal(invocation.command.once, false);
    assert.equal(invocation.token, token);
    assert.deepEqual(invocation.config.db, {
      kind: "file",
      path: "/var/lib/session-buddy/sessions.kv",
    });
    // An empty token file is a usage error (exit 2, not restarted); a missing one is a
    // failed start (systemd itself fails it first).
    assert.throws(
      () => parseWords(words.slice(1), env, { [`${folder}/forward-token`]: "\n" }),
      (error: unknown) => error instanceof UsageError && /is empty/.test(error.message),
    );
    assert.throws(
      () => parseWords(words.slice(1), env),
      (error: unknown) =>
        !(error instanceof UsageError) && /cannot read the token/.test(
          (error as Error).message,
        ),
    );
  });
});

/** RestrictAddressFamilies= as systemd merges it (an allow-list; empty resets), sorted. */
function addressFamilies(unit: Unit): string[] | null {
  const values = list(unit.settings, "Service", "RestrictAddressFamilies");
  if (values.length === 0) return null;
  const families = new Set<string>();
  for (const value of values) {
    assert.ok(!value.startsWith("~"), "an allow-list");
    for (const f of value.split(/\s+/)) families.add(f);
  }
  return [...families].sort();
}

// ---------------------------------------------------------------------------------------
// The example environment file

/** Variables that hold a secret: never in the environment file. */
const SECRET_VARIABLES = [
  "SESSION_BUDDY_SECRET",
  "SESSION_BUDDY_SECRET_FILE",
  "SESSION_BUDDY_DB_PASSWORD",
  "DENO_KV_ACCESS_TOKEN",
  "SESSION_BUDDY_FORWARD_TOKEN",
];

/** The store drop-in a store location needs, if any. */
function storeDropIn(db: string | undefined): string[] {
  if (db === undefined || db.startsWith("/")) return [];
  if (/^postgres(ql)?:\/\//.test(db)) return [STORE_DROP_IN.postgres];
  if (/^https?:\/\//.test(db)) return [STORE_DROP_IN["kv-connect"]];
  return assert.fail(`a store location the units do not know: ${db}`);
}

/** Where a variable's value lands in the parsed configuration, to see it taken. */
function landed(invocation: ReturnType<typeof parseWords>, name: string): unknown {
  // COLLECTOR_URL reaches the program through the forwarder's command line only.
  if (invocation.kind === "forward" && name === COLLECTOR_URL) {
    const { command } = invocation;
    return command.mode === "send" && command.target.kind === "collector"
      ? command.target.url
      : undefined;
  }
  if (
    invocation.kind !== "serve" && invocation.kind !== "store" && invocation.kind !== "forward"
  ) return undefined;
  const { config } = invocation;
  const http = invocation.kind === "serve" ? config.http : null;
  switch (name) {
    case "SESSION_BUDDY_DB":
      return config.db;
    case "SESSION_BUDDY_DB_CA":
      return config.dbCa;
    case "SESSION_BUDDY_LOG_FILE":
      return config.logFile;
    case "SESSION_BUDDY_LOG_LEVEL":
      return config.logLevel;
    case "SESSION_BUDDY_STALE_AFTER":
      return `${config.staleAfterMs / 3_600_000}h`;
    case "SESSION_BUDDY_HTTP":
      return http ? `${http.host}:${http.port}` : undefined;
    case "SESSION_BUDDY_ALLOWED_ORIGINS":
      return http?.allowedOrigins.join(",");
    case "SESSION_BUDDY_ALLOWED_HOSTS":
      return http?.allowedHosts.join(",");
    case "SESSION_BUDDY_SEAL_KEY_FILE":
      return config.seal?.keyFile;
    case "SESSION_BUDDY_SEAL_EVERY":
      return config.seal ? `${config.seal.everyMs / 60_000}m` : undefined;
    default:
      return assert.fail(`a variable this test does not follow: ${name}`);
  }
}

/**
 * Both units' command lines with `settings` in the environment file (and the store drop-in
 * they need): each must be accepted; `taken` says what each variable became.
 */
async function acceptedBy(settings: Record<string, string>): Promise<void> {
  const folder = credentialsOf(COLLECTOR);
  const files = { [`${folder}/secret`]: SECRET };
  for (const name of [COLLECTOR, REAPER]) {
    const unit = await loadUnit(name, storeDropIn(settings.SESSION_BUDDY_DB));
    const env = unitEnv(unit, settings);
    const what = `${label({ unit: name, dropIns: unit.dropIns })} with ${JSON.stringify(settings)}`;
    let invocation;
    try {
      invocation = parseWords(programWords(execWords(unit, env)).slice(1), env, files);
    } catch (error) {
      assert.fail(`${what}: ${(error as Error).message}`);
    }
    assert.equal(invocation.kind, name === COLLECTOR ? "serve" : "store", what);
    for (const [key, value] of Object.entries(settings)) {
      if (key === "SESSION_BUDDY_REQUIRE_AUTH") continue;
      // The reaper has no HTTP listener, no log file and seals nothing: those are the
      // collector's.
      if (name === REAPER && /HTTP|ALLOWED|LOG_FILE|SEAL/.test(key)) continue;
      // The store's location lands read (parsed) as the program reads it from cwd `/`.
      const expected = key === "SESSION_BUDDY_DB" ? parseLocation(value, "/") : value;
      assert.deepEqual(landed(invocation, key), expected, `${what}: ${key}`);
    }
  }
}

Deno.test("contrib/systemd: every variable of the example environment file is one the program reads, and is accepted", async (t) => {
  const { text, set, choices } = await exampleEnv();
  const readable = await programVariables();
  const named = [...Object.keys(set), ...choices.flat().map(([k]) => k)];

  await t.step("the program reads each one, and none is a secret", () => {
    for (const name of named) {
      assert.ok(readable.includes(name), `${name} is not in main.ts ENV_NAMES`);
      assert.ok(!SECRET_VARIABLES.includes(name), `${name} holds a secret`);
    }
  });

  await t.step("it lists what an operator sets, and where the secrets go instead", () => {
    for (
      const name of [
        "SESSION_BUDDY_DB",
        "SESSION_BUDDY_DB_CA",
        "SESSION_BUDDY_HTTP",
        "SESSION_BUDDY_ALLOWED_ORIGINS",
        "SESSION_BUDDY_ALLOWED_HOSTS",
        "SESSION_BUDDY_REQUIRE_AUTH",
        "SESSION_BUDDY_LOG_FILE",
        "SESSION_BUDDY_LOG_LEVEL",
        "SESSION_BUDDY_STALE_AFTER",
      ]
    ) {
      assert.ok(named.includes(name), name);
    }
    // A store of each kind.
    const stores = choices.flat().filter(([k]) => k === "SESSION_BUDDY_DB").map(([, v]) => v);
    assert.ok(stores.some((db) => db.startsWith("/var/lib/session-buddy/")), stores.join(" "));
    assert.ok(stores.some((db) => db.startsWith("postgres://")), stores.join(" "));
    assert.ok(stores.some((db) => db.startsWith("https://")), stores.join(" "));
    // TLS: the unit's own credentials, and the variables they go through, named.
    for (const name of ["SESSION_BUDDY_TLS_CERT", "SESSION_BUDDY_TLS_KEY", "10-proxy.conf"]) {
      assert.ok(text.includes(name), name);
    }
    // Each secret's file, and the credential every unit loads it as.
    const loaded = new Set<string>();
    for (const [unit, dropIns] of Object.entries(DROP_INS)) {
      for (const d of ["", ...dropIns]) {
        const path = d === "" ? `${CONTRIB}${unit}` : `${CONTRIB}${unit}.d/${d}`;
        const settings = parseUnit(Deno.readTextFileSync(path));
        for (const value of all(settings, "Service", "LoadCredential")) {
          if (value !== "") loaded.add(value.slice(value.indexOf(":") + 1));
        }
      }
    }
    for (const path of loaded) {
      if (/tls\.(crt|key)$/.test(path)) continue;
      assert.ok(text.includes(path), `the example names ${path}`);
    }
  });

  await t.step("as shipped it sets SESSION_BUDDY_REQUIRE_AUTH=1 only", async () => {
    assert.deepEqual(set, { SESSION_BUDDY_REQUIRE_AUTH: "1" });
    await acceptedBy(set);
  });

  for (const choice of choices) {
    await t.step(`accepted: ${choice.map(([k, v]) => `${k}=${v}`).join(" ")}`, async () => {
      await acceptedBy({ ...set, ...Object.fromEntries(choice) });
    });
  }
});

Deno.test("contrib/systemd: the example environment file starts no server as shipped, without the secret credential", async (t) => {
  const { set } = await exampleEnv();
  const { dir, cleanup } = await tempDir();
  try {
    const service = await loadUnit(COLLECTOR);
    const creds = `${dir}/credentials`;
    await Deno.mkdir(creds);
    const env = unitEnv(service, {
      ...set,
      SESSION_BUDDY_HTTP: `127.0.0.1:${freePort()}`,
      SESSION_BUDDY_DB: `${dir}/sessions.kv`,
    }, creds);
    const start = async (words: string[]) => {
      const child = spawnPiped(programCommand(words.slice(1)), { ...env, HOME: dir });
      await child.stdin.close();
      const out = await child.output();
      const stderr = new TextDecoder().decode(out.stderr).trim();
      assert.equal(stderr.split("\n").length, 1, stderr);
      return { code: out.code, stderr };
    };
    const words = execWords(service, env, creds);

    await t.step(
      "no secret file: one line, exit 1 (systemd itself fails such a start)",
      async () => {
        const out = await start(words);
        assert.equal(out.code, 1, out.stderr);
        assert.match(
          out.stderr,
          /^session-buddy: cannot read the secret file .*\/credentials\/secret/,
        );
      },
    );

    await t.step("an empty or a placeholder secret: one line, exit 2, not restarted", async () => {
      await Deno.writeTextFile(`${creds}/secret`, "");
      let out = await start(words);
      assert.equal(out.code, 2, out.stderr);
      assert.match(out.stderr, /secret file .* is empty/);
      await Deno.writeTextFile(`${creds}/secret`, "replace-me\n");
      out = await start(words);
      assert.equal(out.code, 2, out.stderr);
      assert.match(out.stderr, /secret file .* is too short/);
      assert.equal(one(service.settings, "Service", "RestartPreventExitStatus"), "2");
    });

    await t.step(
      "a command line without --secret-file: refused, as the example requires auth",
      async () => {
        const at = words.indexOf("--secret-file");
        assert.ok(at > 0);
        const out = await start([...words.slice(0, at), ...words.slice(at + 2)]);
        assert.equal(out.code, 2, out.stderr);
        assert.match(out.stderr, /authentication is required/);
      },
    );

    await t.step("a secret left in the environment file (an older install) is refused", () => {
      assert.throws(
        () =>
          parseWords(words.slice(1), { ...env, SESSION_BUDDY_SECRET: SECRET }, {
            [`${creds}/secret`]: SECRET,
          }),
        (error: unknown) => error instanceof UsageError && /both set/.test(error.message),
      );
    });
  } finally {
    await cleanup();
  }
});

/**
 * The forwarder's command line with `settings` in its environment file: accepted as a
 * forward to a collector, each variable taken.
 */
async function forwardAccepts(settings: Record<string, string>): Promise<void> {
  const unit = await loadUnit(FORWARDER);
  const folder = credentialsOf(FORWARDER);
  const env = unitEnv(unit, settings);
  const what = `${FORWARDER} with ${JSON.stringify(settings)}`;
  let invocation;
  try {
    invocation = parseWords(execWords(unit, env).slice(1), env, {
      [`${folder}/forward-token`]: "forward-token\n",
    });
  } catch (error) {
    assert.fail(`${what}: ${(error as Error).message}`);
  }
  assert.equal(invocation.kind, "forward", what);
  for (const [key, value] of Object.entries(settings)) {
    const expected = key === "SESSION_BUDDY_DB" ? parseLocation(value, "/") : value;
    assert.deepEqual(landed(invocation, key), expected, `${what}: ${key}`);
  }
}

Deno.test("contrib/systemd: every variable of forward.env.example is one the program reads, or COLLECTOR_URL for ExecStart=", async (t) => {
  const { text, set, choices } = await exampleEnv(FORWARD_EXAMPLE);
  const readable = await programVariables();
  const forwarder = await loadUnit(FORWARDER);
  const named = [...Object.keys(set), ...choices.flat().map(([k]) => k)];

  await t.step("the program reads each one, but COLLECTOR_URL, which ExecStart= uses", () => {
    const used = [...execLine(forwarder).matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)]
      .map((m) => m[1]!);
    assert.deepEqual(used, [COLLECTOR_URL]);
    // systemd's alone: the program never reads it, so it cannot stand in for --collector.
    assert.ok(!readable.includes(COLLECTOR_URL), `${COLLECTOR_URL} is in main.ts ENV_NAMES`);
    for (const name of named) {
      assert.ok(
        readable.includes(name) || used.includes(name),
        `${name} is neither in main.ts ENV_NAMES nor used by ExecStart=`,
      );
      assert.ok(!SECRET_VARIABLES.includes(name), `${name} holds a secret`);
    }
    assert.ok(named.includes("SESSION_BUDDY_DB") && named.includes("SESSION_BUDDY_LOG_LEVEL"));
  });

  await t.step("it names the token's file, which the unit loads as a credential", () => {
    for (const path of credentials(forwarder).values()) {
      assert.ok(text.includes(path), `the example names ${path}`);
    }
  });

  await t.step("as shipped it sets COLLECTOR_URL only, which the command line takes", async () => {
    assert.deepEqual(Object.keys(set), [COLLECTOR_URL]);
    await forwardAccepts(set);
  });

  for (const choice of choices) {
    await t.step(`accepted: ${choice.map(([k, v]) => `${k}=${v}`).join(" ")}`, async () => {
      await forwardAccepts({ ...set, ...Object.fromEntries(choice) });
    });
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
    const service = await loadUnit(COLLECTOR);
    assert.equal(name, one(service.settings, "Service", "User"));
    assert.ok(Number(uid) > 0 && Number(uid) < 1000, `a system uid: ${uid}`);
    // Its home is the unit's StateDirectory, so nothing else of the machine is its own.
    assert.equal(home, `/var/lib/${one(service.settings, "Service", "StateDirectory")}`);
    assert.equal(shell, "/usr/sbin/nologin");
    const group = (await Deno.readTextFile(`${dir}/etc/group`)).trim().split(":");
    assert.deepEqual([group[0], group[2]], [one(service.settings, "Service", "Group"), gid]);
  } finally {
    await cleanup();
  }
});

// ---------------------------------------------------------------------------------------
// Running the units' commands as systemd would

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

/** The address families RestrictAddressFamilies= names, as numbers (Linux's). */
const FAMILIES: Record<string, number> = { AF_UNIX: 1, AF_INET: 2, AF_INET6: 10 };

/**
 * Runs a program under a seccomp filter that allows only the listed calls and fails the
 * others with EPERM, as SystemCallErrorNumber=EPERM does (after PR_SET_NO_NEW_PRIVS, as
 * NoNewPrivileges=yes), and, when families are given, allows socket() for those address
 * families only, as RestrictAddressFamilies= does. libseccomp is the library systemd itself
 * builds its filters with. Arguments: the file of allowed calls, the families (numbers,
 * comma-separated, or "-" for any), then the command.
 */
const SECCOMP_WRAPPER = `
import ctypes, errno, os, sys
lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
class Cmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]
lib.seccomp_init.restype = ctypes.c_void_p
lib.seccomp_init.argtypes = [ctypes.c_uint32]
lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
lib.seccomp_rule_add_array.argtypes = [
    ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(Cmp)]
lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
lib.seccomp_load.argtypes = [ctypes.c_void_p]
ALLOW = 0x7FFF0000
SCMP_CMP_EQ = 4
ctx = lib.seccomp_init(0x00050000 | errno.EPERM)
families = None if sys.argv[2] == "-" else [int(f) for f in sys.argv[2].split(",")]
names = open(sys.argv[1]).read().split()
for name in names:
    if name == "socket" and families is not None:
        continue
    nr = lib.seccomp_syscall_resolve_name(name.encode())
    if nr >= 0 and lib.seccomp_rule_add(ctx, ALLOW, nr, 0) != 0:
        sys.exit("seccomp_rule_add failed for " + name)
if families is not None and "socket" in names:
    nr = lib.seccomp_syscall_resolve_name(b"socket")
    for family in families:
        cmp = Cmp(0, SCMP_CMP_EQ, family, 0)
        if lib.seccomp_rule_add_array(ctx, ALLOW, nr, 1, ctypes.byref(cmp)) != 0:
            sys.exit("seccomp_rule_add_array failed for socket")
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(38, 1, 0, 0, 0) != 0 or lib.seccomp_load(ctx) != 0:
    sys.exit("cannot load the seccomp filter")
os.execvp(sys.argv[3], sys.argv[3:])
`;

/** The installed program's words: the compiled binary when the run has one. */
function installedProgram(): string[] {
  const bin = compiledBinary();
  if (bin) return [bin];
  const command = programCommand([]);
  return [command.command, ...command.args];
}

/** Runs commands as a unit's settings confine them, as far as this machine allows. */
interface Sandbox {
  /** The command that runs `words` (the installed binary's path replaced) under `unit`. */
  command(unit: Unit, words: string[]): Promise<{ command: string; args: string[] }>;
  /** Whether PrivateNetwork=yes is emulated (a network namespace of its own). */
  privateNetwork: boolean;
  /**
   * Whether User=root with an empty CapabilityBoundingSet= (the forwarder) runs as root
   * without any capability: the tests run as root and setpriv is here.
   */
  rootWithoutCapabilities: boolean;
}

/** A sandbox in `dir`, or null (having said why) when this machine cannot make one. */
async function sandbox(dir: string): Promise<Sandbox | null> {
  if (!ON_LINUX) {
    skipped("seccomp filters are Linux's");
    return null;
  }
  const groups = await syscallGroups();
  if (!groups) {
    skipped("systemd-analyze is not installed (Debian/Ubuntu: systemd)");
    return null;
  }
  const probe = await run("python3", [
    "-c",
    "import ctypes, sys; ctypes.CDLL('libseccomp.so.2'); print(sys.executable)",
  ]);
  if (probe?.code !== 0) {
    skipped("python3 with libseccomp.so.2 is not available");
    return null;
  }
  // The interpreter itself: a PATH shim (pyenv) may need variables the children lack.
  const python = probe.stdout.trim();
  await Deno.writeTextFile(`${dir}/seccomp.py`, SECCOMP_WRAPPER);
  // PrivateNetwork=yes: a network namespace with only its own loopback. Making one needs
  // privileges; without them that one setting is checked as written only.
  const netns = (await run("unshare", ["--net", "true"]))?.code === 0;
  if (!netns) console.log("note: unshare --net is refused here: PrivateNetwork= not emulated");
  // A unit that runs as root with no capability: setpriv empties the bounding set (and the
  // inheritable and ambient ones) before the filter, as systemd does. Run as another user,
  // the tests' own user stands in for root, and holds no capability either.
  const asRoot = (await run("id", ["-u"]))?.stdout.trim() === "0";
  const setpriv = asRoot && (await run("setpriv", ["--version"]))?.code === 0;
  if (asRoot && !setpriv) console.log("note: no setpriv here: CapabilityBoundingSet= not emulated");
  const program = installedProgram();
  let n = 0;
  return {
    privateNetwork: netns,
    rootWithoutCapabilities: setpriv,
    async command(unit, words) {
      const calls = `${dir}/filter-${++n}.allowed`;
      await Deno.writeTextFile(
        calls,
        allowedCalls(groups, list(unit.settings, "Service", "SystemCallFilter")).join("\n"),
      );
      assert.equal(last(unit.settings, "Service", "SystemCallErrorNumber"), "EPERM");
      assert.equal(last(unit.settings, "Service", "NoNewPrivileges"), "yes");
      const families = addressFamilies(unit);
      const familyArg = families === null ? "-" : families.map((f) => {
        assert.ok(f in FAMILIES, `an address family these tests know: ${f}`);
        return FAMILIES[f];
      }).join(",");
      const argv = [
        python,
        `${dir}/seccomp.py`,
        calls,
        familyArg,
        ...words.flatMap((w) => w === BINARY ? program : [w]),
      ];
      // Set, and empty once its resets are applied (unset, it would leave every capability).
      const noCapabilities = all(unit.settings, "Service", "CapabilityBoundingSet").length > 0 &&
        list(unit.settings, "Service", "CapabilityBoundingSet").length === 0;
      if (last(unit.settings, "Service", "User") === "root" && noCapabilities && setpriv) {
        argv.unshift("setpriv", "--bounding-set=-all", "--inh-caps=-all", "--ambient-caps=-all");
      }
      if (last(unit.settings, "Service", "PrivateNetwork") === "yes" && netns) {
        argv.unshift(
          "unshare",
          "--net",
          "--",
          "sh",
          "-c",
          'ip link set lo up 2>/dev/null; exec "$@"',
          "sh",
        );
      }
      return { command: argv[0]!, args: argv.slice(1) };
    },
  };
}

/** Runs a command to its end, with a limit (a hung store must fail the test, not stall it). */
async function runToEnd(
  command: { command: string; args: string[] },
  env: Record<string, string>,
  limitMs = 60_000,
): Promise<Output> {
  const child = spawnPiped(command, env);
  await child.stdin.close();
  const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
  try {
    const out = await child.output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
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

/** The status of a GET of `path` sent with this Host header, on a raw connection. */
async function statusWithHost(port: number, path: string, host: string): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const request = `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(request));
    const buffer = new Uint8Array(4096);
    let text = "";
    while (!text.includes("\r\n")) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    return Number(text.split(" ")[1]);
  } finally {
    conn.close();
  }
}

/**
 * Starts a unit's long-running command, waits until its stderr says `ready`, runs `fn`,
 * then stops it as `systemctl stop` does (SIGTERM) and returns its exit status and stderr.
 */
async function whileRunning(
  command: { command: string; args: string[] },
  env: Record<string, string>,
  ready: RegExp,
  fn: () => Promise<void>,
): Promise<{ code: number; stderr: string }> {
  const child = spawnPiped(command, env);
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
    while (!ready.test(stderr)) {
      assert.ok(!exited && Date.now() < until, `no ${ready} from ${command.command}:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await fn();
  } finally {
    if (!exited) child.kill("SIGTERM");
    ({ code } = await status);
    await Promise.all(pumps);
  }
  return { code, stderr };
}

/** The store kinds the flows below run on; null (having said why) when one cannot run here. */
function storeKind(name: StoreName) {
  const kind = STORES.find((k) => k.name === name);
  if (kind) return kind;
  const unavailable = UNAVAILABLE.find((u) => u.name === name);
  if (unavailable) skipped(unavailable.reason);
  else console.log(`skipped: ${name} is not in SESSION_BUDDY_TEST_STORES`);
  return null;
}

/** How each store is run: the collector's drop-ins, and whether it serves HTTPS itself. */
const FLOWS: { store: "kv" | "postgres" | "kv-connect"; collector: string[]; tls: boolean }[] = [
  { store: "kv", collector: [], tls: true },
  { store: "postgres", collector: ["10-proxy.conf", "20-postgres.conf"], tls: false },
  { store: "kv-connect", collector: ["20-kv-connect.conf"], tls: true },
];

for (const flow of FLOWS) {
  const reaperDropIns = flow.store === "kv" ? [] : [STORE_DROP_IN[flow.store]];
  const collectorLabel = label({ unit: COLLECTOR, dropIns: flow.collector });
  const reaperLabel = label({ unit: REAPER, dropIns: reaperDropIns });
  Deno.test(`contrib/systemd: [${flow.store}] ${collectorLabel} tracks a session and ${reaperLabel} ends it, under the units' filters`, async (t) => {
    const { dir, cleanup } = await tempDir();
    let store: TestStore | null = null;
    try {
      const box = await sandbox(dir);
      if (!box) return;
      const kind = storeKind(flow.store);
      if (!kind) return;
      const state = `${dir}/state`;
      const logs = `${dir}/logs`;
      await Deno.mkdir(state, { mode: 0o700 });
      await Deno.mkdir(logs, { mode: 0o700 });
      store = await kind.open(state);
      const [collector, reaper] = await Promise.all([
        loadUnit(COLLECTOR, flow.collector),
        loadUnit(REAPER, reaperDropIns),
      ]);

      // Each unit's credentials folder, holding what its LoadCredential= lines load.
      const folders: Record<string, string> = {};
      const pki = `${dir}/pki`;
      await Deno.mkdir(pki);
      let ca: string | null = null;
      if (flow.tls) {
        ca = await makeCertificate(pki);
        if (!ca) return skipped("openssl is not installed");
      }
      const storeSecret = flow.store === "postgres"
        ? store.database!.password
        : store.env.DENO_KV_ACCESS_TOKEN;
      for (const unit of [collector, reaper]) {
        const folder = folders[unit.name] = `${dir}/run/credentials/${unit.name}`;
        await Deno.mkdir(folder, { recursive: true, mode: 0o700 });
        for (const id of credentials(unit).keys()) {
          const content = id === "secret"
            ? `${SECRET}\n`
            : id.startsWith("tls.")
            ? await Deno.readTextFile(`${pki}/${id}`)
            : `${storeSecret}\n`;
          await Deno.writeTextFile(`${folder}/${id}`, content, { mode: 0o400 });
        }
      }
      // Only the collector holds the secret; TLS files only where it serves HTTPS.
      assert.deepEqual(
        [...credentials(collector).keys()].filter((id) => id.startsWith("tls.")).length,
        flow.tls ? 2 : 0,
      );
      assert.ok(!credentials(reaper).has("secret"));

      // The operator's environment file: the example as shipped, and this store.
      const { set } = await exampleEnv();
      const port = freePort();
      const envFile: Record<string, string> = {
        ...set,
        SESSION_BUDDY_DB: flow.store === "postgres" ? store.database!.urlWithoutPassword : store.db,
        SESSION_BUDDY_HTTP: `127.0.0.1:${port}`,
        // What reap closes: sessions unseen for longer than this.
        SESSION_BUDDY_STALE_AFTER: "1s",
      };
      if (flow.store === "kv") envFile.SESSION_BUDDY_LOG_FILE = `${logs}/session-buddy.log`;
      if (flow.collector.includes("10-proxy.conf")) {
        envFile.SESSION_BUDDY_ALLOWED_HOSTS = PROXY_HOST;
      }
      // systemd sets HOME to the service user's (its StateDirectory).
      const envOf = (unit: Unit) => ({
        ...unitEnv(unit, envFile, folders[unit.name]),
        HOME: state,
      });

      if (flow.store !== "kv") {
        await t.step("without its drop-in, the reaper cannot reach the store", async () => {
          const base = await loadUnit(REAPER);
          // Even given the password or token directly, as the drop-in would.
          const env = { ...envOf(base), ...store!.env };
          const command = await box.command(base, execWords(base, env, folders[REAPER]));
          const out = await runToEnd(command, env);
          assert.notEqual(out.code, 0, out.stdout);
          assert.equal(out.stderr.trim().split("\n").length, 1, out.stderr);
          assert.match(out.stderr, /^session-buddy: cannot open store /);
          assert.doesNotMatch(out.stdout, /Reaped/);
        });
      }

      let sessionId = "";
      await t.step(`${collectorLabel} serves, tracks a session and stops with 0`, async () => {
        const env = envOf(collector);
        const words = execWords(collector, env, folders[COLLECTOR]);
        const command = await box.command(collector, words);
        const origin = `${flow.tls ? "https" : "http"}://127.0.0.1:${port}`;
        const client = ca ? Deno.createHttpClient({ caCerts: [ca] }) : undefined;
        const viaClient = ((input: string | URL | Request, init?: RequestInit) =>
          fetch(input, { ...init, ...(client ? { client } : {}) })) as typeof fetch;
        const { code, stderr } = await whileRunning(command, env, /serving MCP on/, async () => {
          try {
            const health = await viaClient(`${origin}/healthz`);
            assert.equal(health.status, 200, await health.text());
            if (!flow.tls) {
              // Behind the proxy: the Host it forwards is answered, another is not.
              assert.equal(await statusWithHost(port, "/healthz", PROXY_HOST), 200);
              assert.equal(await statusWithHost(port, "/healthz", "elsewhere.example.com"), 403);
            }
            const token = await mintToken();
            const mcp = await connectHttp(`${origin}/mcp`, {
              headers: { authorization: `Bearer ${token}` },
              fetch: viaClient,
            });
            try {
              const started = await mcp.call("track_session_start", startArgs());
              assert.equal(started.status, "tracked", JSON.stringify(started));
              sessionId = String(started.session_id);
            } finally {
              await mcp.close();
            }
            // The secret credential is in force: no token, no tracking.
            const metrics = await viaClient(`${origin}/metrics`);
            await metrics.body?.cancel();
            assert.equal(metrics.status, 401);
          } finally {
            client?.close();
          }
        });
        assert.equal(code, 0, stderr);
        assert.doesNotMatch(stderr, /NotCapable|Operation not permitted|panicked/);
        if (flow.store === "kv") {
          const logged = await Deno.readTextFile(`${logs}/session-buddy.log`);
          assert.match(logged, /Session start tracked: /);
        }
        assert.equal((await store!.readRecord(sessionId))?.status, "active");
      });

      await t.step(`${reaperLabel} ends the session, unseen for longer than allowed`, async () => {
        assert.notEqual(sessionId, "");
        // SESSION_BUDDY_STALE_AFTER is 1 s: the session is stale once that has passed.
        await new Promise((r) => setTimeout(r, 1500));
        const env = envOf(reaper);
        const command = await box.command(reaper, execWords(reaper, env, folders[REAPER]));
        if (last(reaper.settings, "Service", "PrivateNetwork") === "yes") {
          assert.ok(!box.privateNetwork || command.command === "unshare", command.command);
        }
        const out = await runToEnd(command, env);
        assert.equal(out.code, 0, out.stderr);
        assert.match(out.stdout, /^Reaped 1 session:/, out.stdout);
        const record = await store!.readRecord(sessionId);
        assert.equal(record?.status, "ended", JSON.stringify(record));
        assert.equal(record?.end_source, "reaper", JSON.stringify(record));
      });
    } finally {
      await store?.close();
      await cleanup();
    }
  });
}

/** Waits until `check` holds (a forwarder delivers within a second or so), at most 30 s. */
async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + 30_000;
  while (!(await check())) {
    assert.ok(Date.now() < until, `not within 30 s: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

Deno.test(`contrib/systemd: [kv] ${FORWARDER} sends a host's sessions to a collector under the unit's filters, and stops with 0`, async (t) => {
  const { dir, cleanup } = await tempDir();
  let fleet: TestStore | null = null;
  let collector: HttpRunning | null = null;
  try {
    const box = await sandbox(dir);
    if (!box) return;
    const forwarder = await loadUnit(FORWARDER);

    // The fleet: a collector with the secret on loopback, on a store of its own.
    const fleetDir = `${dir}/fleet`;
    await Deno.mkdir(fleetDir, { mode: 0o700 });
    fleet = await KV_STORE.open(fleetDir);
    collector = await startHttpServer({
      env: { ...fleet.env, HOME: fleetDir, SESSION_BUDDY_SECRET: SECRET },
    });
    const mcp = collector.mcp;

    // The host: its state folder as StateDirectory= makes it, holding the shells' store;
    // the shells' home.
    const state = `${dir}/host/var/lib/session-buddy`;
    const home = `${dir}/host/root`;
    await Deno.mkdir(state, { recursive: true, mode: 0o700 });
    await Deno.mkdir(home, { mode: 0o700 });
    // The forwarder's HOME, root's, which ProtectHome=yes leaves there but inaccessible.
    const protectedHome = `${dir}/host/protected-root`;
    await Deno.mkdir(protectedHome);
    await Deno.chmod(protectedHome, 0o000);
    const hostDb = `${state}/sessions.kv`;

    // The credentials folder: the token the collector's operator minted with its secret.
    const creds = `${dir}/run/credentials/${FORWARDER}`;
    await Deno.mkdir(creds, { recursive: true, mode: 0o700 });
    assert.deepEqual([...credentials(forwarder).keys()], ["forward-token"]);
    const token = await mintToken({ user_id: "forward-host-b" });
    await Deno.writeTextFile(`${creds}/forward-token`, `${token}\n`, { mode: 0o400 });

    // The operator's forward.env: a copy of the example, its COLLECTOR_URL this collector's,
    // its store line uncommented for this host's store.
    const example = await Deno.readTextFile(`${CONTRIB}${FORWARD_EXAMPLE}`);
    const envPath = `${dir}/forward.env`;
    await Deno.writeTextFile(
      envPath,
      example.replace(/^COLLECTOR_URL=.*$/m, `COLLECTOR_URL=${mcp}`)
        .replace(/^#SESSION_BUDDY_DB=.*$/m, `SESSION_BUDDY_DB=${hostDb}`),
      { mode: 0o600 },
    );
    const envFile = parseEnvFile(await Deno.readTextFile(envPath));
    assert.deepEqual(envFile, { COLLECTOR_URL: mcp, SESSION_BUDDY_DB: hostDb });
    const env = { ...unitEnv(forwarder, envFile, creds), HOME: protectedHome };
    const words = execWords(forwarder, env, creds);
    assert.deepEqual(words, [
      BINARY,
      "forward",
      "--collector",
      mcp,
      "--forward-token-file",
      `${creds}/forward-token`,
    ]);
    const command = await box.command(forwarder, words);
    if (box.rootWithoutCapabilities) assert.equal(command.command, "setpriv");

    // A shell of the host: a stdio server on the host's store, as the shells' MCP
    // configuration runs it, as root.
    const shell = async (tool: string, args: Record<string, unknown>) => {
      const server = await startServer({ env: { SESSION_BUDDY_DB: hostDb, HOME: home } });
      try {
        return await server.call(tool, args);
      } finally {
        await server.close();
      }
    };
    const atCollector = async (id: string) => (await fleet!.readRecord(id))?.status;

    let sessionId = "";
    await t.step(
      "a shell starts a session on the host's store while nothing forwards",
      async () => {
        const started = await shell("track_session_start", startArgs());
        assert.equal(started.status, "tracked", JSON.stringify(started));
        sessionId = String(started.session_id);
        assert.equal(await atCollector(sessionId), undefined);
      },
    );

    await t.step(
      "the forwarder sends its start and its end, and stops with 0 on SIGTERM",
      async () => {
        assert.notEqual(sessionId, "");
        const { code, stderr } = await whileRunning(
          command,
          env,
          /Forwarding \S+ to /,
          async () => {
            await eventually(
              "the start at the collector",
              async () => await atCollector(sessionId) === "active",
            );
            const ended = await shell("track_session_end", endArgs(sessionId));
            assert.equal(ended.status, "ended", JSON.stringify(ended));
            await eventually(
              "the end at the collector",
              async () => await atCollector(sessionId) === "ended",
            );
          },
        );
        assert.equal(code, 0, stderr);
        assert.match(
          stderr,
          new RegExp(`Forwarding ${literal(hostDb)} to ${literal(mcp)}`),
        );
        assert.doesNotMatch(
          stderr,
          /NotCapable|Operation not permitted|Permission denied|panicked/,
        );
        assert.doesNotMatch(stderr, /Forwarding failed/);
      },
    );

    await t.step("its position stays in the host's store: nothing waits", async () => {
      const out = await runToEnd(
        programCommand(["forward", "--status", "--json"]),
        { SESSION_BUDDY_DB: hostDb, HOME: home },
      );
      assert.equal(out.code, 0, out.stderr);
      const status = JSON.parse(out.stdout);
      assert.equal(status.waiting_sessions, 0, out.stdout);
      assert.equal(status.target, mcp);
      assert.equal(status.last_error, null);
    });
  } finally {
    await collector?.stop();
    await fleet?.close();
    await cleanup();
  }
});

Deno.test("contrib/systemd: the filters are in force (the controls of the tests above)", async (t) => {
  const { dir, cleanup } = await tempDir();
  try {
    const box = await sandbox(dir);
    if (!box) return;
    const [reaper, remote, forwarder] = await Promise.all([
      loadUnit(REAPER),
      loadUnit(REAPER, [STORE_DROP_IN.postgres]),
      loadUnit(FORWARDER),
    ]);
    await t.step("a call of @privileged is refused", async () => {
      const file = `${dir}/owned`;
      await Deno.writeTextFile(file, "");
      const uid = (await run("id", ["-u"]))!.stdout.trim();
      const plain = await run("chown", [uid, file]);
      assert.equal(plain?.code, 0, plain?.stderr);
      const wrapped = await box.command(reaper, ["chown", uid, file]);
      const out = await run(wrapped.command, wrapped.args);
      assert.notEqual(out?.code, 0);
      assert.match(out!.stderr, /Operation not permitted/);
    });
    await t.step(
      "an IPv4 socket: refused to the reaper, allowed with a store drop-in",
      async () => {
        const python = [
          "python3",
          "-c",
          "import socket; socket.socket(socket.AF_INET); print('ok')",
        ];
        const refused = await box.command(reaper, python);
        const denied = await run(refused.command, refused.args);
        assert.notEqual(denied?.code, 0, denied?.stdout);
        assert.match(denied!.stderr, /PermissionError|Operation not permitted/);
        const allowed = await box.command(remote, python);
        const ok = await run(allowed.command, allowed.args);
        assert.equal(ok?.code, 0, ok?.stderr);
        assert.equal(ok!.stdout.trim(), "ok");
      },
    );
    await t.step(
      "the forwarder, root without a capability, reads only root's own files",
      async () => {
        if (!box.rootWithoutCapabilities) {
          return console.log("skipped: the tests do not run as root, or setpriv is missing");
        }
        const own = `${dir}/root-owned`;
        const other = `${dir}/nobody-owned`;
        await Deno.writeTextFile(own, "root's\n", { mode: 0o600 });
        await Deno.writeTextFile(other, "nobody's\n", { mode: 0o600 });
        await Deno.chown(other, 65534, 65534);
        // Root with its capabilities reads both; the forwarder's root only its own.
        assert.equal((await run("cat", [other]))?.code, 0);
        const mine = await box.command(forwarder, ["cat", own]);
        const read = await run(mine.command, mine.args);
        assert.equal(read?.code, 0, read?.stderr);
        const theirs = await box.command(forwarder, ["cat", other]);
        const refused = await run(theirs.command, theirs.args);
        assert.notEqual(refused?.code, 0, refused?.stdout);
        assert.match(refused!.stderr, /Permission denied/);
      },
    );
  } finally {
    await cleanup();
  }
});

Deno.test("contrib/systemd: MemoryDenyWriteExecute stays off, as Deno cannot start under it", async () => {
  if (!ON_LINUX) return skipped("MemoryDenyWriteExecute is Linux's");
  for (const name of [COLLECTOR, REAPER]) {
    const unit = await loadUnit(name);
    assert.equal(one(unit.settings, "Service", "MemoryDenyWriteExecute"), "no", name);
  }
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
  const [command, ...args] = installedProgram();
  const out = await run("python3", ["-c", wrapper, command!, ...args, "--version"]);
  assert.ok(out);
  // Should this ever pass, MemoryDenyWriteExecute=yes can be turned on.
  assert.notEqual(out.code, 0, `session-buddy ran under MemoryDenyWriteExecute:\n${out.stdout}`);
});

// ---------------------------------------------------------------------------------------
// docs/systemd.md

/** A fenced block of the page: its info string, its lines, where it starts. */
interface Block {
  lang: string;
  lines: string[];
  at: number;
}

/** The page's fenced blocks, and its lines outside them. */
function readDocs(text: string): { blocks: Block[]; prose: { line: string; at: number }[] } {
  const blocks: Block[] = [];
  const prose: { line: string; at: number }[] = [];
  let open: Block | null = null;
  text.split("\n").forEach((line, i) => {
    const fence = /^```(\S*)\s*$/.exec(line);
    if (fence && !open) blocks.push(open = { lang: fence[1]!, lines: [], at: i + 1 });
    else if (fence) open = null;
    else if (open) open.lines.push(line);
    else prose.push({ line, at: i + 1 });
  });
  assert.equal(open, null, "a fenced block is not closed");
  return { blocks, prose };
}

/** Every unit and drop-in file of contrib/systemd, by path relative to it. */
async function contribUnitFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const name of UNITS) files.set(name, await Deno.readTextFile(`${CONTRIB}${name}`));
  for (const [unit, dropIns] of Object.entries(DROP_INS)) {
    for (const d of dropIns) {
      files.set(`${unit}.d/${d}`, await Deno.readTextFile(`${CONTRIB}${unit}.d/${d}`));
    }
  }
  return files;
}

/** A file's lines without comments and blank lines, as written (continued lines as they are). */
function settingLines(text: string): string[] {
  return text.split("\n").map((l) => l.trimEnd()).filter((l) =>
    l.trim() !== "" && !/^\s*[#;]/.test(l)
  );
}

/** For sh: a word in single quotes. */
function quote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

Deno.test("docs/systemd.md: short, and every file it names is in contrib/systemd", async () => {
  const text = await Deno.readTextFile(DOCS);
  const { blocks, prose } = readDocs(text);
  // 150 lines held the collector and the reaper; the forwarder, a unit of other hosts with
  // an install of its own, has 10 more.
  assert.ok(text.trimEnd().split("\n").length <= 160, "at most 160 lines");
  for (const { line, at } of prose) assert.ok(line.length <= 120, `line ${at}: ${line.length}`);
  for (const block of blocks) {
    assert.ok(["sh", "ini", "dotenv"].includes(block.lang), `line ${block.at}: ${block.lang}`);
  }
  // The table: each file of its first column (the rest of a cell in the first one's folder).
  const rows = prose.map((p) => /^\| (`[^|]+`)\s*\|/.exec(p.line)?.[1]).filter((c) => c);
  assert.ok(rows.length >= 7, rows.join("\n"));
  const named = new Set<string>();
  for (const cell of rows) {
    const [first, ...rest] = [...cell!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    const folder = first!.includes("/") ? first!.slice(0, first!.lastIndexOf("/") + 1) : "";
    for (const name of [first!, ...rest.map((r) => r.includes("/") ? r : `${folder}${r}`)]) {
      await Deno.stat(`${CONTRIB}${name}`);
      named.add(name);
    }
  }
  for (const path of text.matchAll(/contrib\/systemd\/([A-Za-z0-9._/-]+[A-Za-z0-9])/g)) {
    await Deno.stat(`${CONTRIB}${path[1]}`);
  }
  // Every file the folder ships is on the page.
  for (const name of [...(await contribUnitFiles()).keys(), "session-buddy.sysusers"]) {
    assert.ok(named.has(name), `the table names ${name}`);
  }
  assert.ok(named.has("session-buddy.env.example"));
});

Deno.test("docs/systemd.md: each unit snippet is the lines of a file in contrib/systemd", async () => {
  const { blocks } = readDocs(await Deno.readTextFile(DOCS));
  const files = await contribUnitFiles();
  const ini = blocks.filter((b) => b.lang === "ini");
  assert.ok(ini.length >= 3, "the credentials, the proxy drop-in, a reaper drop-in");
  for (const block of ini) {
    const lines = block.lines.map((l) => l.trimEnd());
    assert.ok(!lines.some((l) => l.trim() === "" || /^\s*[#;]/.test(l)), `line ${block.at}`);
    const source = [...files].find(([, text]) => {
      const settings = settingLines(text);
      return settings.some((_, i) => lines.every((l, j) => settings[i + j] === l));
    });
    assert.ok(source, `the block at line ${block.at} is not a run of lines of any file`);
  }
});

Deno.test("docs/systemd.md: each environment line is in the example, and accepted", async () => {
  const { blocks } = readDocs(await Deno.readTextFile(DOCS));
  const { text, set } = await exampleEnv();
  const dotenv = blocks.filter((b) => b.lang === "dotenv");
  assert.ok(dotenv.length >= 3, "the proxy's host, a PostgreSQL URL, a KV Connect URL");
  for (const block of dotenv) {
    const settings: Record<string, string> = {};
    for (const line of block.lines) {
      assert.ok(
        text.split("\n").some((l) => l === line || l === `#${line}`),
        `line ${block.at}: ${line} is not in the example`,
      );
      const eq = line.indexOf("=");
      settings[line.slice(0, eq)] = line.slice(eq + 1);
    }
    await acceptedBy({ ...set, ...settings });
  }
});

/** What the page's commands write into a credential file when they ask for one. */
const TYPED: Record<string, string> = {
  "db-password": "typed-db-password",
  "kv-access-token": "typed-kv-access-token",
  "forward-token": "typed-forward-token",
};

Deno.test("docs/systemd.md: every command runs under a temporary root and installs what it says", async (t) => {
  if (!ON_LINUX) return skipped("the systemd install commands are run on Linux only");
  if (!(await run("systemctl", ["--version"]))) {
    return skipped("systemctl is not installed (Debian/Ubuntu: systemd)");
  }
  const text = await Deno.readTextFile(DOCS);
  const { blocks, prose } = readDocs(text);
  const { dir, cleanup } = await tempDir();
  try {
    const root = `${dir}/root`;
    const checkout = `${dir}/checkout`;
    await Deno.mkdir(`${checkout}/contrib`, { recursive: true });
    await Deno.symlink(`${ROOT}contrib/systemd`, `${checkout}/contrib/systemd`);
    await Deno.writeTextFile(`${checkout}/tls.crt`, "certificate\n");
    await Deno.writeTextFile(`${checkout}/tls.key`, "key\n");
    // Folders a real machine has, and the binary where the units expect it.
    for (const folder of ["etc/sysusers.d", "etc/systemd/system", "usr/local/bin"]) {
      await Deno.mkdir(`${root}/${folder}`, { recursive: true });
    }
    await Deno.writeTextFile(
      `${root}${BINARY}`,
      `#!/bin/sh\nexec ${installedProgram().map(quote).join(" ")} "$@"\n`,
      { mode: 0o755 },
    );
    const installed = (unit: string) => `${root}/etc/systemd/system/${unit}`;
    const isFile = async (path: string) => {
      try {
        return (await Deno.stat(path)).isFile;
      } catch {
        return false;
      }
    };
    const outputs = new Map<string, string>();
    let sysusers = false;
    /** A session a shell of the host starts over stdio on the store `db`. */
    const shellSession = async (db: string) => {
      const server = await startServer({ env: { SESSION_BUDDY_DB: db, HOME: `${dir}/home` } });
      try {
        const started = await server.call("track_session_start", startArgs());
        assert.equal(started.status, "tracked", JSON.stringify(started));
      } finally {
        await server.close();
      }
    };

    /** One command of the page, checked or run. */
    const check = async (written: string) => {
      const line = written.replace(/^sudo /, "");
      let m: RegExpExecArray | null;
      if (line === "systemctl daemon-reload") return;
      if ((m = /^systemctl enable --now ((?:\S+\.(?:service|timer) ?)+)$/.exec(line))) {
        const units = m[1]!.trim().split(" ");
        for (const unit of units) assert.ok(await isFile(installed(unit)), `${unit} installed`);
        const out = await run("systemctl", [`--root=${root}`, "enable", ...units]);
        assert.equal(out?.code, 0, out?.stderr);
        // --now starts a service, and systemd makes its StateDirectory= first.
        for (const unit of units.filter((u) => u.endsWith(".service"))) {
          const settings = parseUnit(await Deno.readTextFile(installed(unit)));
          const state = last(settings, "Service", "StateDirectory");
          if (state === undefined) continue;
          const folderMode = Number.parseInt(
            last(settings, "Service", "StateDirectoryMode") ?? "0755",
            8,
          );
          await Deno.mkdir(`${root}/var/lib/${state}`, { recursive: true, mode: folderMode });
          await Deno.chmod(`${root}/var/lib/${state}`, folderMode);
        }
        return;
      }
      if ((m = /^systemctl (?:start|restart|status) (\S+\.(?:service|timer))$/.exec(line))) {
        assert.ok(await isFile(installed(m[1]!)), `${written}: ${m[1]} is installed`);
        return;
      }
      if ((m = /^journalctl -u (\S+\.service)$/.exec(line))) {
        assert.ok(await isFile(installed(m[1]!)), `${written}: ${m[1]} is installed`);
        return;
      }
      if (line === "systemd-sysusers") {
        const out = await run("systemd-sysusers", [`--root=${root}`]);
        if (!out) return skipped("systemd-sysusers is not installed");
        assert.equal(out.code, 0, out.stderr);
        sysusers = true;
        return;
      }
      // The manager of this machine is never asked: a verb not emulated above fails here.
      assert.doesNotMatch(line, /^(systemctl|journalctl)\b/, `not emulated: ${written}`);
      // Anything else runs, its absolute paths moved under the temporary root.
      const moved = line.replace(
        /(^|[\s'"=>])\/(etc|usr\/local\/bin|var\/lib)\//g,
        `$1${root}/$2/`,
      );
      assert.doesNotMatch(
        moved,
        /(^|[\s'"=>])\/(etc|usr|var|run|lib)\//,
        `a path the test does not move: ${line}`,
      );
      if (/ forward --status /.test(line)) {
        // By the time anyone asks what waits, the host's shells have recorded into the
        // store the forwarder reads (their MCP configuration names the same one).
        await shellSession(`${root}${environment(await loadUnit(FORWARDER)).SESSION_BUDDY_DB}`);
      }
      const typed = /cat > \S+\/([a-z-]+)'$/.exec(line)?.[1];
      const out = await run("sh", ["-c", moved], {
        cwd: checkout,
        stdin: typed === undefined ? "" : `${TYPED[typed]}\n`,
      });
      assert.equal(out?.code, 0, `${written}\n${out?.stderr}`);
      outputs.set(written, out!.stdout);
    };

    const commands = blocks.filter((b) => b.lang === "sh").flatMap((b) => b.lines)
      .filter((l) => l.trim() !== "");
    // Commands in the text as well as in blocks.
    const inline = prose.flatMap(({ line }) =>
      [...line.matchAll(/`((?:sudo|systemctl|journalctl) [^`]+)`/g)].map((m) => m[1]!)
    );
    assert.ok(commands.length >= 15, commands.join("\n"));
    for (const command of [...commands, ...inline]) {
      await t.step(command, () => check(command));
    }

    const mode = async (path: string) => (await Deno.stat(`${root}${path}`)).mode! & 0o777;
    const same = async (path: string, contrib: string) =>
      assert.equal(
        await Deno.readTextFile(`${root}${path}`),
        await Deno.readTextFile(`${CONTRIB}${contrib}`),
        path,
      );

    await t.step("each file is in place, with its mode", async () => {
      assert.equal(await mode("/etc/session-buddy"), 0o700);
      // Made as the units' StateDirectory= by their start (enable --now).
      assert.equal(await mode("/var/lib/session-buddy"), 0o700);
      await same("/etc/sysusers.d/session-buddy.conf", "session-buddy.sysusers");
      assert.equal(await mode("/etc/sysusers.d/session-buddy.conf"), 0o644);
      await same(ENV_FILE, "session-buddy.env.example");
      await same(FORWARD_ENV_FILE, FORWARD_EXAMPLE);
      assert.equal(await mode(FORWARD_ENV_FILE), 0o600);
      for (
        const name of ["session-buddy.env", "secret", "tls.crt", "tls.key", ...Object.keys(TYPED)]
      ) {
        assert.equal(await mode(`/etc/session-buddy/${name}`), 0o600, name);
      }
      for (const name of (await contribUnitFiles()).keys()) {
        await same(`/etc/systemd/system/${name}`, name);
        assert.equal(await mode(`/etc/systemd/system/${name}`), 0o644, name);
      }
      for (const [name, value] of Object.entries(TYPED)) {
        // What the drop-in's shell reads: the typed line, its newline dropped by $(cat).
        const typed = await Deno.readTextFile(`${root}/etc/session-buddy/${name}`);
        assert.equal(typed, `${value}\n`);
      }
      for (
        const link of [
          "multi-user.target.wants/session-buddy.service",
          "timers.target.wants/session-buddy-reap.timer",
          `multi-user.target.wants/${FORWARDER}`,
        ]
      ) {
        const target = await Deno.readLink(`${root}/etc/systemd/system/${link}`);
        assert.equal(target, `/etc/systemd/system/${link.split("/")[1]}`);
      }
      if (sysusers) {
        const passwd = await Deno.readTextFile(`${root}/etc/passwd`);
        assert.match(passwd, /^session-buddy:x:\d+:\d+:/m);
      }
    });

    await t.step("the secret it made is one the collector's command line accepts", async () => {
      const secret = await Deno.readTextFile(`${root}/etc/session-buddy/secret`);
      assert.match(secret, /^\S{32,}\n$/);
      const service = await loadUnit(COLLECTOR);
      const env = unitEnv(service, parseEnvFile(await Deno.readTextFile(`${root}${ENV_FILE}`)));
      const invocation = parseWords(execWords(service, env).slice(1), env, {
        [`${credentialsOf(COLLECTOR)}/secret`]: secret,
      });
      assert.ok(invocation.kind === "serve" && invocation.config.secret === secret.trim());
      // The token command signs with it.
      const tokenLine = commands.find((c) => / token /.test(c));
      assert.ok(tokenLine, "the page mints a token");
      const token = outputs.get(tokenLine)!.trim();
      const { payload } = await jwtVerify(token, new TextEncoder().encode(secret.trim()));
      assert.equal(payload.user_id, "admin-shell");
    });

    await t.step(
      "the forwarder's command line reads the token typed, and shows what waits",
      async () => {
        const forwarder = await loadUnit(FORWARDER);
        const envFile = parseEnvFile(await Deno.readTextFile(`${root}${FORWARD_ENV_FILE}`));
        const env = unitEnv(forwarder, envFile);
        const typed = await Deno.readTextFile(`${root}/etc/session-buddy/forward-token`);
        const invocation = parseWords(execWords(forwarder, env).slice(1), env, {
          [`${credentialsOf(FORWARDER)}/forward-token`]: typed,
        });
        assert.ok(invocation.kind === "forward", invocation.kind);
        assert.equal(invocation.token, TYPED["forward-token"]);
        // The store it reads is the one the status line names.
        const statusLine = [...commands, ...inline].find((c) => / forward --status /.test(c));
        assert.ok(statusLine, "the page shows what waits");
        assert.deepEqual(invocation.config.db, {
          kind: "file",
          path: /--db (\S+)/.exec(statusLine)![1],
        });
        assert.match(outputs.get(statusLine)!, /^waiting +1 session$/m, outputs.get(statusLine));
      },
    );
  } finally {
    await cleanup();
  }
});
