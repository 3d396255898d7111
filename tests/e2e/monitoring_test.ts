/**
 * What operators get to watch collectors with: contrib/prometheus/alerts.yml (the rules
 * pass `promtool check rules`, and `promtool test rules alerts_test.yml` makes every alert
 * fire once and stay silent once), contrib/grafana/session-buddy.json (an importable
 * dashboard whose every query is valid PromQL), and docs/monitoring.md (its Prometheus
 * configuration passes `promtool check config` with the rules loaded from where it says,
 * its tables list what /metrics serves and what alerts.yml holds).
 *
 * Every metric, label and `label="value"` that a rule or a panel selects is held to what
 * a real collector serves after a start, an end and refused tokens: a name misspelt in
 * a query fails here, not on an operator's empty graph. Only `up` (Prometheus's own) and
 * the target labels `job` and `instance` are allowed besides.
 *
 * A machine without promtool prints a plain "skipped: ..." line for the promtool steps,
 * and fails when CI=true (.ci/run installs Debian's prometheus package).
 */
import assert from "node:assert/strict";
import { connectHttp, startHttpServer } from "../helpers/http.ts";
import {
  endArgs,
  mintToken,
  type Output,
  ROOT,
  runCommand,
  SECRET,
  startArgs,
  tempDir,
} from "../helpers/server.ts";

const ALERTS = `${ROOT}contrib/prometheus/alerts.yml`;
const ALERTS_TEST = `${ROOT}contrib/prometheus/alerts_test.yml`;
const DASHBOARD = `${ROOT}contrib/grafana/session-buddy.json`;
const DOC = `${ROOT}docs/monitoring.md`;
const IN_CI = Deno.env.get("CI") === "true";

/** Prometheus's own metric, which the collector cannot serve: allowed in queries. */
const PROMETHEUS_METRICS = new Set(["up"]);
/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = new Set(["job", "instance"]);
/** Grafana's own variables, which a dashboard does not define. */
const GRAFANA_VARIABLES = new Set(["__rate_interval", "__interval", "__range"]);

/** PromQL's functions and aggregations (Prometheus 2.x). */
const FUNCTIONS = new Set(
  `abs absent absent_over_time acos acosh asin asinh atan atanh avg avg_over_time bottomk ceil
  changes clamp clamp_max clamp_min cos cosh count count_over_time count_values day_of_month
  day_of_week day_of_year days_in_month deg delta deriv exp floor group histogram_quantile
  holt_winters hour idelta increase irate label_join label_replace last_over_time ln log10 log2
  max max_over_time min min_over_time minute month pi predict_linear present_over_time quantile
  quantile_over_time rad rate resets round scalar sgn sin sinh sort sort_desc sqrt stddev
  stddev_over_time stdvar stdvar_over_time sum sum_over_time tan tanh time timestamp topk vector
  year`.split(/\s+/),
);
/** PromQL's keywords, which are no metric names. */
const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"]);

/** A tool this machine lacks: a failure in CI (which installs it), else a plain "skipped". */
function skipped(what: string): void {
  if (IN_CI) assert.fail(`${what} (CI must have it)`);
  console.log(`skipped: ${what}`);
}

/** Runs promtool from the repository root; null when it is not installed. */
async function promtool(args: string[]): Promise<Output | null> {
  return await runCommand("promtool", args, { cwd: ROOT });
}

const PROMTOOL_MISSING = "promtool is not installed (Debian/Ubuntu: apt install prometheus)";

// ---------------------------------------------------------------------------------------
// Reading the files

/**
 * The `expr:` values of a rule file, as YAML reads them: plain, quoted, or a literal (`|`)
 * or folded (`>`) block. A small reader, as the test's lockfile has no YAML package; the
 * tests below hold its count to promtool's.
 */
