/**
 * README.md is the front door (SPEC 9), and its quick start works when pasted: the blocks
 * run in `bash` as written, in the checkout, with a HOME of their own, and print a tracked
 * start, its end and the session in `sessions list`, over stdio and then over HTTP (the
 * HTTP block's port 8080 is replaced by a free one, as 8080 may be taken here; the block
 * stops its own collector). The start command it shows prints only session-buddy's own
 * lines on an empty Deno cache. Its length, and the width of every page's lines outside
 * code blocks (README, CONTRIBUTING and docs/), are held to the issue's limits, and every
 * relative link of those pages leads to a file (and heading) that exists.
 *
 * The examples of the pages in docs/ run in docs_stdio_test.ts, docs_http_test.ts,
 * docs_postgresql_test.ts and the tests of the pages' own owners.
 */
import assert from "node:assert/strict";
import { freePort } from "../helpers/http.ts";
import { codeBlocks, fenced, type Page, readPage, section } from "../helpers/readme_store.ts";
import { DENO_DIR, ROOT, runCommand, runtimeEnv, tempDir } from "../helpers/server.ts";

const README = await readPage("README.md");
const MAX_LINES = 300;
const MAX_QUICK_START = 60;
const MAX_WIDTH = 120;

/** README, CONTRIBUTING and every page of docs/. */
async function allPages(): Promise<Page[]> {
  const pages = [README, await readPage("CONTRIBUTING.md")];
  const names: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}docs`)) {
    if (entry.isFile && entry.name.endsWith(".md")) names.push(entry.name);
  }
  for (const name of names.sort()) pages.push(await readPage(`docs/${name}`));
  return pages;
}

/** The lines of a page outside its code blocks, with their line numbers. */
function prose(page: Page): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let inCode = false;
  page.text.split("\n").forEach((text, i) => {
    if (/^```/.test(text)) inCode = !inCode;
    else if (!inCode) out.push({ line: i + 1, text });
  });
  return out;
}

/** The environment of a reader's shell: PATH with this deno, a HOME of its own. */
function readerEnv(home: string): Record<string, string> {
  const denoDir = Deno.execPath().replace(/\/[^/]+$/, "");
  return {
    ...runtimeEnv(),
    PATH: `${denoDir}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
    HOME: home,
    DENO_DIR,
    NO_COLOR: "1",
  };
}

/** The README's `deno task` start command, as its "Two commands" block shows it. */
function startCommand(): string {
  const block = fenced(section(README, "Two commands"), "sh")[0]!;
  const lines = block.trim().split("\n").map((l) => l.replace(/\s+#.*$/, ""));
  assert.deepEqual(lines, ["deno task -q start", "deno task test"]);
  for (const task of ["start", "test"]) {
    assert.ok(
      Deno.readTextFileSync(`${ROOT}deno.json`).includes(`"${task}": "`),
      `deno.json has the task ${task}`,
    );
  }
  return lines[0]!;
}

Deno.test("README: at most 300 lines, a quick start of at most 60, the two commands", () => {
  const lines = README.text.replace(/\n$/, "").split("\n");
  assert.ok(lines.length <= MAX_LINES, `README.md has ${lines.length} lines`);
  const quick = section(README, "Quick start").replace(/\n$/, "").split("\n");
  assert.ok(quick.length <= MAX_QUICK_START, `the quick start has ${quick.length} lines`);
  startCommand();
  // What it is, in three sentences.
  const intro = README.text.split("\n\n")[1]!;
  assert.equal(intro.match(/[.!?](\s|$)/g)?.length, 3, intro);
  // A deployment each, with its page.
  const deploy = section(README, "Pick a deployment");
  for (
    const [name, page] of [
      ["One host", "docs/clients.md"],
      ["A collector", "docs/collector.md"],
      ["PostgreSQL", "docs/postgresql.md"],
      ["KV Connect", "docs/kv-connect.md"],
    ]
  ) {
    const item = deploy.split("\n- ").find((b) => b.startsWith(`**${name}.**`));
    assert.ok(item?.includes(`](${page})`), `${name} links ${page}`);
  }
});

Deno.test("README, CONTRIBUTING and docs/: no line outside code blocks over 120 characters", async () => {
  const long: string[] = [];
  for (const page of await allPages()) {
    for (const { line, text } of prose(page)) {
      const width = [...text].length;
      if (width > MAX_WIDTH) long.push(`${page.path}:${line} (${width})`);
    }
  }
  assert.deepEqual(long, []);
});

