/**
 * SPEC 3.1: track_session_start, end to end over stdio, on every store (each case runs once
 * per store of tests/helpers/stores.ts, named "[kv] ...", "[postgres] ...").
 */
import assert from "node:assert/strict";
import { startArgs, startServer, tempDir } from "../helpers/server.ts";
import { isStartError, listKeys, storeTest, withServer } from "../helpers/contract.ts";

const PREFIX = "Session start tracking failed: ";

function assertStartError(result: Record<string, unknown>, what: string): void {
  assert.ok(
    isStartError(result),
    `${what}: expected a start error result, got ${JSON.stringify(result)}`,
  );
}

function assertTracked(result: Record<string, unknown>, what: string): void {
  assert.equal(result.status, "tracked", `${what}: ${JSON.stringify(result)}`);
  assert.equal(typeof result.session_id, "string", what);
  assert.equal(result.error, null, what);
}

storeTest(
  "session_id is {component}-{YYYYMMDD}-{HHMMSS} of the event's UTC instant",
  async (kind, t) => {
    await withServer(async ({ server }) => {
      const cases: [string, string, string][] = [
        ["utc-z", "2026-02-06T12:34:56.789Z", "utc-z-20260206-123456"],
        ["plus-two", "2026-02-06T14:34:56+02:00", "plus-two-20260206-123456"],
        ["plus-crosses-day", "2026-02-07T01:00:00.5+02:00", "plus-crosses-day-20260206-230000"],
        ["minus-half", "2026-02-06T23:30:00-05:30", "minus-half-20260207-050000"],
        ["zero-offset", "2026-02-06T12:34:56+00:00", "zero-offset-20260206-123456"],
        ["no-offset", "2026-02-06T12:34:56.789", "no-offset-20260206-123456"],
        ["leap-second", "2016-12-31T23:59:60Z", "leap-second-20161231-235959"],
        ["leap-second-frac", "2016-12-31T23:59:60.999Z", "leap-second-frac-20161231-235959"],
        ["no-round-up", "2026-02-06T12:34:56.9999999Z", "no-round-up-20260206-123456"],
        ["no-round-up-day", "2026-02-06T23:59:59.9999999999Z", "no-round-up-day-20260206-235959"],
        ["one-digit", "2026-02-06T12:34:56.9Z", "one-digit-20260206-123456"],
        ["leap-day", "2024-02-29T00:00:00Z", "leap-day-20240229-000000"],
      ];
      for (const [component, timestamp, expected] of cases) {
        await t.step(`${timestamp} gives ${expected}`, async () => {
          const result = await server.call(
            "track_session_start",
            startArgs({ component_name: component, timestamp }),
          );
          assert.deepEqual(result, { session_id: expected, status: "tracked", error: null });
        });
      }
    }, { store: kind });
  },
);

storeTest("a clash of ids appends -2, then -3, in order", async (kind) => {
  await withServer(async ({ server, store }) => {
    const ids: unknown[] = [];
    for (
      const timestamp of [
        "2026-02-06T12:34:56.100Z",
        "2026-02-06T12:34:56.900Z",
        "2026-02-06T14:34:56+02:00",
      ]
    ) {
      const result = await server.call("track_session_start", startArgs({ timestamp }));
      assert.equal(result.status, "tracked");
      ids.push(result.session_id);
    }
    assert.deepEqual(ids, [
      "mahavishnu-20260206-123456",
      "mahavishnu-20260206-123456-2",
      "mahavishnu-20260206-123456-3",
    ]);
    assert.deepEqual((await store.sessionIds()).sort(), [...ids].sort());
  }, { store: kind });
});

storeTest(
  "a retry with the same event_id returns the same id, tracked, and stores nothing new",
  async (kind) => {
    await withServer(async ({ server, store }) => {
      const args = startArgs({ timestamp: "2026-02-06T12:34:56.789Z" });
      const first = await server.call("track_session_start", args);
      const before = await store.readRecord("mahavishnu-20260206-123456");
      const second = await server.call("track_session_start", args);
      // The token is not event data: a retry with another token is still the same event.
      const third = await server.call("track_session_start", { ...args, token: "another" });
      const expected = { session_id: "mahavishnu-20260206-123456", status: "tracked", error: null };
      assert.deepEqual(first, expected);
      assert.deepEqual(second, expected);
      assert.deepEqual(third, expected);
      assert.deepEqual(await store.sessionIds(), ["mahavishnu-20260206-123456"]);
      assert.deepEqual(await store.readRecord("mahavishnu-20260206-123456"), before);
      // A new event at the same second still gets the next free id, not a later one.
      const other = await server.call(
        "track_session_start",
        startArgs({ timestamp: "2026-02-06T12:34:56.789Z" }),
      );
      assert.equal(other.session_id, "mahavishnu-20260206-123456-2");
    }, { store: kind });
  },
);