function ruleExprs(text: string): string[] {
  const lines = text.split("\n");
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = lines[i]!.match(/^(\s*)(?:- )?expr:\s*(.*)$/);
    if (!m) continue;
    // A key after "- " is indented past the dash.
    const indent = m[1]!.length + (lines[i]!.trimStart().startsWith("- ") ? 2 : 0);
    const rest = m[2]!.replace(/\s+#.*$/, "").trim();
    const more: string[] = [];
    while (i + 1 < lines.length) {
      const next = lines[i + 1]!;
      if (next.trim() !== "" && next.search(/\S/) <= indent) break;
      more.push(next);
      i++;
    }
    const block = /^([|>])[-+]?$/.exec(rest);
    if (block) {
      const body = more.map((l) => l.trim()).filter((l) => l !== "");
      out.push(body.join(block[1] === "|" ? "\n" : " "));
    } else if (rest.startsWith('"')) {
      out.push(JSON.parse([rest, ...more.map((l) => l.trim())].join(" ")));
    } else if (rest.startsWith("'")) {
      const joined = [rest, ...more.map((l) => l.trim())].join(" ");
      out.push(joined.slice(1, -1).replaceAll("''", "'"));
    } else {
      out.push([rest, ...more.map((l) => l.trim())].filter((l) => l !== "").join(" "));
    }
  }
  return out;
}

/** The alerts of a rule file and the severity label of each. */
function ruleAlerts(text: string): Map<string, string> {
  const alerts = new Map<string, string>();
  for (const part of text.split(/^\s*- alert:/m).slice(1)) {
    const name = part.match(/^\s*(\S+)/)![1]!;
    alerts.set(name, part.match(/^\s*severity:\s*(\S+)\s*$/m)?.[1] ?? "");
  }
  return alerts;
}

/** Every `expr` string anywhere in a JSON value, with where it is. */
function jsonExprs(value: unknown, path = ""): { where: string; expr: string }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => jsonExprs(v, `${path}[${i}]`));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([k, v]) =>
    k === "expr" && typeof v === "string"
      ? [{ where: `${path}.expr`, expr: v }]
      : jsonExprs(v, `${path}.${k}`)
  );
}

/** The text of the section `## title` of a Markdown page, up to the next `## ` heading. */
function section(text: string, title: string): string {
  const start = text.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `${DOC} has a section "${title}"`);
  const rest = text.slice(start + 1);
  const end = rest.indexOf("\n## ");
  return end < 0 ? rest : rest.slice(0, end);
}

/** The fenced code blocks of `lang` in a Markdown text, in order. */
function fenced(text: string, lang: string): string[] {
  const fence = new RegExp("^```" + lang + "\\n([\\s\\S]*?)^```$", "gm");
  return [...text.matchAll(fence)].map((m) => m[1]!);
}

