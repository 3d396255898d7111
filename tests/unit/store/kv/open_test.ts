/** Opening a store: its layout version is stamped, upgraded when written, refused when newer. */
import assert from "node:assert/strict";
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
    assert.equal(LAYOUT_VERSION, 2);
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
    assert.equal(await layoutOf(path), 2);
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