storeTest(
  "the same event_id with different data is an error naming the existing session",
  async (kind) => {
    await withServer(async ({ server, store }) => {
      const args = startArgs({ timestamp: "2026-02-06T12:34:56.789Z" });
      assert.equal((await server.call("track_session_start", args)).status, "tracked");
      const before = await store.readRecord("mahavishnu-20260206-123456");
      for (
        const change of [{ pid: 999 }, { timestamp: "2026-02-06T12:35:00Z" }, {
          metadata: { a: 1 },
        }]
      ) {
        const result = await server.call("track_session_start", { ...args, ...change });
        assertStartError(result, JSON.stringify(change));
        assert.match(String(result.error), /mahavishnu-20260206-123456/);
      }
      assert.deepEqual(await store.sessionIds(), ["mahavishnu-20260206-123456"]);
      assert.deepEqual(await store.readRecord("mahavishnu-20260206-123456"), before);
    }, { store: kind });
  },
);

storeTest("error texts read exactly as the spec words them", async (kind, t) => {
  await withServer(async ({ server, store }) => {
    const baseline = await store.storedText();
    const cases: [string, Record<string, unknown>, string][] = [
      ["bad uuid", { event_id: "abc" }, "Invalid UUID v4 format: abc"],
      [
        "bad timestamp",
        { timestamp: "2026-02-06 12:00" },
        "Invalid ISO 8601 timestamp: 2026-02-06 12:00 (expected format: 2026-02-06T12:34:56.789Z)",
      ],
      ["bad version", { event_version: "2.0" }, "Unsupported event version: 2.0 (expected '1.0')"],
      [
        "bad component",
        { component_name: "a b" },
        "Invalid component_name 'a b': must match pattern ^[a-zA-Z0-9_-]+$",
      ],
    ];
    for (const [name, override, reason] of cases) {
      await t.step(name, async () => {
        const result = await server.call("track_session_start", startArgs(override));
        assert.deepEqual(result, { session_id: null, status: "error", error: PREFIX + reason });
      });
    }
    await t.step("nothing was stored", async () => {
      assert.deepEqual(await store.storedText(), baseline);
    });
  }, { store: kind });
});

storeTest("field bounds are enforced at their exact limits", async (kind, t) => {
  await withServer(async ({ server, store }) => {
    const user = (over: Record<string, unknown>) => ({
      username: "john",
      home: "/home/john",
      ...over,
    });
    const env = (over: Record<string, unknown>) => ({
      python_version: "3.13.0",
      platform: "Linux-6.5.0-x86_64",
      cwd: "/home/john",
      ...over,
    });
    // {"k":"..."} is 8 bytes around the string.
    const cases: [string, Record<string, unknown>, boolean][] = [
      ["component 64 chars", { component_name: "c".repeat(64) }, true],
      ["component 65 chars", { component_name: "c".repeat(65) }, false],
      ["component empty", { component_name: "" }, false],
      ["pid 0", { pid: 0 }, false],
      ["pid 1", { pid: 1 }, true],
      ["pid 4194304", { pid: 4194304 }, true],
      ["pid 4194305", { pid: 4194305 }, false],
      ["pid -1", { pid: -1 }, false],
      ["pid 1.5", { pid: 1.5 }, false],
      ["hostname 253", { hostname: "h".repeat(253) }, true],
      ["hostname 254", { hostname: "h".repeat(254) }, false],
      ["hostname empty", { hostname: "" }, false],
      ["shell_type 100", { shell_type: "s".repeat(100) }, true],
      ["shell_type 101", { shell_type: "s".repeat(101) }, false],
      ["username 100", { user: user({ username: "u".repeat(100) }) }, true],
      ["username 101", { user: user({ username: "u".repeat(101) }) }, false],
      ["username blank", { user: user({ username: "   " }) }, false],
      ["home 500", { user: user({ home: "/".repeat(500) }) }, true],
      ["home 501", { user: user({ home: "/".repeat(501) }) }, false],
      ["cwd 500", { environment: env({ cwd: "/".repeat(500) }) }, true],
      ["cwd 501", { environment: env({ cwd: "/".repeat(501) }) }, false],
      ["metadata 16384 bytes", { metadata: { k: "m".repeat(16384 - 8) } }, true],
      ["metadata 16385 bytes", { metadata: { k: "m".repeat(16385 - 8) } }, false],
      // "é" is 2 UTF-8 bytes: 8 + 2 * 8188 = 16384, 8 + 2 * 8189 = 16386 (8197 characters).
      ["metadata multibyte 16384 bytes", { metadata: { k: "é".repeat(8188) } }, true],
      ["metadata multibyte 16386 bytes", { metadata: { k: "é".repeat(8189) } }, false],
      // "€" is 3 bytes: 8 + 3 * 5459 = 16385, in 5467 characters.
      ["metadata 3-byte chars 16385 bytes", { metadata: { k: "€".repeat(5459) } }, false],
      ["metadata absent", { metadata: undefined }, true],
      ["metadata null", { metadata: null }, true],
      // Length counts characters after trimming.
      ["hostname 253 plus spaces", { hostname: `  ${"h".repeat(253)}  ` }, true],
      ["username 100 plus spaces", { user: user({ username: ` ${"u".repeat(100)}\t` }) }, true],
    ];
    let tracked = 0;
    for (const [name, override, ok] of cases) {
      await t.step(`${name} is ${ok ? "accepted" : "refused"}`, async () => {
        const args = startArgs(override);
        if ("metadata" in override && override.metadata === undefined) delete args.metadata;
        const result = await server.call("track_session_start", args);
        if (ok) {
          assertTracked(result, name);
          tracked++;
        } else assertStartError(result, name);
      });
    }
    await t.step("only accepted calls stored a session", async () => {
      assert.equal((await store.sessionIds()).length, tracked);
    });
  }, { store: kind });
});

