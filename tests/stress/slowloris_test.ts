/**
 * Slow clients against `serve --http`: connections that connect and send nothing, that
 * send part of a request line and headers and go silent, and that send a whole `POST /mcp`
 * head with `Content-Length: 1000` and only part of the body. While they are all held
 * open, a well-behaved SDK client must still be served (every start tracked, and in the
 * store afterwards) and `/healthz` must answer 200; once they are gone the server still
 * serves, and SIGTERM ends it with status 0 (in the full run: while they are still held).
 *
 * Each held connection costs a file descriptor here and one in the server, which inherits
 * this process's limit: the counts are lowered, and the output says so, when `ulimit -n`
 * has no room for them.
 */
import assert from "node:assert/strict";
import { connectHttp, startHttpServer } from "../helpers/http.ts";
import { startArgs, tempDir } from "../helpers/server.ts";
import { sessionIds } from "../helpers/contract.ts";
import { figure, FULL, size } from "./raw.ts";
import {
  fileLimit,
  type Held,
  holdMany,
  openFds,
  postHead,
  processFileLimit,
  quantile,
  release,
  rssKiB,
  until,
} from "./tcp.ts";

const SILENT = size(200, 1000);
const PARTIAL_HEAD = size(50, 100);
const PARTIAL_BODY = size(50, 100);
const CALLS = size(50, 300);
/** Descriptors kept free for everything else in each process. */
const SPARE_FDS = 256;

