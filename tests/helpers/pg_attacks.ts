/**
 * The attacks of tests/e2e/tamper_test.ts on a PostgreSQL store, made with SQL as an
 * intruder holding the database password would make them; each is handed to `run`, which
 * makes it, checks what `sessions verify` says with `expect`, and puts the store back.
 */
import assert from "node:assert/strict";
import { Chain, newWriterId } from "../../src/seal/entry.ts";
import { readKeyFile } from "../../src/seal/key_file.ts";
import { makeSeal } from "../../src/seal/seal.ts";
import type { PgDatabase } from "./pg_database.ts";
import {
  insertChain,
  insertSession,
  pgEntries,
  pgLongestChain,
  pgRecord,
  setEntryText,
} from "./pg_tamper.ts";

/** What the attacks read of verify's report. */
interface Report {
  problems: { kind: string; message: string; fields?: string[] }[];
}

type Run = (
  what: string,
  attack: (db: PgDatabase) => Promise<void>,
  expect: (report: Report) => void,
) => Promise<void>;

type Named = (report: Report, kind: string, pattern: RegExp) => void;

/** Makes every attack through `run` on the sealed store of `s`. */
export async function pgAttacks(
  s: { ids: string[]; keyFile: string },
  run: Run,
  named: Named,
): Promise<void> {
  const victim = s.ids[2]!;
  await run("an edited record", async (db) => {
    const record = await pgRecord(db, victim);
    (record.user as Record<string, unknown>).username = "mallory";
    await db.query("UPDATE session_buddy.sessions SET record = $2 WHERE session_id = $1", [
      victim,
      JSON.stringify(record),
    ]);
  }, (r) => {
    named(r, "edited_record", new RegExp(victim));
    assert.ok(r.problems.some((p) => p.fields?.includes("user.username")));
  });
  await run("an edited entry", async (db) => {
    const start = (await pgEntries(db)).find((e) => e.value.id === victim)!;
    start.value.r!.hostname = "elsewhere";
    await setEntryText(db, start.writer, start.seq, JSON.stringify(start.value));
  }, (r) => named(r, "edited_entry", new RegExp(victim)));
  await run("a removed entry", async (db) => {
    const chain = await pgLongestChain(db);
    await db.query("DELETE FROM session_buddy.entries WHERE writer = $1 AND seq = $2", [
      chain[1]!.writer,
      chain[1]!.seq,
    ]);
  }, (r) => named(r, "removed_entry", /#2/));
  await run("a reordered pair", async (db) => {
    const chain = await pgLongestChain(db);
    const [a, b] = [chain[1]!, chain[2]!];
    await setEntryText(db, a.writer, a.seq, JSON.stringify(b.value));
    await setEntryText(db, b.writer, b.seq, JSON.stringify(a.value));
  }, (r) => named(r, "reordered", /#2|#3/));
  await run("a chain cut short", async (db) => {
    const chain = await pgLongestChain(db);
    const keep = chain[chain.length - 3]!.value;
    await db.query("DELETE FROM session_buddy.entries WHERE writer = $1 AND seq > $2", [
      keep.w,
      keep.s,
    ]);
    // The intruder leaves a head that agrees with what is left.
    await db.query(
      "UPDATE session_buddy.heads SET s = $2, h = $3, at_ms = $4 WHERE writer = $1",
      [keep.w, keep.s, keep.h, keep.at],
    );
  }, (r) => named(r, "cut_short", /./));
  await run("a missing period", async (db) => {
    const seals = await db.query(
      "SELECT key_id, n::text AS n FROM session_buddy.seals ORDER BY key_id, n",
    );
    assert.ok(seals.length >= 3);
    await db.query("DELETE FROM session_buddy.seals WHERE key_id = $1 AND n = $2", [
      seals[1]!.key_id,
      seals[1]!.n,
    ]);
  }, (r) => named(r, "missing_period", /period 1 /));
  await run("a record its entries do not explain", async (db) => {
    const record = await pgRecord(db, victim);
    record.session_id = `${victim}-forged`;
    record.event_id = crypto.randomUUID();
    await insertSession(db, record);
  }, (r) => named(r, "unexplained_record", /-forged/));
  await run("a forged writer's backdated entry", async (db) => {
    // A chain of its own, no seal touched: the entry claims a period sealed already.
    const file = await readKeyFile(s.keyFile);
    const record = await pgRecord(db, victim);
    record.session_id = `${victim}-ghost`;
    record.event_id = crypto.randomUUID();
    const chain = new Chain(newWriterId(), null);
    const [forged] = chain.draft(
      // deno-lint-ignore no-explicit-any
      [{ k: "start", id: String(record.session_id), r: record as any }],
      file.from - 2000,
    );
    await insertChain(db, forged!);
    await insertSession(db, record);
  }, (r) => named(r, "unsealed_entry", /-ghost/));
  await run("an entry under another period's key", async (db) => {
    // Root on the host reads the current key and seals a backdated entry with it.
    const file = await readKeyFile(s.keyFile);
    const record = await pgRecord(db, victim);
    record.session_id = `${victim}-late`;
    record.event_id = crypto.randomUUID();
    const chain = new Chain(newWriterId(), null);
    const [forged] = chain.draft(
      // deno-lint-ignore no-explicit-any
      [{ k: "start", id: String(record.session_id), r: record as any }],
      file.from - 3000,
    );
    const seal = makeSeal(file, 1000, { [forged!.w]: { s: 1, h: forged!.h } }, Date.now());
    await insertChain(db, forged!);
    await insertSession(db, record);
    await db.query("INSERT INTO session_buddy.seals (key_id, n, seal) VALUES ($1, $2, $3)", [
      file.keyId,
      file.n,
      JSON.stringify(seal),
    ]);
  }, (r) => named(r, "wrong_key", /-late/));
}
