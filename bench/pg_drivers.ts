/**
 * How the PostgreSQL store's driver was chosen: npm:pg and npm:postgres (postgres.js), each
 * in a Worker with the serving Worker's permissions (net on the database's address only, no
 * env, no sys, no files) and the process environment hidden from it, against one cluster.
 *
 *     deno run -q -P=bench --frozen --import-map=tests/imports.json --lock=tests/deno.lock bench/pg_drivers.ts
 *
 * Per driver: import time (a fresh Worker each sample, median), connect time, round trips
 * (a one-row upsert and a primary-key select, p50 of 500), RSS after the run, and what the
 * driver does when the database refuses the password, when the database does not exist
 * and when it is asked to connect where the Worker may not. The last line is one JSON
 * object.
 */
import { pg } from "../tests/helpers/postgres.ts";
import { Bench, median } from "./harness.ts";

const b = new Bench("pg_drivers", [], []);

const cluster = await pg();
if (!cluster) {
  console.log("no PostgreSQL found: nothing measured");
  Deno.exit(0);
}
const db = await cluster.createDatabase();
await db.query("CREATE TABLE bench (id text PRIMARY KEY, v text NOT NULL)");
await db.query(`GRANT ALL ON bench TO "${db.user}"`);

const WORKER = new URL("./pg_driver_worker.ts", import.meta.url);
const options = {
  host: cluster.host,
  port: cluster.port,
  user: db.user,
  password: db.password,
  database: db.name,
};

async function run(job: Record<string, unknown>): Promise<Record<string, unknown>> {
  const worker = new Worker(WORKER, {
    type: "module",
    deno: {
      permissions: {
        net: [`${cluster!.host}:${cluster!.port}`],
        read: false,
        write: false,
        env: false,
        sys: false,
        run: false,
        ffi: false,
      },
    },
  });
  try {
    return await new Promise((resolve) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        resolve({ workerError: e.message.split("\n")[0] });
      };
      worker.postMessage(job);
    });
  } finally {
    worker.terminate();
  }
}

const result: Record<string, Record<string, unknown>> = {};
for (const driver of ["pg", "postgres"]) {
  const imports: number[] = [];
  for (let i = 0; i < (b.quick ? 3 : 9); i++) {
    imports.push((await run({ driver, options, what: "import" })).importMs as number);
  }
  const timing = await run({ driver, options, what: "round trips", n: b.quick ? 50 : 500 });
  const wrongPassword = await run({
    driver,
    options: { ...options, password: "not-the-password" },
    what: "connect",
  });
  const noDatabase = await run({
    driver,
    options: { ...options, database: "no_such_db" },
    what: "connect",
  });
  const notGranted = await run({
    driver,
    options: { ...options, port: cluster.port + 1 },
    what: "connect",
  });
  result[driver] = {
    import_ms: Number(median(imports).toFixed(1)),
    ...timing,
    wrong_password: wrongPassword,
    no_database: noDatabase,
    port_not_granted: notGranted,
  };
}
await db.drop();

for (const [driver, r] of Object.entries(result)) {
  console.log(`${driver}:`);
  for (const [k, v] of Object.entries(r)) console.log(`  ${k.padEnd(16)} ${JSON.stringify(v)}`);
}
await b.finish({ deno: Deno.version.deno, ...result });