storeTest("text fields are trimmed before they are checked and stored", async (kind) => {
  await withServer(async ({ server, store }) => {
    const result = await server.call(
      "track_session_start",
      startArgs({
        timestamp: "2026-02-06T12:34:56Z",
        shell_type: "  MahavishnuShell ",
        hostname: " server01\n",
        user: { username: "  john  ", home: " /home/john " },
        environment: { python_version: "3.13.0", platform: "linux", cwd: "  /srv  " },
      }),
    );
    assert.deepEqual(result, {
      session_id: "mahavishnu-20260206-123456",
      status: "tracked",
      error: null,
    });
    const record = await store.readRecord("mahavishnu-20260206-123456");
    assert.ok(record);
    assert.deepEqual(record.user, { username: "john", home: "/home/john" });
    assert.equal(record.shell_type, "MahavishnuShell");
    assert.equal(record.hostname, "server01");
    assert.equal((record.environment as Record<string, unknown>).cwd, "/srv");
  }, { store: kind });
});

storeTest(
  "wrong types and missing fields give the tool's error result, never a JSON-RPC error",
  async (kind, t) => {
    await withServer(async ({ server, store }) => {
      const baseline = await store.storedText();
      const wrong: [string, Record<string, unknown>][] = [
        ["pid as string", { pid: "12345" }],
        ["user as string", { user: "john" }],
        ["metadata as array", { metadata: [] }],
        ["environment as string", { environment: "linux" }],
        ["event_id as number", { event_id: 42 }],
        ["timestamp as number", { timestamp: 1770381296789 }],
        ["hostname as null", { hostname: null }],
        ["username as number", { user: { username: 7, home: "/home/john" } }],
        ["environment extra key not a string", {
          environment: { python_version: "3", platform: "p", cwd: "/", extra: 5 },
        }],
        ["event_type wrong", { event_type: "session_end" }],
      ];
      for (const [name, override] of wrong) {
        await t.step(name, async () => {
          const raw = await server.callRaw("track_session_start", startArgs(override));
          assert.notEqual(raw.isError, true, name);
          assertStartError(raw.structuredContent as Record<string, unknown>, name);
        });
      }
      const required = [
        "event_version",
        "event_id",
        "component_name",
        "shell_type",
        "timestamp",
        "pid",
        "user",
        "hostname",
        "environment",
      ];
      for (const field of required) {
        await t.step(`missing ${field}`, async () => {
          const args = startArgs();
          delete args[field];
          const result = await server.call("track_session_start", args);
          assertStartError(result, `missing ${field}`);
        });
      }
      for (
        const [outer, inner] of [
          ["user", "username"],
          ["user", "home"],
          ["environment", "python_version"],
          ["environment", "platform"],
          ["environment", "cwd"],
        ] as const
      ) {
        await t.step(`missing ${outer}.${inner}`, async () => {
          const args = startArgs();
          const nested = { ...(args[outer] as Record<string, unknown>) };
          delete nested[inner];
          args[outer] = nested;
          const result = await server.call("track_session_start", args);
          assertStartError(result, `missing ${outer}.${inner}`);
        });
      }
      await t.step("no arguments at all", async () => {
        assertStartError(await server.call("track_session_start", {}), "no arguments");
      });
      await t.step("nothing was stored by the bad calls", async () => {
        assert.deepEqual(await store.storedText(), baseline);
      });
      await t.step("a good call still works afterwards, under the first id", async () => {
        const result = await server.call(
          "track_session_start",
          startArgs({ timestamp: "2026-02-06T12:34:56.789Z" }),
        );
        assert.deepEqual(result, {
          session_id: "mahavishnu-20260206-123456",
          status: "tracked",
          error: null,
        });
        assert.deepEqual(await store.sessionIds(), ["mahavishnu-20260206-123456"]);
      });
    }, { store: kind });
  },
);

