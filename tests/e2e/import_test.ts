/**
 * SPEC 8.3, `sessions import` never drops a session (issue #20), run as real processes between
 * two stores: from a Deno KV store into each store ("[kv] ...", "[postgres] ...",
 * "[kv-connect] ..."), and from PostgreSQL into Deno KV. Two hosts whose shells started in
 * the same second hold the same id: both are kept, the imported one renumbered with its
 * former id as `origin_session_id`; a heartbeat and an end made on the host after a first
 * move are carried by the next; a client's end is not replaced by a reaper's; and a run
 * again changes nothing, byte for byte.
 */
import assert from "node:assert/strict";
import { skipWithoutPg } from "../helpers/postgres.ts";
import {
  KV_STORE,
  type StoreKind,
  STORES,
  storeTest,
  type TestStore,
  withTestStore,
} from "../helpers/contract.ts";
import { endArgs, runProgram, startArgs, startServer } from "../helpers/server.ts";

/** The second both shells started in, on two hosts. */
const SAME_SECOND = "2026-03-02T08:15:30.000Z";
const ID = "mahavishnu-20260302-081530";

/** The program on `store`; asserts exit 0 and returns stdout. */
async function cli(store: TestStore, args: string[], stdin = ""): Promise<string> {
  const out = await runProgram(args, store.env, stdin);
  assert.equal(out.code, 0, `${args.join(" ")}: exit ${out.code}; stderr: ${out.stderr}`);
  return out.stdout;
}

/** Calls tools on a server on `store`, closed afterwards. */
async function onServer<T>(
  store: TestStore,
  fn: (
    call: (tool: string, args: Record<string, unknown>) => Promise<Record<string, unknown>>,
  ) => Promise<T>,
): Promise<T> {
  const server = await startServer({ env: store.env });
  try {
    return await fn((tool, args) => server.call(tool, args));
  } finally {
    await server.close();
  }
}

/** Exports `from` and imports it into `to`; returns the summary line. */
async function move(from: TestStore, to: TestStore): Promise<string> {
  const exported = await cli(from, ["sessions", "export"]);
  return (await cli(to, ["sessions", "import", "-"], exported)).trim();
}

function summary(n: number, w: number, r: number, u: number, c: number): string {
  return `Imported ${n} session${
    n === 1 ? "" : "s"
  }: ${w} written, ${r} renumbered, ${u} updated, ${c} unchanged`;
}

async function ids(store: TestStore, status: string): Promise<string[]> {
  const out = await cli(store, ["sessions", "list", "--status", status, "--json"]);
  return out.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l).session_id);
}

