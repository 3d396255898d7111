/** Opening a store: its layout version is stamped, upgraded when written, refused when newer. */
import assert from "node:assert/strict";
import { fromEntryText } from "../../../../src/seal/entry.ts";
import { LAYOUT_VERSION, openKvStore } from "../../../../src/store/kv/open.ts";
import { tempDir, withStore } from "../../../helpers/server.ts";

const LAYOUT_KEY = ["meta", "layout"];

async function layoutOf(path: string): Promise<unknown> {
  return await withStore(path, async (kv) => (await kv.get(LAYOUT_KEY)).value);
}

async function openAndClose(path: string, readOnly: boolean): Promise<void> {
  const opened = await openKvStore({ kind: "file", path }, { readOnly });
  await opened.store.close();
}

Deno.test("a new store is stamped with the layout this program writes", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await openAndClose(`${dir}/s.kv`, false);
    assert.equal(LAYOUT_VERSION, 3);
    assert.equal(await layoutOf(`${dir}/s.kv`), LAYOUT_VERSION);
  } finally {
    await cleanup();
  }
});

Deno.test("a layout 1 store is read as it is and upgraded when opened for writing", async () => {
  const { dir, cleanup } = await tempDir();
  const path = `${dir}/s.kv`;
  try {
    await withStore(path, async (kv) => void await kv.set(LAYOUT_KEY, 1));
    await openAndClose(path, true);
    assert.equal(await layoutOf(path), 1);
    await openAndClose(path, false);
    assert.equal(await layoutOf(path), LAYOUT_VERSION);
  } finally {
    await cleanup();
  }
});

Deno.test("a store of a newer layout is refused, for reading and for writing", async () => {
  const { dir, cleanup } = await tempDir();
  const path = `${dir}/s.kv`;
  try {
    await withStore(path, async (kv) => void await kv.set(LAYOUT_KEY, LAYOUT_VERSION + 1));
    for (const readOnly of [true, false]) {
      await assert.rejects(
        openKvStore({ kind: "file", path }, { readOnly }),
        new Error(`store layout ${LAYOUT_VERSION + 1} is not one this program knows`),
      );
    }
    assert.equal(await layoutOf(path), LAYOUT_VERSION + 1);
  } finally {
    await cleanup();
  }
});

Deno.test("a layout 2 store's records are adopted into the history when it is first written", async () => {
  const { dir, cleanup } = await tempDir();
  const path = `${dir}/s.kv`;
  try {
    const record = { session_id: "web-20260101-000000", event_id: "e", status: "ended" };
    await withStore(path, async (kv) => {
      await kv.set(LAYOUT_KEY, 2);
      await kv.set(
        ["session", record.session_id],
        new TextEncoder().encode(JSON.stringify(record)),
      );
    });
    await openAndClose(path, true);
    assert.equal(await layoutOf(path), 2, "a reading command changes nothing");
    await openAndClose(path, false);
    assert.equal(await layoutOf(path), LAYOUT_VERSION);
    const entries = await withStore(path, async (kv) => {
      const found = [];
      for await (const e of kv.list<string>({ prefix: ["entry"] })) {
        found.push(fromEntryText(e.value) as { k: string; id: string; r: unknown });
      }
      return found;
    });
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.k, "adopt");
    assert.equal(entries[0]!.id, record.session_id);
    assert.deepEqual(entries[0]!.r, record);
  } finally {
    await cleanup();
  }
});
