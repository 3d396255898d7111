/**
 * Many writers on one PostgreSQL database (SPEC 8.3): server processes race to track starts
 * on a fresh database, most of them sharing a component and a second, so that they compete
 * for the same id base. Every start gets its own id, the ids of each base are base, base-2,
 * ..., base-n without a gap, every one is stored with its own event and found by a server.
 */
import assert from "node:assert/strict";
import { pgTest } from "../helpers/postgres.ts";
import { startArgs, tempDir } from "../helpers/server.ts";
import { pgRecords } from "../helpers/stores.ts";
import { figure, RawServer, size } from "./raw.ts";

const SERVERS = size(2, 8);
const PER_SERVER = size(50, 500);
/** Calls each server has in flight at once. */
const IN_FLIGHT = 32;
/** Two components and two seconds (three timestamps): four bases that every server hits. */
const COMPONENTS = ["ledger", "vault"];
const TIMESTAMPS = [
  "2026-05-04T08:15:30.010Z",
  "2026-05-04T08:15:30.990+00:00",
  "2026-05-04T10:15:31+02:00",
];

/** `{component}-{date}-{time}` of an id, and its number (1 for the base itself). */
function split(id: string): { base: string; n: number } {
  const m = /^(.+-\d{8}-\d{6})(?:-(\d+))?$/.exec(id);
  if (!m) throw new Error(`not a session id: ${id}`);
  return { base: m[1]!, n: m[2] === undefined ? 1 : Number(m[2]) };
}

pgTest(
  `PostgreSQL, many writers: ${SERVERS} servers x ${PER_SERVER} racing starts on one database`,
  async (cluster) => {
    const database = await cluster.createDatabase();
    const { dir, cleanup } = await tempDir();
    const env = { SESSION_BUDDY_DB: database.url, HOME: dir };
    // The first writable open creates the schema (under its advisory lock): the servers
    // open together, so they race for that too.
    const servers = await Promise.all(
      Array.from({ length: SERVERS }, () => RawServer.start({ env })),
    );
    try {
      const began = performance.now();
      const answers = await Promise.all(servers.map(async (server, s) => {
        const out: { eventId: string; result: Record<string, unknown> }[] = [];
        let next = 0;
        const loop = async () => {
          while (next < PER_SERVER) {
            const i = next++;
            const args = startArgs({
              component_name: COMPONENTS[(i + s) % COMPONENTS.length],
              timestamp: TIMESTAMPS[(i + 2 * s) % TIMESTAMPS.length],
              pid: s * 100_000 + i + 1,
            });
            const result = await server.call("track_session_start", args);
            out.push({ eventId: String(args.event_id), result });
          }
        };
        await Promise.all(Array.from({ length: IN_FLIGHT }, loop));
        return out;
      }));
      const seconds = (performance.now() - began) / 1000;
      const all = answers.flat();
      const total = SERVERS * PER_SERVER;
      assert.equal(all.length, total);
      const refused = all.filter((a) => a.result.status !== "tracked");
      assert.deepEqual(refused.slice(0, 3), [], `${refused.length} starts not tracked`);
      const ids = all.map((a) => String(a.result.session_id));
      const distinct = new Set(ids);

      // In the database: exactly these sessions, each with the event it was answered for.
      const stored = await pgRecords(database);
      const wrongEvent = all.filter((a) =>
        stored.get(String(a.result.session_id))?.event_id !== a.eventId
      );
      const events = new Set([...stored.values()].map((r) => r.event_id));

      // Each base's ids are 1..n with no gap: every start took the first free number.
      const bases = new Map<string, number[]>();
      for (const id of ids) {
        const { base, n } = split(id);
        bases.set(base, [...(bases.get(base) ?? []), n]);
      }
      let gaps = 0;
      for (const numbers of bases.values()) {
        const have = new Set(numbers);
        for (let n = 1; n <= numbers.length; n++) if (!have.has(n)) gaps++;
      }
      // Found by a server as well, on every base.
      const sample = [...bases.keys()].flatMap((base) => {
        const n = bases.get(base)!.length;
        return [base, `${base}-${n}`, `${base}-${Math.ceil(n / 2)}`];
      }).map((id) => id.replace(/-1$/, ""));
      const found: string[] = [];
      for (const id of sample) {
        const got = await servers[id.length % SERVERS]!.call("get_session", { session_id: id });
        if (got.status === "found") found.push(id);
      }
      for (const s of servers) assert.deepEqual(s.violations, []);
      figure("pg_writers", {
        servers: SERVERS,
        per_server: PER_SERVER,
        in_flight_per_server: IN_FLIGHT,
        bases: bases.size,
        tracked: total - refused.length,
        distinct_ids: distinct.size,
        stored: stored.size,
        id_gaps: gaps,
        seconds: Number(seconds.toFixed(2)),
        starts_per_second: Math.round(total / seconds),
      });
      assert.equal(distinct.size, total, "every id distinct");
      assert.equal(stored.size, total, "none lost, none extra");
      assert.equal(events.size, total, "every event stored once");
      assert.deepEqual(wrongEvent.slice(0, 3), [], "every id stored with its own event");
      assert.equal(bases.size, COMPONENTS.length * 2, "the starts shared four bases");
      assert.equal(gaps, 0, "no gap in the -2, -3, ... of any base");
      assert.deepEqual(found, sample, "a server finds them");
    } finally {
      await Promise.all(servers.map((s) => s.close()));
      await cleanup();
      await database.drop();
    }
  },
);