/** The whole scenario, host-b's store `from` moved into the fleet store `to`. */
async function scenario(fromKind: StoreKind, toKind: StoreKind): Promise<void> {
  await withTestStore(toKind, (fleet) =>
    withTestStore(fromKind, async (host) => {
      const john = startArgs({ timestamp: SAME_SECOND });
      const mallory = startArgs({
        timestamp: SAME_SECOND,
        user: { username: "mallory", home: "/home/mallory" },
        hostname: "host-b",
      });
      await onServer(fleet, async (call) => {
        assert.equal((await call("track_session_start", john)).session_id, ID);
      });
      await onServer(host, async (call) => {
        assert.equal((await call("track_session_start", mallory)).session_id, ID);
      });

      // Both kept: mallory's session takes the next id of the base and keeps its own as origin.
      assert.equal(await move(host, fleet), summary(1, 0, 1, 0, 0));
      const moved = await fleet.readRecord(`${ID}-2`);
      assert.equal(moved?.event_id, mallory.event_id);
      assert.equal(moved?.origin_session_id, ID);
      assert.equal((await fleet.readRecord(ID))?.event_id, john.event_id);
      const shown = await cli(fleet, ["sessions", "show", `${ID}-2`]);
      assert.match(shown, /^user +mallory \(\/home\/mallory\)$/m);
      assert.match(shown, new RegExp(`^origin id +${ID}$`, "m"));
      await onServer(fleet, async (call) => {
        const got = await call("get_session", { session_id: `${ID}-2`, token: null });
        assert.equal(got.status, "found", JSON.stringify(got));
        const session = got.session as Record<string, unknown>;
        assert.equal(session.origin_session_id, ID);
        assert.equal(session.event_id, mallory.event_id);
      });

      // A heartbeat on the host after the move: the next move brings the later last-seen.
      await new Promise((r) => setTimeout(r, 10));
      await onServer(host, async (call) => {
        const beat = await call("track_session_heartbeat", {
          session_id: ID,
          timestamp: new Date().toISOString(),
          token: null,
        });
        assert.equal(beat.status, "alive", JSON.stringify(beat));
      });
      const seen = (await host.readRecord(ID))!.last_seen_at;
      assert.notEqual((await fleet.readRecord(`${ID}-2`))!.last_seen_at, seen);
      assert.equal(await move(host, fleet), summary(1, 0, 0, 1, 0));
      assert.equal((await fleet.readRecord(`${ID}-2`))!.last_seen_at, seen);

      // The session ends on the host: the next move ends it in the fleet store too.
      await onServer(host, async (call) => {
        const ended = await call(
          "track_session_end",
          endArgs(ID, { timestamp: "2026-03-02T09:00:00.000Z" }),
        );
        assert.equal(ended.status, "ended", JSON.stringify(ended));
      });
      assert.deepEqual((await ids(fleet, "active")).sort(), [ID, `${ID}-2`]);
      assert.equal(await move(host, fleet), summary(1, 0, 0, 1, 0));
      const endedThere = (await fleet.readRecord(`${ID}-2`))!;
      assert.equal(endedThere.status, "ended");
      assert.equal(endedThere.end_source, "client");
      assert.equal(endedThere.ended_at, "2026-03-02T09:00:00.000Z");
      assert.equal(endedThere.origin_session_id, ID);
      assert.deepEqual(await ids(fleet, "active"), [ID]);
      assert.deepEqual(await ids(fleet, "ended"), [`${ID}-2`]);

      // A client's end in the fleet store is not replaced by a reaper's end from elsewhere.
      await onServer(fleet, async (call) => {
        const ended = await call(
          "track_session_end",
          endArgs(ID, { timestamp: "2026-03-02T08:20:00.000Z" }),
        );
        assert.equal(ended.status, "ended", JSON.stringify(ended));
      });
      const johnEnded = (await fleet.readRecord(ID))!;
      const reaped = {
        ...johnEnded,
        ended_at: "2026-03-02T20:15:30.000Z",
        duration_seconds: 43200,
        end_metadata: { reason: "reaped: not seen for longer than allowed" },
        end_source: "reaper",
      };
      assert.equal(
        (await cli(fleet, ["sessions", "import", "-"], JSON.stringify(reaped) + "\n")).trim(),
        summary(1, 0, 0, 0, 1),
      );
      assert.deepEqual(await fleet.readRecord(ID), johnEnded);

      // Again: nothing changes, in what the store exports or in what it holds.
      const before = await cli(fleet, ["sessions", "export"]);
      const held = await fleet.storedText();
      assert.equal(await move(host, fleet), summary(1, 0, 0, 0, 1));
      assert.equal(
        (await cli(fleet, ["sessions", "import", "-"], before)).trim(),
        summary(2, 0, 0, 0, 2),
      );
      const json = await cli(fleet, ["sessions", "import", "-", "--json"], before);
      assert.deepEqual(JSON.parse(json), {
        status: "ok",
        written: 0,
        renumbered: 0,
        updated: 0,
        unchanged: 2,
        error: null,
      });
      assert.equal(await cli(fleet, ["sessions", "export"]), before);
      assert.deepEqual(await fleet.storedText(), held);

      // A start in the fleet store after the moves takes the next id of the base.
      await onServer(fleet, async (call) => {
        const next = await call("track_session_start", startArgs({ timestamp: SAME_SECOND }));
        assert.equal(next.session_id, `${ID}-3`, JSON.stringify(next));
      });
    }));
}

storeTest(
  "sessions import from a Deno KV store: a colliding id is renumbered, ends and heartbeats carried, twice safe",
  (kind) => scenario(KV_STORE, kind),
);

Deno.test("[postgres → kv] sessions import: a colliding id is renumbered, ends and heartbeats carried, twice safe", async () => {
  const pgKind = STORES.find((k) => k.name === "postgres");
  if (!pgKind) return skipWithoutPg("the PostgreSQL to Deno KV import");
  await scenario(pgKind, KV_STORE);
});
