/**
 * The PostgreSQL store in this process, on a real cluster: what the contract suite cannot
 * see from outside, such as starts in flight being committed together, each answered only
 * once its group's transaction has committed.
 */
import assert from "node:assert/strict";
import { parseStartEvent } from "../../src/sessions/events.ts";
import { openPostgresStore } from "../../src/store/postgres/store.ts";
import { parsePostgresUrl } from "../../src/store/postgres/url.ts";
import { pg, skipWithoutPg } from "../helpers/postgres.ts";
import { startArgs } from "../helpers/server.ts";

function event(overrides: Record<string, unknown> = {}) {
  const parsed = parseStartEvent(startArgs(overrides));
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

Deno.test("PostgreSQL: starts in flight are committed in groups; each is in the table when answered", async () => {
  const cluster = await pg();
  if (!cluster) return skipWithoutPg("the PostgreSQL store's group commit");
  const database = await cluster.createDatabase();
  const store = await openPostgresStore(parsePostgresUrl(database.url));
  try {
    let commits = 0;
    store.observe({ commit: () => commits++, retry: () => {} });
    const timestamp = "2026-02-06T12:34:56.789Z";
    const answers = await Promise.all(
      Array.from({ length: 60 }, async () => {
        const result = await store.start(event({ timestamp }), null, new Date());
        assert.equal(result.kind, "tracked");
        const id = result.kind === "tracked" ? result.record.session_id : "";
        // Answered means committed: another connection sees it at once.
        const rows = await database.query(
          "SELECT 1 FROM session_buddy.sessions WHERE session_id = $1",
          [id],
        );
        assert.equal(rows.length, 1, `${id} is visible when its start is answered`);
        return id;
      }),
    );
    assert.equal(new Set(answers).size, 60, "60 distinct ids");
    const base = "mahavishnu-20260206-123456";
    const suffixes = answers.map((id) => id === base ? 1 : Number(id.slice(base.length + 1)))
      .sort((x, y) => x - y);
    assert.deepEqual(
      suffixes,
      Array.from({ length: 60 }, (_, i) => i + 1),
      "no gap in -2, -3, ...",
    );
    assert.ok(commits < 60, `60 starts in ${commits} transactions`);
  } finally {
    await store.close();
    await database.drop();
  }
});

Deno.test("PostgreSQL: the same event twice in one group is stored once; a changed one is the conflict", async () => {
  const cluster = await pg();
  if (!cluster) return skipWithoutPg("the PostgreSQL store's group commit");
  const database = await cluster.createDatabase();
  const store = await openPostgresStore(parsePostgresUrl(database.url));
  try {
    const first = event();
    const [a, b, c] = await Promise.all([
      store.start(first, null, new Date()),
      store.start(first, null, new Date()),
      store.start({ ...first, pid: first.pid + 1 }, null, new Date()),
    ]);
    assert.equal(a.kind, "tracked");
    const id = a.kind === "tracked" ? a.record.session_id : "";
    assert.deepEqual(b, { kind: "replayed", sessionId: id });
    assert.deepEqual(c, { kind: "conflict", sessionId: id });
    const later = await store.start(first, null, new Date());
    assert.deepEqual(later, { kind: "replayed", sessionId: id });
    const rows = await database.query("SELECT count(*)::int AS n FROM session_buddy.sessions");
    assert.equal(rows[0]!.n, 1);
  } finally {
    await store.close();
    await database.drop();
  }
});

Deno.test("PostgreSQL: an id taken outside the counter is skipped, and the answered record is the stored one", async () => {
  const cluster = await pg();
  if (!cluster) return skipWithoutPg("the PostgreSQL store's id allocation");
  const database = await cluster.createDatabase();
  const store = await openPostgresStore(parsePostgresUrl(database.url));
  try {
    const timestamp = "2026-02-06T12:34:56.789Z";
    const base = "mahavishnu-20260206-123456";
    // `-2` written behind the counter's back (as a concurrent import could).
    await database.query(
      `INSERT INTO session_buddy.sessions (session_id, event_id, started_ms, component_name,
         hostname, username, status, last_seen_ms, record)
       VALUES ($1, 'elsewhere', 0, 'mahavishnu', 'h', 'u', 'ended', 0, '{}')`,
      [`${base}-2`],
    );
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const result = await store.start(event({ timestamp }), null, new Date());
      assert.equal(result.kind, "tracked");
      if (result.kind !== "tracked") continue;
      ids.push(result.record.session_id);
      const [row] = await database.query(
        "SELECT record FROM session_buddy.sessions WHERE session_id = $1",
        [result.record.session_id],
      );
      assert.equal(row!.record, JSON.stringify(result.record), "answered as stored");
    }
    assert.deepEqual(ids, [base, `${base}-3`]);
    // In one group too: both bases' next ids, none of them the taken one.
    await database.query(
      `INSERT INTO session_buddy.sessions (session_id, event_id, started_ms, component_name,
         hostname, username, status, last_seen_ms, record)
       VALUES ($1, 'elsewhere-2', 0, 'mahavishnu', 'h', 'u', 'ended', 0, '{}')`,
      [`${base}-5`],
    );
    const group = await Promise.all(
      [0, 1, 2].map(() => store.start(event({ timestamp }), null, new Date())),
    );
    assert.deepEqual(
      group.map((r) => r.kind === "tracked" ? r.record.session_id : r.kind).sort(),
      [`${base}-4`, `${base}-6`, `${base}-7`],
    );
  } finally {
    await store.close();
    await database.drop();
  }
});
