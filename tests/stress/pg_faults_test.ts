/**
 * The PostgreSQL store under faults of its database (SPEC 8.3), with real processes and a
 * cluster of the test's own: stdio servers track starts and ends continuously while the
 * cluster is stopped (`pg_ctl stop -m fast`) and started again, or hangs (every PostgreSQL
 * process stopped with SIGSTOP, its connections left open, as behind a network partition).
 * What each run asserts is in ./faults.ts.
 */
import { type OwnCluster, ownPgTest } from "../helpers/pg_own_cluster.ts";
import { pgRecords } from "../helpers/stores.ts";
import { type Fault, faultRun, type Scenario } from "./faults.ts";
import { size } from "./raw.ts";

/** `scenario` on a fresh database of `cluster`: stopped or hung, and back. */
async function onDatabase(cluster: OwnCluster, scenario: Scenario): Promise<void> {
  const database = await cluster.createDatabase();
  try {
    await faultRun({
      env: { SESSION_BUDDY_DB: database.url },
      secrets: [database.password],
      stored: () => pgRecords(database),
      begin: (kind) => kind === "stop" ? cluster.stop("fast") : cluster.freeze(),
      end: (kind) => kind === "stop" ? cluster.start() : cluster.thaw(),
      release: () => cluster.thaw(),
    }, scenario);
  } finally {
    await database.drop();
  }
}

const OUTAGE: Scenario = {
  name: "pg_outage",
  servers: size(3, 8),
  clients: 1,
  // Full: one outage the servers ride out (calls wait, then succeed), two they cannot.
  faults: size<Fault[]>([{ kind: "stop", ms: 5500 }], [
    { kind: "stop", ms: 2500 },
    { kind: "stop", ms: 6000 },
    { kind: "stop", ms: 8000 },
  ]),
  upMs: size(1000, 2000),
  component: "pgfault",
};

ownPgTest(
  `PostgreSQL stopped and restarted under ${OUTAGE.servers} writing servers: answers within 5 s, recovery, nothing lost`,
  async (cluster) => {
    await onDatabase(cluster, OUTAGE);
  },
);

const HANG: Scenario = {
  name: "pg_hang",
  servers: size(2, 8),
  clients: 1,
  faults: size<Fault[]>([{ kind: "freeze", ms: 2500 }], [
    { kind: "freeze", ms: 6000 },
    { kind: "freeze", ms: 2500 },
  ]),
  upMs: size(800, 2000),
  component: "pgfault",
};

ownPgTest(
  `PostgreSQL hanging (SIGSTOP) under ${HANG.servers} writing servers: answers within 5 s, recovery, nothing lost`,
  async (cluster) => {
    await onDatabase(cluster, HANG);
  },
);

const PIPELINED: Scenario = {
  name: "pg_outage_pipelined",
  servers: 2,
  clients: 4,
  faults: [{ kind: "stop", ms: 6000 }],
  upMs: 800,
  component: "pgfault",
};

// More starts in flight than the store commits groups at once: each start's deadline counts
// from its call, so one queued behind groups stuck on the stopped database is answered in
// time too.
ownPgTest(
  `PostgreSQL stopped under servers with ${PIPELINED.clients} calls in flight each: answers within 5 s`,
  async (cluster) => {
    await onDatabase(cluster, PIPELINED);
  },
);
