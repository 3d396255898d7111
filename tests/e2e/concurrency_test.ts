/**
 * SPEC section 8: several servers on one store (a Deno KV file, one PostgreSQL database) lose
 * no write and hand out no duplicate id, even when every start asks for the same base id;
 * each lists what all of them tracked. Once per store ("[kv] ...", "[postgres] ..."); the
 * checks of Deno KV's index keys run on the kv store only.
 */
import assert from "node:assert/strict";
import { endArgs, type Running, startArgs, startServer, withStore } from "../helpers/server.ts";
import { storeTest, withTestStore } from "../helpers/contract.ts";

const SERVERS = 4;
const PER_SERVER = 25;
const TOTAL = SERVERS * PER_SERVER;

storeTest(
  "four servers on one store: 100 same-second starts get distinct ids, each server lists them all, all end",
  async (kind) => {
    await withTestStore(kind, async (store, dir) => {
      const servers: Running[] = [];
      try {
        for (let i = 0; i < SERVERS; i++) {
          servers.push(await startServer({ env: { ...store.env, HOME: dir } }));
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

        // Every server lists every start at once, its own and the others' (index keys follow a
        // start in batches; until then a listing finds the session through its marker).
        const listedIds = async (server: Running, status: string) => {
          const page = await server.call("list_sessions", { status, limit: 500 });
          return (page.sessions as { session_id: string }[]).map((s) => s.session_id).sort();
        };
        for (const server of servers) {
          assert.deepEqual(await listedIds(server, "active"), [...expected].sort());
        }

        const ended = await Promise.all(
          ids.map((id, i) => servers[i % SERVERS]!.call("track_session_end", endArgs(id))),
        );
        ended.forEach((result, i) => {
          assert.deepEqual(result, { session_id: ids[i], status: "ended", error: null });
        });
        for (const server of servers) {
          assert.deepEqual(await listedIds(server, "ended"), [...expected].sort());
          assert.deepEqual(await listedIds(server, "active"), []);
        }
        await Promise.all(servers.map((s) => s.close()));
        servers.length = 0;

        const records: Record<string, unknown>[] = [];
        for (const id of await store.sessionIds()) {
          const record = await store.readRecord(id);
          assert.ok(record, `the record of ${id}`);
          records.push(record);
        }
        assert.equal(records.length, TOTAL);
        assert.deepEqual(records.map((r) => r.session_id).sort(), [...expected].sort());
        for (const record of records) assert.equal(record.status, "ended");
        // KV-only: Deno KV's index keys and unindexed markers. The servers exited: every index
        // key is written, each status key as the record has it.
        const db = store.kvPath;
        if (db !== null) {
          const count = (prefix: Deno.KvKey) =>
            withStore(db, async (kv) => (await Array.fromAsync(kv.list({ prefix }))).length);
          assert.equal(await count(["unindexed"]), 0);
          assert.equal(await count(["by_status", "active"]), 0);
          assert.equal(await count(["by_status", "ended"]), TOTAL);
          assert.equal(await count(["by_start"]), TOTAL);
        }
      } finally {
        await Promise.all(servers.map((s) => s.close()));
      }
    });
  },
);
