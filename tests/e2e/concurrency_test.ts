/**
 * SPEC section 8: several servers on one store file lose no write and hand out no
 * duplicate id, even when every start asks for the same base id.
 */
import assert from "node:assert/strict";
import {
  endArgs,
  type Running,
  startArgs,
  startServer,
  tempDir,
  withStore,
} from "../helpers/server.ts";

const SERVERS = 4;
const PER_SERVER = 25;
const TOTAL = SERVERS * PER_SERVER;

Deno.test("four servers on one store: 100 same-second starts get distinct ids and all end", async () => {
  const { dir, cleanup } = await tempDir();
  const db = `${dir}/s.kv`;
  const servers: Running[] = [];
  try {
    for (let i = 0; i < SERVERS; i++) {
      servers.push(await startServer({ env: { SESSION_BUDDY_DB: db, HOME: dir } }));
    }
    const timestamp = "2026-02-06T12:34:56.789Z";
    const base = "mahavishnu-20260206-123456";
    const started = await Promise.all(
      servers.flatMap((server) =>
        Array.from(
          { length: PER_SERVER },
          () => server.call("track_session_start", startArgs({ timestamp })),
        )
      ),
    );
    assert.equal(started.length, TOTAL);
    for (const result of started) {
      assert.equal(result.status, "tracked", JSON.stringify(result));
      assert.equal(result.error, null);
    }
    const ids = started.map((r) => r.session_id as string);
    assert.equal(new Set(ids).size, TOTAL, "every returned id is distinct");
    const expected = [base, ...Array.from({ length: TOTAL - 1 }, (_, i) => `${base}-${i + 2}`)];
    assert.deepEqual([...ids].sort(), [...expected].sort());

    const ended = await Promise.all(
      ids.map((id, i) => servers[i % SERVERS]!.call("track_session_end", endArgs(id))),
    );
    ended.forEach((result, i) => {
      assert.deepEqual(result, { session_id: ids[i], status: "ended", error: null });
    });

    const records = await withStore(db, async (kv) => {
      const out: Record<string, unknown>[] = [];
      for await (const entry of kv.list<Uint8Array>({ prefix: ["session"] })) {
        out.push(JSON.parse(new TextDecoder().decode(entry.value)));
      }
      return out;
    });
    assert.equal(records.length, TOTAL);
    assert.deepEqual(records.map((r) => r.session_id).sort(), [...expected].sort());
    for (const record of records) assert.equal(record.status, "ended");
  } finally {
    await Promise.all(servers.map((s) => s.close()));
    await cleanup();
  }
});