storeTest("timestamps that are not real calendar instants are refused", async (kind, t) => {
  await withServer(async ({ server, store }) => {
    const baseline = await store.storedText();
    for (
      const timestamp of [
        "2026-02-30T00:00:00Z",
        "2025-02-29T00:00:00Z",
        "2026-02-06T24:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-04-31T12:00:00Z",
        "2026-02-06T12:60:00Z",
        "2026-02-06T12:00:61Z",
        "2026-02-06T12:00:00+24:00",
        "2026-02-06",
        "2026-02-06T12:00Z",
        "20260206T120000Z",
        "",
      ]
    ) {
      await t.step(JSON.stringify(timestamp), async () => {
        const result = await server.call("track_session_start", startArgs({ timestamp }));
        assertStartError(result, timestamp);
        assert.ok(
          String(result.error).startsWith(`${PREFIX}Invalid ISO 8601 timestamp: ${timestamp}`),
          String(result.error),
        );
      });
    }
    await t.step("nothing was stored", async () => {
      assert.deepEqual(await store.storedText(), baseline);
    });
  }, { store: kind });
});

storeTest("unknown extra arguments are ignored", async (kind) => {
  await withServer(async ({ server }) => {
    const result = await server.call(
      "track_session_start",
      startArgs({
        timestamp: "2026-02-06T12:34:56Z",
        extra: 1,
        nested: { a: [1, 2] },
        shell: null,
      }),
    );
    assert.deepEqual(result, {
      session_id: "mahavishnu-20260206-123456",
      status: "tracked",
      error: null,
    });
  }, { store: kind });
});