/** The rows of a Markdown table whose first cell is a code span: first cell to the others. */
function tableRows(text: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const m of text.matchAll(/^\|\s*`([^`]+)`\s*\|(.*)\|\s*$/gm)) {
    rows.set(m[1]!, m[2]!.split("|").map((c) => c.trim()));
  }
  return rows;
}

// ---------------------------------------------------------------------------------------
// What a PromQL expression uses

/** The metrics, labels, functions and `label="value"` matchers of one PromQL expression. */
interface PromqlUses {
  metrics: Set<string>;
  labels: Set<string>;
  /** `[metric, label, value]` of every `=` matcher whose value holds no variable. */
  equals: [string, string, string][];
  /** Anything the reader did not understand, or a function PromQL does not have. */
  problems: string[];
}

/**
 * Reads what an expression selects, from its tokens: selectors and their matchers,
 * grouping labels (`by`, `without`, `on`, `ignoring`, `group_left`, `group_right`), and
 * every other name, which is a function when a `(` follows it, else a keyword or a metric.
 * Grafana's `label_values(selector, label)` (a variable's query) is read as its parts.
 */
function promqlUses(source: string): PromqlUses {
  const uses: PromqlUses = { metrics: new Set(), labels: new Set(), equals: [], problems: [] };
  let expr = source.trim();
  const labelValues = /^label_values\((?:(.*),)?\s*([A-Za-z_]\w*)\s*\)$/s.exec(expr);
  if (labelValues) {
    uses.labels.add(labelValues[2]!);
    if (!labelValues[1]) return uses;
    expr = labelValues[1];
  }
  // Grafana's interval variables stand where a duration does.
  expr = expr.replace(/\$\{?(__\w+)\}?/g, (_, name) => {
    if (!GRAFANA_VARIABLES.has(name)) uses.problems.push(`unknown Grafana variable $${name}`);
    return "5m";
  });
  const matcher = /([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g;
  expr = expr.replace(
    /([A-Za-z_:][\w:]*)?\s*\{([^{}]*)\}/g,
    (_, name: string | undefined, body) => {
      if (!name) uses.problems.push(`a selector without a metric name: {${body}}`);
      for (const [, label, op, value] of body.matchAll(matcher)) {
        uses.labels.add(label!);
        if (op === "=" && name && !value!.includes("$")) uses.equals.push([name, label!, value!]);
      }
      const left = body.replace(matcher, "").replace(/[\s,]/g, "");
      if (left !== "") uses.problems.push(`a matcher not understood: {${body}}`);
      return name ? ` ${name} ` : " ";
    },
  );
  expr = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, " ");
  expr = expr.replace(/\[[^\]]*\]/g, " ");
  expr = expr.replace(
    /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g,
    (_, _kw, list: string) => {
      for (const label of list.split(",").map((l) => l.trim()).filter((l) => l !== "")) {
        if (/^[A-Za-z_]\w*$/.test(label)) uses.labels.add(label);
        else uses.problems.push(`a grouping label not understood: ${label}`);
      }
      return " ";
    },
  );
  expr = expr.replace(/\b(group_left|group_right)\b/g, " ");
  expr = expr.replace(/(?<![\w:.])(\d+(ms|[smhdwy]))+(?![\w:])/g, " ");
  expr = expr.replace(/(?<![\w:.])(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?(?![\w:])/g, " ");
  if (/\$/.test(expr)) uses.problems.push(`a variable outside a matcher: ${source}`);
  for (const m of expr.matchAll(/[A-Za-z_:][\w:]*/g)) {
    const name = m[0];
    const after = expr.slice(m.index + name.length).trimStart();
    if (after.startsWith("(")) {
      if (!FUNCTIONS.has(name)) uses.problems.push(`no PromQL function ${name}()`);
    } else if (!KEYWORDS.has(name.toLowerCase())) {
      uses.metrics.add(name);
    }
  }
  const rest = expr.replace(/[A-Za-z_:][\w:]*/g, " ").replace(/[\s()+\-*/%^,<>=!]/g, "");
  if (rest !== "") uses.problems.push(`text not understood: ${rest} in ${source}`);
  return uses;
}

// ---------------------------------------------------------------------------------------
// What a collector serves

/** One sample of an exposition: its name and labels. */
interface Sample {
  name: string;
  labels: Map<string, string>;
}

/** The samples of a text exposition, and the declared type of each family. */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${line}`);
    const labels = new Map<string, string>();
    for (const [, k, v] of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels.set(k!, v!.replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c)));
    }
    samples.push({ name: m[1]!, labels });
  }
  return { samples, types };
}

/** Checks every query's metrics, labels and `=` values against what was served. */
function checkQueries(
  queries: { where: string; expr: string }[],
  samples: Sample[],
): string[] {
  const names = new Set(samples.map((s) => s.name));
  const labels = new Set([...TARGET_LABELS, ...samples.flatMap((s) => [...s.labels.keys()])]);
  const problems: string[] = [];
  for (const { where, expr } of queries) {
    const uses = promqlUses(expr);
    problems.push(...uses.problems.map((p) => `${where}: ${p}`));
    if (uses.metrics.size === 0) problems.push(`${where}: selects no metric: ${expr}`);
    for (const metric of uses.metrics) {
      if (!names.has(metric) && !PROMETHEUS_METRICS.has(metric)) {
        problems.push(`${where}: ${metric} is not served by /metrics`);
      }
    }
    for (const label of uses.labels) {
      if (!labels.has(label)) problems.push(`${where}: no served series has a label ${label}`);
    }
    for (const [metric, label, value] of uses.equals) {
      if (TARGET_LABELS.has(label) || PROMETHEUS_METRICS.has(metric)) continue;
      if (!samples.some((s) => s.name === metric && s.labels.get(label) === value)) {
        problems.push(`${where}: no served ${metric} has ${label}="${value}"`);
      }
    }
  }
  return problems;
}

