/**
 * The sealing key file a writer keeps: the key of the next period to seal, replaced on
 * disk as it moves forward so earlier keys are gone. The only module of src/seal/ that
 * touches the file system. No message here ever carries key material.
 */
import { evolveKey, formatVerificationKey, keyIdOf, newSealingKey } from "./keys.ts";
import { isHex } from "./hash.ts";

/** The `format` a key file must carry. */
export const KEY_FILE_FORMAT = "session-buddy-seal-key/1";

/** A key file's content: `n` is the next period to seal, `from` its start, `key` its key. */
export interface KeyFile {
  keyId: string;
  n: number;
  from: number;
  key: string;
}

function serialise(file: KeyFile): string {
  return JSON.stringify({
    format: KEY_FILE_FORMAT,
    key_id: file.keyId,
    n: file.n,
    from: file.from,
    key: file.key,
  }) + "\n";
}

async function writeAll(f: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += await f.write(bytes.subarray(done));
}

/**
 * Creates a sealing key file (mode 0600, never over an existing file) for a key starting
 * at `nowMs`; returns the verification key, which is to be shown once and kept elsewhere.
 */
export async function createKeyFile(
  path: string,
  nowMs: number,
  random?: () => Uint8Array,
): Promise<string> {
  if (!Number.isSafeInteger(nowMs)) {
    throw new RangeError(`Cannot create sealing key file ${path}: start time ${nowMs} is not ms`);
  }
  const k0 = newSealingKey(random);
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { createNew: true, write: true, mode: 0o600 });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw new Error(
        `Cannot create sealing key file ${path}: it already exists: refusing to overwrite a ` +
          `sealing key`,
      );
    }
    throw new Error(`Cannot create sealing key file ${path}: ${(e as Error).message}`);
  }
  try {
    const file = { keyId: keyIdOf(k0), n: 0, from: nowMs, key: k0 };
    await writeAll(f, new TextEncoder().encode(serialise(file)));
    await f.sync();
  } finally {
    f.close();
  }
  return formatVerificationKey(k0);
}

/** Reads and validates a key file; refuses one that group or others may read or write. */
export async function readKeyFile(path: string): Promise<KeyFile> {
  const fail = (what: string) => new Error(`Cannot use sealing key file ${path}: ${what}`);
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw fail("it does not exist (create one with 'session-buddy seal init')");
    }
    throw fail((e as Error).message);
  }
  if (!info.isFile) throw fail("it is not a regular file");
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    throw fail(
      `its mode is ${(info.mode & 0o777).toString(8).padStart(3, "0")}, so other users may ` +
        `read or change it: run 'chmod 600 ${path}'`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof SyntaxError) throw fail("it is not JSON");
    throw fail((e as Error).message);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw fail("it is not a JSON object");
  }
  const o = parsed as Record<string, unknown>;
  if (o.format !== KEY_FILE_FORMAT) {
    throw fail(`its format is not '${KEY_FILE_FORMAT}'`);
  }
  if (!isHex(o.key_id, 16)) throw fail("key_id is not 16 lowercase hex characters");
  if (!Number.isSafeInteger(o.n) || (o.n as number) < 0) {
    throw fail(`n is not a whole number >= 0: ${JSON.stringify(o.n)}`);
  }
  if (!Number.isSafeInteger(o.from)) {
    throw fail(`from is not a time in epoch ms: ${JSON.stringify(o.from)}`);
  }
  if (!isHex(o.key, 64)) throw fail("key is not 64 lowercase hex characters");
  return {
    keyId: o.key_id as string,
    n: o.n as number,
    from: o.from as number,
    key: o.key as string,
  };
}

/**
 * Replaces the key file: writes `${path}.next` (0600), syncs it, renames it over `path`.
 * A crash leaves the old file or the new one whole; once this returns the old key is gone.
 */
export async function writeKeyFile(path: string, file: KeyFile): Promise<void> {
  const next = `${path}.next`;
  try {
    // A `.next` left by a crash keeps its old mode through open: start from a new file.
    await Deno.remove(next).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    const f = await Deno.open(next, { createNew: true, write: true, mode: 0o600 });
    try {
      await writeAll(f, new TextEncoder().encode(serialise(file)));
      await f.sync();
    } finally {
      f.close();
    }
    await Deno.rename(next, path);
  } catch (e) {
    throw new Error(`Cannot replace sealing key file ${path}: ${(e as Error).message}`);
  }
  await syncDirectoryOf(path);
}

async function syncDirectoryOf(path: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
  try {
    const d = await Deno.open(dir, { read: true });
    try {
      await d.sync();
    } finally {
      d.close();
    }
  } catch {
    // Best effort: the rename is already atomic; some systems cannot sync a directory.
  }
}

/** The key file for period `toN`: the key evolved `toN - n` times, `from` moved on as far. */
export function advance(file: KeyFile, toN: number, periodMs: number): KeyFile {
  if (!Number.isSafeInteger(toN) || toN < file.n) {
    throw new RangeError(
      `Cannot move sealing key ${file.keyId} from period ${file.n} to ${toN}: keys only move forward`,
    );
  }
  if (!Number.isSafeInteger(periodMs) || periodMs <= 0) {
    throw new RangeError(`Cannot move sealing key ${file.keyId}: period ${periodMs} ms is not > 0`);
  }
  let key = file.key;
  for (let i = file.n; i < toN; i++) key = evolveKey(key);
  return { keyId: file.keyId, n: toN, from: file.from + (toN - file.n) * periodMs, key };
}
