/**
 * Many writers (SPEC 8): several server processes on one store file race to track
 * starts, most of them sharing a component and a second, so that they compete for the
 * same ids. Every start is tracked under a distinct id, every one is found afterwards,
 * none is lost; the throughput is printed.
 */
import assert from "node:assert/strict";
import { startArgs, tempDir } from "../helpers/server.ts";
import { figure, RawServer, size } from "./raw.ts";

const SERVERS = size(2, 8);
const PER_SERVER = size(50, 500);
/** Requests a client keeps in flight at once. */
const WINDOW = 50;
const COMPONENTS = ["alpha", "beta"];
const SECONDS = ["2026-02-06T12:00:00.100Z", "2026-02-06T12:00:00.900Z", "2026-02-06T12:00:01Z"];

Deno.test(`many writers: ${SERVERS} servers x ${PER_SERVER} racing starts on one store`, async () => {
  const { dir, cleanup } = await tempDir();
  const db = `${dir}/s.kv`;
  const servers = await Promise.all(
    Array.from(
      { length: SERVERS },
      () => RawServer.start({ env: { SESSION_BUDDY_DB: db, HOME: dir } }),
    ),
  );
  try {
    const began = performance.now();
    const results = await Promise.all(servers.map(async (server, s) => {
      const out: { eventId: string; result: Record<string, unknown> }[] = [];
      let next = 0;
      const worker = async () => {
        while (next < PER_SERVER) {
          const i = next++;
          const args = startArgs({
            component_name: COMPONENTS[(i + s) % COMPONENTS.length],
            timestamp: SECONDS[i % SECONDS.length],
            pid: s * 100_000 + i + 1,
          });
          out.push({
            eventId: String(args.event_id),
            result: await server.call("track_session_start", args),
          });
        }
      };
      await Promise.all(Array.from({ length: WINDOW }, worker));
      return out;
    }));
    const seconds = (performance.now() - began) / 1000;
    const all = results.flat();
    const total = SERVERS * PER_SERVER;
    assert.equal(all.length, total);
    const failures = all.filter((r) => r.result.status !== "tracked");
    assert.deepEqual(failures.slice(0, 3), [], `${failures.length} starts not tracked`);
    const ids = all.map((r) => String(r.result.session_id));
    assert.equal(new Set(ids).size, total, "every id distinct");

    // Every id is found, by a server and in the store, with its own event.
    const byId = new Map(all.map((r) => [String(r.result.session_id), r.eventId]));
    const stored = new Map<string, string>();
    const kv = await Deno.openKv(db);
    try {
      for await (const e of kv.list<Uint8Array>({ prefix: ["session"] })) {
        stored.set(String(e.key[1]), JSON.parse(new TextDecoder().decode(e.value)).event_id);
      }
    } finally {
      kv.close();
    }
    assert.equal(stored.size, total, "none lost, none extra");
    for (const [id, eventId] of byId) assert.equal(stored.get(id), eventId, id);
    for (const id of ids.slice(0, 20)) {
      assert.equal((await servers[0]!.call("get_session", { session_id: id })).status, "found");
    }
    // The ids of one base are exactly base, base-2, ..., base-n: no gap, no repeat.
    const bases = new Map<string, string[]>();
    for (const id of ids) {
      const base = /^(.*-\d{8}-\d{6})(?:-\d+)?$/.exec(id)?.[1] ?? id;
      bases.set(base, [...(bases.get(base) ?? []), id]);
    }
    // Counted first and printed with the figures, then asserted.
    const gaps: string[] = [];
    for (const [base, got] of bases) {
      const have = new Set(got);
      for (let n = 1; n <= got.length; n++) {
        const id = n === 1 ? base : `${base}-${n}`;
        if (!have.has(id)) gaps.push(id);
      }
    }
    for (const s of servers) assert.deepEqual(s.violations, []);
    figure("writers", {
      servers: SERVERS,
      per_server: PER_SERVER,
      in_flight_per_server: WINDOW,
      bases: bases.size,
      tracked: total,
      found: stored.size,
      lost: 0,
      id_gaps: gaps.length,
      seconds: Number(seconds.toFixed(2)),
      starts_per_second: Math.round(total / seconds),
    });
    assert.deepEqual(
      gaps.slice(0, 10),
      [],
      `${gaps.length} ids skipped: each start must take the first free id of its base`,
    );
  } finally {
    await Promise.all(servers.map((s) => s.close()));
    await cleanup();
  }
});