/** The alerting rules' and the dashboard's queries, each with where it comes from. */
async function allQueries(): Promise<{ where: string; expr: string }[]> {
  const alerts = ruleExprs(await Deno.readTextFile(ALERTS)).map((expr, i) => ({
    where: `alerts.yml expr #${i + 1}`,
    expr,
  }));
  const dashboard = JSON.parse(await Deno.readTextFile(DASHBOARD));
  const panels = jsonExprs(dashboard).map(({ where, expr }) => ({
    where: `session-buddy.json ${where}`,
    expr,
  }));
  return [...alerts, ...panels, ...variableQueries(dashboard)];
}

/** The queries of a dashboard's `query` variables. */
function variableQueries(dashboard: Record<string, unknown>): { where: string; expr: string }[] {
  const list = ((dashboard.templating as { list?: Record<string, unknown>[] })?.list) ?? [];
  return list.filter((v) => v.type === "query").map((v) => {
    const query = typeof v.query === "string" ? v.query : (v.query as { query: string }).query;
    return { where: `session-buddy.json variable ${v.name}`, expr: query };
  });
}

// ---------------------------------------------------------------------------------------
// The tests

Deno.test("the query reader finds a misspelt metric, label, value or function", () => {
  const samples = parseExposition(
    [
      'session_buddy_open_sessions{component="a",status="stale"} 1',
      'session_buddy_tool_call_duration_seconds_bucket{tool="t",le="+Inf"} 1',
      "session_buddy_auth_failures_total 0",
    ].join("\n"),
  ).samples;
  const good = [
    'max by (job, component) (session_buddy_open_sessions{job="x", status="stale"}) > 0',
    "histogram_quantile(0.99, sum by (tool, le) (rate(" +
    "session_buddy_tool_call_duration_seconds_bucket[$__rate_interval]))) > 1.5e0",
    'up{job="session-buddy"} == 0 or time() - session_buddy_auth_failures_total offset 1h30m',
  ];
  assert.deepEqual(checkQueries(good.map((expr) => ({ where: "good", expr })), samples), []);
  const bad = [
    'max(session_buddy_open_session{status="stale"})',
    'sum by (compnent) (session_buddy_open_sessions{status="stale"})',
    'session_buddy_open_sessions{status="stail"}',
    "hitsogram_quantile(0.9, rate(session_buddy_tool_call_duration_seconds_bucket[5m]))",
    "rate(session_buddy_tool_call_duration_seconds[5m])",
    "rate(sesion_buddy_auth_failures_total[5m])",
  ];
  for (const expr of bad) {
    assert.notDeepEqual(checkQueries([{ where: "bad", expr }], samples), [], expr);
  }
  assert.deepEqual(ruleExprs('- expr: a\n    + b\n  for: 1m\n- expr: "c{d=\\"e\\"}"\n'), [
    "a + b",
    'c{d="e"}',
  ]);
});

Deno.test("alerts.yml: promtool check rules accepts every rule", async () => {
  const text = await Deno.readTextFile(ALERTS);
  const rules = text.match(/^\s*- (alert|record):/gm)?.length ?? 0;
  assert.ok(rules >= 6, "the rules are there");
  assert.equal(ruleExprs(text).length, rules, "one expr per rule is read");
  const out = await promtool(["check", "rules", "contrib/prometheus/alerts.yml"]);
  if (!out) return skipped(PROMTOOL_MISSING);
  assert.equal(out.code, 0, out.stdout + out.stderr);
  assert.match(out.stdout, new RegExp(`SUCCESS: ${rules} rules found`), out.stdout);
});