/** The anchor GitHub gives a heading. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

Deno.test("README, CONTRIBUTING and docs/: every relative link leads to a file and heading", async () => {
  const broken: string[] = [];
  for (const page of await allPages()) {
    const folder = page.path.includes("/") ? page.path.replace(/\/[^/]+$/, "/") : "";
    for (const { line, text } of prose(page)) {
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        const [file, anchor] = target.split("#") as [string, string | undefined];
        const path = file === "" ? page.path : new URL(file, `file:///${folder}`).pathname.slice(1);
        let text: string;
        try {
          text = await Deno.readTextFile(`${ROOT}${path}`);
        } catch {
          broken.push(`${page.path}:${line}: ${target} (no file ${path})`);
          continue;
        }
        if (anchor === undefined) continue;
        const headings = prose({ path, text }).filter((l) => /^#{1,6} /.test(l.text))
          .map((l) => slug(l.text.replace(/^#+ /, "")));
        if (!headings.includes(anchor)) {
          broken.push(`${page.path}:${line}: ${target} (no heading #${anchor} in ${path})`);
        }
      }
    }
  }
  assert.deepEqual(broken, []);
});

Deno.test("README: the quick start, pasted into bash, tracks, ends and lists over stdio and HTTP", async () => {
  const blocks = codeBlocks(section(README, "Quick start")).filter((b) => b.lang === "sh");
  assert.equal(blocks.length, 3, "start; end and list; the same over HTTP");
  const http = blocks[2]!.body;
  assert.match(http, /serve --http 127\.0\.0\.1:8080 &/);
  const port = freePort();
  const script = [blocks[0]!.body, blocks[1]!.body, http.replaceAll(":8080", `:${port}`)]
    .join("");
  const { dir, cleanup } = await tempDir();
  try {
    const bash = new Deno.Command("bash", {
      // `wait`: the block's `kill` must end the collector, or this waits (and fails below).
      args: ["-c", `${script}wait\n`],
      cwd: ROOT,
      env: readerEnv(dir),
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => bash.kill("SIGKILL"), 120_000);
    const out = await bash.output();
    clearTimeout(timer);
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `${stdout}\n${stderr}`);
    assert.equal(out.signal, null, "the collector stopped when the block said so");

    // What a reader sees, in order: tracked, ended, the session listed; twice.
    const wanted = [
      /"session_id":"mahavishnu-20260206-123456","status":"tracked"/,
      /"session_id":"mahavishnu-20260206-123456","status":"ended"/,
      /^mahavishnu-20260206-123456 +ended +john +server01 +MahavishnuShell .* 26m 05s$/m,
      /"session_id":"oneiric-20260206-140000","status":"tracked"/,
      /"session_id":"oneiric-20260206-140000","status":"ended"/,
      /^oneiric-20260206-140000 +ended +ana +server02 +OneiricShell .* 26m 25s$/m,
    ];
    let rest = stdout;
    for (const pattern of wanted) {
      const m = pattern.exec(rest);
      assert.ok(m, `${pattern} after what came before, in:\n${stdout}`);
      rest = rest.slice(m.index + m[0].length);
    }
    assert.match(section(README, "Quick start"), /`ended` after `26m 05s`/);
    // stderr holds session-buddy's log lines only.
    for (const line of stderr.split("\n").filter((l) => l !== "")) {
      assert.match(line, /^\d{4}-\d\d-\d\dT[\d:.]+Z (INFO|WARNING) - /, stderr);
    }
    // A throwaway store: the reader's default store was not touched.
    await assert.rejects(Deno.stat(`${dir}/.local/share/session-buddy`));
    // The collector is gone: its port is free again.
    const listener = Deno.listen({ hostname: "127.0.0.1", port });
    listener.close();
  } finally {
    await cleanup();
  }
});

Deno.test("README: the start command prints only session-buddy's lines on an empty Deno cache", async (t) => {
  const command = startCommand().split(" ");
  const { dir, cleanup } = await tempDir();
  try {
    // DENO_DIR=$(mktemp -d): nothing cached, so the first run downloads every package.
    const env = { ...readerEnv(dir), DENO_DIR: `${dir}/deno-dir` };
    await Deno.mkdir(env.DENO_DIR);
    const run = async (args: string[]) => {
      const out = await runCommand(command[0]!, [...command.slice(1), ...args], {
        env,
        clearEnv: true,
        cwd: ROOT,
      });
      assert.ok(out, "deno ran");
      return out;
    };

    await t.step("a bad flag: exactly one line on stderr, exit 2", async () => {
      const out = await run(["--no-such-flag"]);
      assert.equal(out.code, 2, out.stderr);
      assert.equal(out.stdout, "");
      assert.equal(out.stderr.replace(/\n$/, "").split("\n").length, 1, out.stderr);
      assert.match(out.stderr, /^session-buddy: .*--no-such-flag/);
    });

    await t.step("--help: the help on stdout, nothing on stderr", async () => {
      await Deno.remove(env.DENO_DIR, { recursive: true });
      await Deno.mkdir(env.DENO_DIR);
      const out = await run(["--help"]);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stderr, "");
      assert.match(out.stdout, /^session-buddy \S+\n/);
      assert.match(out.stdout, /Usage:/);
    });
  } finally {
    await cleanup();
  }
});