Deno.test(`slowloris: ${SILENT} silent, ${PARTIAL_HEAD} half-headed and ${PARTIAL_BODY} half-bodied connections; a good client is still served`, async () => {
  const limit = await fileLimit();
  const wanted = SILENT + PARTIAL_HEAD + PARTIAL_BODY;
  const room = limit === null ? wanted : Math.max(0, Math.floor(limit - SPARE_FDS));
  const scale = Math.min(1, room / wanted);
  const silent = Math.floor(SILENT * scale);
  const partialHead = Math.floor(PARTIAL_HEAD * scale);
  const partialBody = Math.floor(PARTIAL_BODY * scale);
  if (scale < 1) {
    console.log(
      `file-descriptor limit (ulimit -n) is ${limit}: holding ${
        silent + partialHead + partialBody
      } slow connections instead of ${wanted}`,
    );
  }
  assert.ok(
    silent + partialHead + partialBody > 0,
    `no room for any connection (ulimit -n ${limit})`,
  );

  const { dir, cleanup } = await tempDir();
  const db = `${dir}/s.kv`;
  const server = await startHttpServer({ env: { SESSION_BUDDY_DB: db, HOME: dir } });
  const port = server.port;
  const held: Held[] = [];
  let stopped = false;
  try {
    const rssBefore = await rssKiB(server.pid);
    const fdsBefore = await openFds(server.pid);
    const serverLimit = await processFileLimit(server.pid);
    const began = performance.now();
    held.push(...await holdMany(silent, port));
    held.push(
      ...await holdMany(
        partialHead,
        port,
        new TextEncoder().encode(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Ty`),
      ),
    );
    const partBody = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"' +
      "x".repeat(300);
    held.push(
      ...await holdMany(
        partialBody,
        port,
        new TextEncoder().encode(postHead(port, 1000) + partBody),
      ),
    );
    // The server took every one of them (a descriptor each), and waits on them.
    let fdsHeld: number | null = null;
    if (fdsBefore !== null) {
      const accepted = await until(async () => {
        fdsHeld = await openFds(server.pid);
        return fdsHeld !== null && fdsHeld >= fdsBefore + held.length;
      }, 10_000);
      assert.ok(
        accepted,
        `the server holds ${fdsHeld} descriptors, ${fdsBefore} + ${held.length} expected`,
      );
    }
    const openMs = performance.now() - began;

    // A well-behaved client, served while every slow one is held.
    const client = await connectHttp(server.mcp);
    const latencies: number[] = [];
    const ids: string[] = [];
    try {
      for (let i = 0; i < CALLS; i++) {
        const t = performance.now();
        const result = await client.call(
          "track_session_start",
          startArgs({ component_name: "loris", pid: i + 1 }),
        );
        latencies.push(performance.now() - t);
        assert.equal(result.status, "tracked", JSON.stringify(result));
        ids.push(String(result.session_id));
      }
    } finally {
      await client.close();
    }
    const health = await fetch(`${server.origin}/healthz`);
    const healthBody = await health.text();
    assert.equal(health.status, 200, healthBody);
    const rssHeld = await rssKiB(server.pid);
    const closedByServer = held.filter((h) => h.settled).length;

    let stopSeconds: number | null = null;
    if (FULL) {
      // SIGTERM with the slow clients still there: stop accepting, give what is in
      // progress (the half-bodied requests) its at most 10 s, exit 0.
      const t = performance.now();
      const status = await server.stop("SIGTERM");
      stopSeconds = (performance.now() - t) / 1000;
      stopped = true;
      assert.equal(status.code, 0, server.stderr().slice(-2000));
      await release(held);
    } else {
      await release(held);
      // Gone: the server serves as before.
      const again = await connectHttp(server.mcp);
      try {
        const result = await again.call(
          "track_session_start",
          startArgs({ component_name: "loris" }),
        );
        assert.equal(result.status, "tracked", JSON.stringify(result));
        ids.push(String(result.session_id));
      } finally {
        await again.close();
      }
      const status = await server.stop("SIGTERM");
      stopped = true;
      assert.equal(status.code, 0, server.stderr().slice(-2000));
    }
    const stored = new Set(await sessionIds(db));
    for (const id of ids) assert.ok(stored.has(id), `tracked ${id} is in the store`);
    assert.equal(stored.size, ids.length, "nothing else stored");
    assert.equal(server.stdout(), "", "nothing on stdout in HTTP mode");
    figure("slowloris", {
      fd_limit: limit,
      server_fd_limit: serverLimit,
      silent,
      partial_head: partialHead,
      partial_body: partialBody,
      open_ms: Math.round(openMs),
      server_fds: { before: fdsBefore, held: fdsHeld },
      calls: CALLS,
      tracked: CALLS,
      p50_ms: Number(quantile(latencies, 0.5).toFixed(2)),
      p99_ms: Number(quantile(latencies, 0.99).toFixed(2)),
      healthz: 200,
      closed_by_server_while_held: closedByServer,
      rss_mib_before: rssBefore === null ? null : Number((rssBefore / 1024).toFixed(1)),
      rss_mib_held: rssHeld === null ? null : Number((rssHeld / 1024).toFixed(1)),
      ...(stopSeconds === null
        ? {}
        : { sigterm_exit_s_while_held: Number(stopSeconds.toFixed(1)) }),
    });
  } finally {
    await release(held);
    if (!stopped) await server.stop("SIGKILL");
    await cleanup();
  }
});

Deno.test("out of file descriptors: the listener stops, then listens again by itself", async () => {
  const { dir, cleanup } = await tempDir();
  const db = `${dir}/s.kv`;
  let server;
  try {
    try {
      server = await startHttpServer({
        env: { HOME: dir, SESSION_BUDDY_DB: db },
        wrap: ({ command, args }) => ({
          command: "prlimit",
          args: ["--nofile=128:128", command, ...args],
        }),
      });
    } catch (error) {
      if (!String(error).includes("prlimit")) throw error;
      if (Deno.env.get("CI") === "true") throw error;
      return console.log("skipped: prlimit (util-linux) is not installed");
    }
    const running = server;
    // More connections than the server has descriptors: accepting fails, and Deno.serve
    // stops its listener. Connections refused meanwhile are expected.
    const held: Held[] = [];
    for (let i = 0; i < 200; i++) {
      try {
        held.push(...await holdMany(1, running.port));
      } catch {
        break;
      }
    }
    const stopped = await until(() => running.stderr().includes("stopped: "), 10_000);
    assert.ok(stopped, `the listener did not run out of descriptors:\n${running.stderr()}`);
    await release(held);
    const back = await until(async () => {
      try {
        const res = await fetch(`${running.origin}/healthz`);
        await res.body?.cancel();
        return res.status === 200;
      } catch {
        return false;
      }
    }, 15_000);
    assert.ok(back, `not serving again:\n${running.stderr()}`);
    assert.match(running.stderr(), /is listening again/);
    const client = await connectHttp(running.mcp);
    try {
      const started = await client.call("track_session_start", startArgs());
      assert.equal(started.status, "tracked");
    } finally {
      await client.close();
    }
    figure("http_out_of_descriptors", { held: held.length, recovered: true });
    const status = await running.stop("SIGTERM");
    assert.equal(status.code, 0, running.stderr());
    server = undefined;
  } finally {
    await server?.stop("SIGKILL");
    await cleanup();
  }
});
