/** One measurement of bench/decisions.ts's `drivers`, in a Worker with the serving grants. */
/// <reference lib="deno.worker" />
import process from "node:process";

interface Job {
  driver: "pg" | "postgres";
  what: "import" | "round trips" | "connect";
  n?: number;
  options: { host: string; port: number; user: string; password: string; database: string };
}

interface Conn {
  query(text: string, values: unknown[]): Promise<unknown>;
  end(): Promise<void>;
}

self.onmessage = async (event: MessageEvent<Job>) => {
  const { driver, what, options } = event.data;
  Object.defineProperty(process, "env", { value: {}, configurable: true, writable: true });
  const unhandled: string[] = [];
  self.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    unhandled.push(String(e.reason).split("\n")[0]!.slice(0, 120));
  });
  const began = performance.now();
  let open: () => Promise<Conn>;
  if (driver === "pg") {
    const pg = (await import("pg")).default as unknown as {
      Client: new (o: Record<string, unknown>) => Conn & {
        connect(): Promise<void>;
        on(event: "error", listener: () => void): void;
      };
    };
    open = async () => {
      const client = new pg.Client({ ...options, connectionTimeoutMillis: 4000 });
      client.on("error", () => {});
      await client.connect();
      return client;
    };
  } else {
    const postgres = (await import("postgres")).default as unknown as (
      o: Record<string, unknown>,
    ) => { unsafe(t: string, v: unknown[]): Promise<unknown>; end(): Promise<void> };
    open = async () => {
      const sql = postgres({ ...options, max: 1, connect_timeout: 4, onnotice: () => {} });
      await sql.unsafe("SELECT 1", []);
      return { query: (t, v) => sql.unsafe(t, v), end: () => sql.end() };
    };
  }
  const importMs = performance.now() - began;
  if (what === "import") return self.postMessage({ importMs });
  if (what === "connect") {
    try {
      const conn = await open();
      await conn.end();
      self.postMessage({ outcome: "connected", unhandled });
    } catch (error) {
      await new Promise((r) => setTimeout(r, 100));
      self.postMessage({
        outcome: "rejected",
        error: String(error).split("\n")[0]!.slice(0, 120),
        unhandled,
      });
    }
    return;
  }
  const t0 = performance.now();
  const conn = await open();
  const connectMs = performance.now() - t0;
  const p50 = async (text: string, values: (i: number) => unknown[]) => {
    const times: number[] = [];
    for (let i = 0; i < (event.data.n ?? 500); i++) {
      const t = performance.now();
      await conn.query(text, values(i));
      times.push(performance.now() - t);
    }
    return Number(times.sort((a, b) => a - b)[times.length >> 1]!.toFixed(3));
  };
  const upsert = await p50(
    "INSERT INTO bench (id, v) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v",
    (i) => [`${driver}-${i % 50}`, "x".repeat(500)],
  );
  const select = await p50("SELECT v FROM bench WHERE id = $1", () => [`${driver}-1`]);
  await conn.end();
  self.postMessage({
    connect_ms: Number(connectMs.toFixed(1)),
    upsert_p50_ms: upsert,
    select_p50_ms: select,
    rss_mb: Math.round(Deno.memoryUsage().rss / 1048576),
    unhandled,
  });
};