Deno.test("alerts_test.yml: every alert fires in one case and stays silent in another; promtool test rules passes", async () => {
  const alerts = ruleAlerts(await Deno.readTextFile(ALERTS));
  const tests = await Deno.readTextFile(ALERTS_TEST);
  const fires = new Set<string>();
  const silent = new Set<string>();
  for (const part of tests.split(/^\s*- eval_time:/m).slice(1)) {
    const name = part.match(/^\s*alertname:\s*(\S+)\s*$/m)?.[1];
    assert.ok(name, `an alertname in ${part}`);
    assert.ok(alerts.has(name), `${name} is an alert of alerts.yml`);
    if (/^\s*exp_alerts:\s*\[\]\s*$/m.test(part)) silent.add(name);
    else if (/^\s*- exp_labels:/m.test(part)) {
      assert.match(part, /^\s*exp_annotations:/m, `${name}: annotations are expected too`);
      assert.match(part, new RegExp(`^\\s*severity: ${alerts.get(name)}\\s*$`, "m"), name);
      fires.add(name);
    }
  }
  assert.deepEqual([...fires].sort(), [...alerts.keys()].sort(), "every alert fires in a test");
  assert.deepEqual([...silent].sort(), [...alerts.keys()].sort(), "every alert stays silent once");
  for (const [name, severity] of alerts) {
    assert.match(severity, /^(warning|critical)$/, `${name} has a severity`);
  }
  const out = await promtool(["test", "rules", "contrib/prometheus/alerts_test.yml"]);
  if (!out) return skipped(PROMTOOL_MISSING);
  assert.equal(out.code, 0, out.stdout + out.stderr);
  assert.match(out.stdout, /SUCCESS/);
});

Deno.test("the Grafana dashboard is an importable JSON model whose every query is valid PromQL", async () => {
  const dashboard = JSON.parse(await Deno.readTextFile(DASHBOARD));
  assert.equal(typeof dashboard.uid, "string");
  assert.equal(typeof dashboard.title, "string");
  assert.ok(dashboard.schemaVersion >= 36 && dashboard.schemaVersion <= 41, "schemaVersion");
  const variables: Record<string, unknown>[] = dashboard.templating.list;
  const names = new Set(variables.map((v) => v.name as string));
  const source = variables.find((v) => v.type === "datasource");
  assert.deepEqual([source?.name, source?.query], ["datasource", "prometheus"]);
  const prometheus = { type: "prometheus", uid: "${datasource}" };
  const panels: Record<string, unknown>[] = dashboard.panels.flatMap((
    p: Record<string, unknown>,
  ) => [p, ...((p.panels as Record<string, unknown>[]) ?? [])]);
  const ids = new Set<number>();
  const boxes: { title: string; x: number; y: number; w: number; h: number }[] = [];
  for (const panel of panels) {
    const title = String(panel.title);
    assert.ok(Number.isInteger(panel.id) && !ids.has(panel.id as number), `${title}: its own id`);
    ids.add(panel.id as number);
    assert.ok(title.trim() !== "", `panel ${panel.id} has a title`);
    assert.ok(["timeseries", "stat", "row"].includes(panel.type as string), `${title}: type`);
    const box = panel.gridPos as { x: number; y: number; w: number; h: number };
    for (const k of ["x", "y", "w", "h"] as const) {
      assert.ok(Number.isInteger(box?.[k]) && box[k] >= 0, `${title}: gridPos.${k}`);
    }
    assert.ok(box.w > 0 && box.h > 0 && box.x + box.w <= 24, `${title}: gridPos inside 24 columns`);
    for (const other of boxes) {
      const apart = box.x >= other.x + other.w || other.x >= box.x + box.w ||
        box.y >= other.y + other.h || other.y >= box.y + box.h;
      assert.ok(apart, `${title} overlaps ${other.title}`);
    }
    boxes.push({ title, ...box });
    if (panel.type === "row") continue;
    assert.deepEqual(panel.datasource, prometheus, `${title}: the datasource variable`);
    const targets = panel.targets as Record<string, unknown>[];
    assert.ok(Array.isArray(targets) && targets.length > 0, `${title}: targets`);
    const refIds = targets.map((t) => t.refId);
    assert.equal(new Set(refIds).size, refIds.length, `${title}: refIds differ`);
    for (const target of targets) {
      assert.ok(typeof target.expr === "string" && target.expr.trim() !== "", `${title}: expr`);
      assert.deepEqual(target.datasource, prometheus, `${title}: target datasource`);
    }
  }
  // Every variable a query names is the dashboard's own or Grafana's.
  const queries = [...jsonExprs(dashboard), ...variableQueries(dashboard)];
  for (const { where, expr } of queries) {
    for (const [, name] of expr.matchAll(/\$\{?(\w+)/g)) {
      assert.ok(names.has(name!) || GRAFANA_VARIABLES.has(name!), `${where}: $${name} is defined`);
    }
  }
  // promtool parses each query as a recording rule, with the variables given values. A
  // rule file may be JSON, which YAML includes.
  const values: Record<string, string> = {
    __rate_interval: "5m",
    __interval: "1m",
    __range: "1h",
    job: "session-buddy",
    instance: ".*",
  };
  const rules = queries.map(({ expr }, i) => {
    const selector = /^label_values\((.*),\s*\w+\)$/s.exec(expr)?.[1];
    return {
      record: `dashboard:query_${i}`,
      expr: (selector ?? expr).replace(/\$\{?(\w+)\}?/g, (_, name) => values[name] ?? name),
    };
  });
  const { dir, cleanup } = await tempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/dashboard.rules.json`,
      JSON.stringify({ groups: [{ name: "dashboard", rules }] }),
    );
    const out = await promtool(["check", "rules", `${dir}/dashboard.rules.json`]);
    if (!out) return skipped(PROMTOOL_MISSING);
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.match(out.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`), out.stdout);
  } finally {
    await cleanup();
  }
});