storeTest(
  "the stored record holds every start field, lifecycle fields, extra environment keys and no token",
  async (kind) => {
    await withServer(async ({ server, store }) => {
      const token = "not-a-real-token-9f8e7d6c5b4a";
      const args = startArgs({
        timestamp: "2026-02-06T14:34:56.789+02:00",
        environment: {
          python_version: "3.13.0",
          platform: "Linux-6.5.0-x86_64",
          cwd: "/home/john/projects/mahavishnu",
          shell: "zsh",
          term: "xterm-256color",
        },
        metadata: { ticket: "OPS-1", nested: { n: 1, list: [true, null] } },
        token,
      });
      const before = Date.now();
      const result = await server.call("track_session_start", args);
      const after = Date.now();
      assert.equal(result.session_id, "mahavishnu-20260206-123456");
      const record = await store.readRecord("mahavishnu-20260206-123456");
      assert.ok(record);
      for (
        const field of [
          "event_version",
          "event_id",
          "event_type",
          "component_name",
          "shell_type",
          "timestamp",
          "pid",
          "user",
          "hostname",
          "environment",
          "metadata",
        ]
      ) {
        assert.deepEqual(record[field], args[field], field);
      }
      assert.equal(record.session_id, "mahavishnu-20260206-123456");
      assert.equal(record.started_at, "2026-02-06T12:34:56.789Z");
      assert.equal(record.status, "active");
      assert.equal(typeof record.last_seen_at, "string");
      const seen = Date.parse(String(record.last_seen_at));
      assert.ok(
        seen >= before - 1000 && seen <= after + 1000,
        `last_seen_at ${record.last_seen_at}`,
      );
      assert.match(String(record.last_seen_at), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
      assert.ok("tracked_by" in record, "record has tracked_by");
      assert.ok(!("token" in record), "record has no token key");
      for (const line of await store.storedText()) assert.ok(!line.includes(token), line);
    }, { store: kind });
  },
);

storeTest("results come as structuredContent and as equal JSON text content", async (kind) => {
  await withServer(async ({ server }) => {
    const calls: [string, Record<string, unknown>][] = [
      ["track_session_start", startArgs({ timestamp: "2026-02-06T12:34:56Z" })],
      ["track_session_start", startArgs({ event_id: "abc" })],
      ["track_session_end", {
        session_id: "mahavishnu-20260206-123456",
        timestamp: "2026-02-06T13:00:00Z",
      }],
      ["track_session_end", { session_id: "nope", timestamp: "2026-02-06T13:00:00Z" }],
      ["track_session_end", { session_id: "nope", timestamp: "bad" }],
    ];
    const statuses: unknown[] = [];
    for (const [name, args] of calls) {
      const raw = await server.callRaw(name, args);
      const structured = raw.structuredContent as Record<string, unknown>;
      assert.ok(structured && typeof structured === "object", `${name}: structuredContent`);
      const content = raw.content as { type: string; text?: string }[];
      const texts = content.filter((c) => c.type === "text");
      assert.equal(texts.length, 1, `${name}: one text content`);
      assert.deepEqual(JSON.parse(texts[0]!.text!), structured);
      assert.notEqual(raw.isError, true);
      statuses.push(structured.status);
    }
    assert.deepEqual(statuses, ["tracked", "error", "ended", "not_found", "error"]);
  }, { store: kind });
});

storeTest(
  "tools/list publishes input and output schemas and idempotent annotations",
  async (kind) => {
    await withServer(async ({ server }) => {
      const { tools } = await server.client.listTools();
      const byName = new Map(tools.map((tool) => [tool.name, tool]));
      const start = byName.get("track_session_start");
      const end = byName.get("track_session_end");
      assert.ok(start && end, "both tools are listed");
      const startRequired = new Set(start.inputSchema.required ?? []);
      for (
        const field of [
          "event_version",
          "event_id",
          "component_name",
          "shell_type",
          "timestamp",
          "pid",
          "user",
          "hostname",
          "environment",
        ]
      ) assert.ok(startRequired.has(field), `start requires ${field}`);
      assert.ok(!startRequired.has("metadata"), "metadata is optional");
      assert.ok(!startRequired.has("token"), "token is optional");
      const props = start.inputSchema.properties as Record<string, Record<string, unknown>>;
      assert.equal(props.component_name?.pattern, "^[a-zA-Z0-9_-]+$");
      assert.equal(props.component_name?.maxLength, 64);
      assert.equal(props.pid?.type, "integer");
      assert.equal(props.pid?.minimum, 1);
      assert.equal(props.pid?.maximum, 4194304);
      const endRequired = new Set(end.inputSchema.required ?? []);
      assert.ok(endRequired.has("session_id") && endRequired.has("timestamp"));
      for (const tool of [start, end]) {
        assert.ok(tool.outputSchema, `${tool.name} has an outputSchema`);
        const out = tool.outputSchema.properties as Record<string, unknown>;
        for (const key of ["session_id", "status", "error"]) {
          assert.ok(key in out, `${tool.name}.${key}`);
        }
        assert.equal(tool.annotations?.idempotentHint, true, `${tool.name} idempotentHint`);
      }
    }, { store: kind });
  },
);

storeTest(
  "a bad call stores nothing and the next good call gets the first free id",
  async (kind) => {
    await withServer(async ({ server, store }) => {
      const bad = await server.call(
        "track_session_start",
        startArgs({ timestamp: "2026-02-06T12:34:56Z", pid: 0 }),
      );
      assertStartError(bad, "pid 0");
      const good = await server.call(
        "track_session_start",
        startArgs({ timestamp: "2026-02-06T12:34:56Z" }),
      );
      assert.equal(good.session_id, "mahavishnu-20260206-123456");
      assert.equal((await store.sessionIds()).length, 1);
    }, { store: kind });
  },
);

// KV-only: the index keys, unindexed markers and feed entries are Deno KV's layout.
Deno.test("a server that exits writes the index keys its starts were still waiting for", async () => {
  const { dir, cleanup } = await tempDir();
  const db = `${dir}/s.kv`;
  try {
    const server = await startServer({ env: { SESSION_BUDDY_DB: db, HOME: dir } });
    const ids: string[] = [];
    try {
      for (const component of ["alpha", "beta", "gamma"]) {
        const result = await server.call(
          "track_session_start",
          startArgs({ component_name: component }),
        );
        assertTracked(result, component);
        ids.push(String(result.session_id));
      }
    } finally {
      await server.close();
    }
    assert.deepEqual(await listKeys(db, ["unindexed"]), []);
    for (const index of ["by_start", "by_component", "by_host", "by_user", "by_status"]) {
      assert.deepEqual(
        (await listKeys(db, [index])).map((k) => k.at(-1)).sort(),
        ids.toSorted(),
        index,
      );
    }
    assert.equal((await listKeys(db, ["feed"])).length, 3);
  } finally {
    await cleanup();
  }
});
