/**
 * What the tests of README.md and docs/ share: reading a page's sections and code blocks,
 * and the four sessions of the examples of docs/commands.md, tracked through MCP as shells
 * would track them, at times relative to now (the reading commands' defaults look back a
 * day). Timestamps carry fractions of a second, as a shell's do, so durations do too.
 */
import assert from "node:assert/strict";
import type { Running } from "./server.ts";
import { endArgs, ROOT, startArgs } from "./server.ts";

/** A page of the documentation: its path from the repository root, and its text. */
export interface Page {
  path: string;
  text: string;
}

/** Reads a page, e.g. `docs/clients.md`. */
export async function readPage(path: string): Promise<Page> {
  return { path, text: await Deno.readTextFile(`${ROOT}${path}`) };
}

/**
 * The text of the section `## title` of a page, up to the next `## ` heading; the page's
 * own `# title` names the part before its first `## `.
 */
export function section(page: Page, title: string): string {
  const text = `\n${page.text}`;
  let start = text.indexOf(`\n## ${title}\n`);
  if (start < 0 && text.startsWith(`\n# ${title}\n`)) start = 0;
  assert.ok(start >= 0, `${page.path} has a section "${title}"`);
  const rest = text.slice(start + 1);
  const end = rest.indexOf("\n## ", 1);
  return end < 0 ? rest : rest.slice(0, end);
}

/** Every fenced code block of `text`, in order, with its language ("" for a bare fence). */
export function codeBlocks(text: string): { lang: string; body: string; line: number }[] {
  const out: { lang: string; body: string; line: number }[] = [];
  let open: { lang: string; lines: string[]; line: number } | null = null;
  text.split("\n").forEach((line, i) => {
    if (open === null) {
      const m = /^```(\S*)$/.exec(line);
      if (m) open = { lang: m[1]!, lines: [], line: i + 1 };
    } else if (line === "```") {
      out.push({
        lang: open.lang,
        body: open.lines.map((l) => `${l}\n`).join(""),
        line: open.line,
      });
      open = null;
    } else {
      open.lines.push(line);
    }
  });
  return out;
}

/** The fenced code blocks of `lang` in `text`, in order ("" for bare fences). */
export function fenced(text: string, lang: string): string[] {
  return codeBlocks(text).filter((b) => b.lang === lang).map((b) => b.body);
}

const HOUR_MS = 3_600_000;

interface Shell {
  component_name: string;
  shell_type: string;
  username: string;
  hostname: string;
  pid: number;
  cwd: string;
  /** Start, in hours before now. */
  hoursAgo: number;
  /** Length in seconds for an ended session; null for one still running. */
  seconds: number | null;
  event_id?: string;
}

/** The sessions of docs/commands.md, oldest first. */
export const README_SHELLS: Shell[] = [
  {
    component_name: "mahavishnu",
    shell_type: "MahavishnuShell",
    username: "john",
    hostname: "server01",
    pid: 4121,
    cwd: "/home/john",
    hoursAgo: 10.81,
    seconds: 3859.412,
    event_id: "8e74adc3-1b6d-4b77-9b48-01df71bbacb2",
  },
  {
    component_name: "oneiric",
    shell_type: "OneiricShell",
    username: "ana",
    hostname: "server02",
    pid: 5310,
    cwd: "/home/ana",
    hoursAgo: 9.58,
    seconds: 1585.208,
  },
  {
    component_name: "mahavishnu",
    shell_type: "MahavishnuShell",
    username: "ana",
    hostname: "server01",
    pid: 6022,
    cwd: "/home/ana/projects/mahavishnu",
    hoursAgo: 8.33,
    seconds: null,
  },
  {
    component_name: "session-buddy",
    shell_type: "AdminShell",
    username: "john",
    hostname: "server03",
    pid: 7188,
    cwd: "/home/john",
    hoursAgo: 7.09,
    seconds: null,
  },
];

/**
 * Tracks the examples' sessions on `server`, with `token` (the examples' server has a
 * secret, so `tracked_by` reads admin-shell); returns their ids, oldest first.
 */
export async function trackReadmeSessions(
  server: Running,
  nowMs: number,
  token: string | null,
): Promise<string[]> {
  const ids: string[] = [];
  for (const shell of README_SHELLS) {
    // A shell's clock: whole milliseconds, never exactly on the second.
    const t = Math.floor(nowMs - shell.hoursAgo * HOUR_MS);
    const startMs = t - (t % 1000) + 801;
    const started = await server.call(
      "track_session_start",
      startArgs({
        ...(shell.event_id ? { event_id: shell.event_id } : {}),
        component_name: shell.component_name,
        shell_type: shell.shell_type,
        timestamp: new Date(startMs).toISOString(),
        pid: shell.pid,
        user: { username: shell.username, home: `/home/${shell.username}` },
        hostname: shell.hostname,
        environment: { python_version: "3.13.0", platform: "Linux-6.5.0-x86_64", cwd: shell.cwd },
        token,
      }),
    );
    if (started.status !== "tracked") throw new Error(`not tracked: ${JSON.stringify(started)}`);
    const id = String(started.session_id);
    ids.push(id);
    if (shell.seconds === null) continue;
    const ended = await server.call(
      "track_session_end",
      endArgs(id, { timestamp: new Date(startMs + shell.seconds * 1000).toISOString(), token }),
    );
    if (ended.status !== "ended") throw new Error(`not ended: ${JSON.stringify(ended)}`);
  }
  return ids;
}