Deno.test("every metric, label and value the alerts and the dashboard select is one a real collector serves", async (t) => {
  const { dir, cleanup } = await tempDir();
  try {
    const server = await startHttpServer({
      env: { HOME: dir, SESSION_BUDDY_DB: `${dir}/s.kv`, SESSION_BUDDY_SECRET: SECRET },
    });
    let text: string;
    try {
      const token = await mintToken();
      const client = await connectHttp(server.mcp);
      try {
        const started = await client.call("track_session_start", startArgs({ token }));
        assert.equal(started.status, "tracked", JSON.stringify(started));
        const ended = await client.call(
          "track_session_end",
          endArgs(String(started.session_id), { token }),
        );
        assert.equal(ended.status, "ended", JSON.stringify(ended));
        // One shell left open, so that the open-session gauges have a component.
        const open = await client.call("track_session_start", startArgs({ token }));
        assert.equal(open.status, "tracked", JSON.stringify(open));
        const wrong = await mintToken({}, "another-secret-0123456789-abcdefghijklmnop");
        const refused = await client.call("track_session_start", startArgs({ token: wrong }));
        assert.equal(refused.status, "error", JSON.stringify(refused));
      } finally {
        await client.close();
      }
      const anonymous = await fetch(`${server.origin}/metrics`);
      assert.equal(anonymous.status, 401);
      await anonymous.body?.cancel();
      const scrape = await fetch(`${server.origin}/metrics`, {
        headers: { authorization: `Bearer ${await mintToken({ user_id: "prometheus" })}` },
      });
      assert.equal(scrape.status, 200);
      text = await scrape.text();
    } finally {
      await server.stop();
    }
    const { samples, types } = parseExposition(text);
    const served = new Set(samples.map((s) => s.name));
    for (
      const name of [
        "session_buddy_open_sessions",
        "session_buddy_open_session_max_age_seconds",
        "session_buddy_tool_call_duration_seconds_bucket",
        "session_buddy_store_commit_duration_seconds_count",
        "session_buddy_store_errors_total",
      ]
    ) {
      assert.ok(served.has(name), `the scrape has ${name}:\n${text}`);
    }

    await t.step("the queries of alerts.yml and session-buddy.json", async () => {
      const queries = await allQueries();
      assert.ok(queries.length >= 20, `the queries are read (${queries.length})`);
      assert.deepEqual(checkQueries(queries, samples), []);
    });

    await t.step("docs/monitoring.md: its metrics table lists what /metrics serves", async () => {
      const doc = await Deno.readTextFile(DOC);
      const rows = tableRows(section(doc, "What the collector reports"));
      const documented = [...rows].map(([name, cells]) => `${name} ${cells[0]}`).sort();
      assert.deepEqual(documented, [...types].map(([name, type]) => `${name} ${type}`).sort());
    });
  } finally {
    await cleanup();
  }
});

