import assert from "node:assert/strict";
import {
  advance,
  createKeyFile,
  type KeyFile,
  readKeyFile,
  writeKeyFile,
} from "../../../src/seal/key_file.ts";
import { evolveKey, keyAt, parseVerificationKey } from "../../../src/seal/keys.ts";

const T0 = Date.UTC(2026, 11, 7, 10, 0, 0);

async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "seal_key_file_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("createKeyFile writes a 0600 file whose key the verification key names", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/seal.key`;
    const vk = await createKeyFile(path, T0, () => new Uint8Array(32).fill(7));
    const { keyId, k0 } = parseVerificationKey(vk);
    assert.equal(k0, "07".repeat(32));
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const raw = JSON.parse(await Deno.readTextFile(path));
    assert.deepEqual(raw, {
      format: "session-buddy-seal-key/1",
      key_id: keyId,
      n: 0,
      from: T0,
      key: k0,
    });
    assert.deepEqual(await readKeyFile(path), { keyId, n: 0, from: T0, key: k0 });
  });
});

Deno.test("createKeyFile refuses an existing file and leaves it unchanged", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/seal.key`;
    await createKeyFile(path, T0);
    const before = await Deno.readTextFile(path);
    await assert.rejects(
      () => createKeyFile(path, T0 + 1),
      /already exists: refusing to overwrite a sealing key/,
    );
    assert.equal(await Deno.readTextFile(path), before);
  });
});

Deno.test("readKeyFile refuses a file group or others may read, saying chmod 600", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/seal.key`;
    await createKeyFile(path, T0, () => new Uint8Array(32).fill(9));
    await Deno.chmod(path, 0o640);
    await assert.rejects(() => readKeyFile(path), (e: Error) => {
      assert.match(e.message, /chmod 600/);
      assert.ok(e.message.includes(path));
      assert.ok(!e.message.includes("0909"));
      return true;
    });
    await Deno.chmod(path, 0o602);
    await assert.rejects(() => readKeyFile(path), /chmod 600/);
  });
});

Deno.test("readKeyFile names the path and the problem, never the key", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/seal.key`;
    const key = "ab".repeat(32);
    const cases: [unknown, RegExp][] = [
      ["not json", /not JSON/],
      [[], /not a JSON object/],
      [{ format: "x", key_id: "0".repeat(16), n: 0, from: T0, key }, /format/],
      [{ format: "session-buddy-seal-key/1", key_id: "z", n: 0, from: T0, key }, /key_id/],
      [
        { format: "session-buddy-seal-key/1", key_id: "0".repeat(16), n: -1, from: T0, key },
        /n is/,
      ],
      [
        { format: "session-buddy-seal-key/1", key_id: "0".repeat(16), n: 0, from: "x", key },
        /from/,
      ],
      [
        {
          format: "session-buddy-seal-key/1",
          key_id: "0".repeat(16),
          n: 0,
          from: T0,
          key: key + "0",
        },
        /key is not/,
      ],
    ];
    for (const [content, pattern] of cases) {
      await Deno.writeTextFile(
        path,
        typeof content === "string" ? content : JSON.stringify(content),
        {
          mode: 0o600,
        },
      );
      await Deno.chmod(path, 0o600);
      await assert.rejects(() => readKeyFile(path), (e: Error) => {
        assert.match(e.message, pattern);
        assert.ok(e.message.includes(path), e.message);
        assert.ok(!e.message.includes("abab"), e.message);
        return true;
      });
    }
    await assert.rejects(() => readKeyFile(`${dir}/absent.key`), /does not exist/);
  });
});

Deno.test("writeKeyFile replaces the file, keeps 0600 and leaves no .next", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/seal.key`;
    await createKeyFile(path, T0);
    const first = await readKeyFile(path);
    // A stale, too open `.next` from a crash must not pass on its mode.
    await Deno.writeTextFile(`${path}.next`, "junk", { mode: 0o644 });
    await Deno.chmod(`${path}.next`, 0o644);
    const next = advance(first, 2, 60_000);
    await writeKeyFile(path, next);
    assert.deepEqual(await readKeyFile(path), next);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    await assert.rejects(() => Deno.stat(`${path}.next`), Deno.errors.NotFound);
    assert.ok(!(await Deno.readTextFile(path)).includes(first.key));
  });
});

Deno.test("advance evolves the key and moves from on; it never goes back", () => {
  const k0 = "11".repeat(32);
  const file: KeyFile = { keyId: "0123456789abcdef", n: 0, from: T0, key: k0 };
  assert.deepEqual(advance(file, 0, 1000), file);
  const three = advance(file, 3, 1000);
  assert.deepEqual(three, { keyId: file.keyId, n: 3, from: T0 + 3000, key: keyAt(k0, 3) });
  assert.deepEqual(advance(three, 4, 1000).key, evolveKey(three.key));
  assert.throws(() => advance(three, 2, 1000), /only move forward/);
});