Deno.test("docs/monitoring.md: its Prometheus configuration passes promtool with the rules where it loads them", async () => {
  const doc = await Deno.readTextFile(DOC);
  const scraping = section(doc, "Scraping and loading the rules");
  const configs = fenced(doc, "yaml");
  assert.equal(configs.length, 1, "one configuration on the page");
  const config = configs[0]!;
  assert.deepEqual(fenced(scraping, "yaml"), [config], "in its section");
  assert.match(config, /^\s+credentials_file: \/etc\/prometheus\/\S+$/m);

  // The job the rules and the dashboard select is the one the configuration scrapes.
  const job = config.match(/^\s*- job_name:\s*(\S+)\s*$/m)?.[1];
  assert.equal(job, "session-buddy");
  const selected = (await allQueries()).flatMap(({ expr }) =>
    [...expr.matchAll(/\bjob\s*=\s*"([^"$]*)"/g)].map((m) => m[1])
  );
  assert.ok(selected.length > 0);
  assert.deepEqual([...new Set(selected)], [job], "every query selects the configured job");
  const dashboard = JSON.parse(await Deno.readTextFile(DASHBOARD));
  const jobVariable = dashboard.templating.list.find((v: { name: string }) => v.name === "job");
  assert.equal(jobVariable.current.value, job, "the dashboard's default job");

  // The rules are copied to the file the configuration loads.
  const [install, check, ...rest] = fenced(scraping, "sh")[0]!.trim().split("\n");
  assert.ok(rest.length <= 1);
  const copy = /^sudo install -m 644 (\S+) (\S+)$/.exec(install!);
  assert.ok(copy, install);
  assert.equal(copy[1], "contrib/prometheus/alerts.yml");
  const ruleFiles = config.match(/^rule_files:\n((?:\s+- .*\n)+)/m)?.[1];
  assert.deepEqual(ruleFiles?.trim().split("\n").map((l) => l.replace(/^\s*- /, "")), [copy[2]]);
  assert.match(check!, /^promtool check config (\S+)$/);

  // The alerts table names the alerts of alerts.yml, with their severity.
  const alerts = ruleAlerts(await Deno.readTextFile(ALERTS));
  const rows = tableRows(section(doc, "Alerts"));
  assert.deepEqual(
    [...rows].map(([name, cells]) => `${name} ${cells[0]}`).sort(),
    [...alerts].map(([name, severity]) => `${name} ${severity}`).sort(),
  );
  assert.ok(
    section(doc, "Alerts").includes("\npromtool test rules contrib/prometheus/alerts_test.yml\n"),
    "the unit test command the tests run",
  );

  // The configuration as written, with /etc/prometheus in a temporary folder.
  const { dir, cleanup } = await tempDir();
  try {
    const files = [...config.matchAll(/^\s*(?:- |\w+_file:\s*)(\/\S+)$/gm)].map((m) => m[1]!);
    assert.ok(files.length >= 2, "the files the configuration names");
    for (const file of files) assert.match(file, /^\/etc\/prometheus\//, "under /etc/prometheus");
    const etc = `${dir}/etc/`;
    const local = config.replaceAll("/etc/prometheus/", etc);
    await Deno.mkdir(`${etc}rules`, { recursive: true });
    for (const [, file] of local.matchAll(/^\s*(?:credentials_file|ca_file):\s*(\S+)$/gm)) {
      await Deno.writeTextFile(file!, await mintToken({ user_id: "prometheus" }));
    }
    await Deno.copyFile(ALERTS, copy[2]!.replace("/etc/prometheus/", etc));
    await Deno.writeTextFile(`${etc}prometheus.yml`, local);
    const out = await promtool(["check", "config", `${etc}prometheus.yml`]);
    if (!out) return skipped(PROMTOOL_MISSING);
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.match(out.stdout, /SUCCESS: 1 rule files found/, out.stdout);
    assert.match(out.stdout, new RegExp(`SUCCESS: ${alerts.size} rules found`), out.stdout);
  } finally {
    await cleanup();
  }
});
