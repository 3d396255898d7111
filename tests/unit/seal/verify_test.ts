import assert from "node:assert/strict";
import { type Entry, entryHash, stubOf } from "../../../src/seal/entry.ts";
import {
  type Problem,
  type ProblemKind,
  verifyHistory,
  type VerifyReport,
} from "../../../src/seal/verify.ts";
import { explainReport } from "../../../src/seal/explain.ts";
import type { Seal } from "../../../src/seal/seal.ts";
import { K0, KEY_ID, NOW, PERIOD, record, standardHistory, T0, W1, W2, W3 } from "./_history.ts";
import type { MemoryHistory } from "./_history.ts";

const KEYS = { keys: [{ keyId: KEY_ID, k0: K0 }], nowMs: NOW };

function verify(h: MemoryHistory, options = KEYS): Promise<VerifyReport> {
  return verifyHistory(h.source(), options);
}

/** The one problem of a kind, after checking the report failed with it. */
function only(report: VerifyReport, kind: ProblemKind): Problem {
  assert.equal(report.ok, false);
  const found = report.problems.filter((p) => p.kind === kind);
  assert.ok(found.length >= 1, `no ${kind} in ${JSON.stringify(report.problems, null, 1)}`);
  return found[0]!;
}

/** Replaces a stored entry by an edited copy, rehashing it or not. */
function edit(h: MemoryHistory, w: string, s: number, change: (e: Entry) => void, rehash = false) {
  const e = structuredClone(h.entry(w, s));
  change(e);
  if (rehash) e.h = entryHash(e);
  h.chains.get(w)!.set(s, e);
  return e;
}

Deno.test("verify: a clean sealed history of three writers is ok, with its counts", async () => {
  const report = await verify(standardHistory());
  assert.deepEqual(report.problems, []);
  assert.equal(report.ok, true);
  // 5 periods x 3 writers: 15 starts, 12 ends, 1 prune, then 3 current entries.
  assert.equal(report.entries, 31);
  assert.equal(report.writers, 3);
  // 15 + 2 started now, 1 pruned.
  assert.equal(report.records, 16);
  assert.equal(report.stubs, 2);
  assert.equal(report.sealed, true);
  assert.deepEqual(report.keys, [{
    key: KEY_ID,
    periods: 5,
    last_until: T0 + 5 * PERIOD,
    last_at: T0 + 5 * PERIOD + 2000,
    checked: true,
  }]);
  assert.equal(report.unsealed_after, 3);
  const text = explainReport(report, "kv:/tmp/x");
  assert.match(text, /^verified kv:\/tmp\/x: 31 entries from 3 writers explain 16 records/);
  assert.match(text, /through 2026-12-07T10:05:00Z \(5 periods, last seal 2026-12-07T10:05:02Z\)/);
  assert.match(text, /3 entries of the current period are not sealed yet/);
});

Deno.test("verify: without keys the hashes are checked and the store is said unsealed", async () => {
  const report = await verify(standardHistory(), { keys: [], nowMs: NOW });
  assert.equal(report.ok, true);
  assert.equal(report.sealed, false);
  assert.equal(report.unsealed_after, null);
  assert.deepEqual(report.keys.map((k) => k.checked), [false]);
  assert.match(explainReport(report, "store"), /^hashes check out.*the store is unsealed/);
  // And it still catches an edit.
  const h = standardHistory();
  edit(h, W1, 4, (e) => (e.r!.hostname = "evil"));
  const bad = await verify(h, { keys: [], nowMs: NOW });
  assert.equal(only(bad, "edited_entry").seq, 4);
});

Deno.test("verify: an edited record field is named with its session", async () => {
  const h = standardHistory();
  const r = h.records.get("web-20261203-100002")!;
  r.user = { ...r.user, username: "mallory" };
  const p = only(await verify(h), "edited_record");
  assert.equal(p.session_id, "web-20261203-100002");
  assert.deepEqual(p.fields, ["user.username"]);
  assert.match(p.message, /web-20261203-100002.*user\.username/);
});

Deno.test("verify: a record's last_seen_at moved back is an edit", async () => {
  const h = standardHistory();
  h.records.get("web-20261202-100001")!.last_seen_at = "2026-12-07T09:00:00.000Z";
  const p = only(await verify(h), "edited_record");
  assert.deepEqual(p.fields, ["last_seen_at"]);
  assert.match(p.message, /web-20261202-100001/);
});

Deno.test("verify: an edited entry (hash not recomputed) names writer, seq, session, field", async () => {
  const h = standardHistory();
  // W2's entry #2 is the start of web-20261201-100001.
  const e = edit(h, W2, 2, (e) => (e.r!.user.username = "mallory"));
  assert.equal(e.id, "web-20261201-100001");
  const report = await verify(h);
  const p = only(report, "edited_entry");
  assert.equal(p.writer, W2);
  assert.equal(p.seq, 2);
  assert.equal(p.session_id, "web-20261201-100001");
  assert.ok(p.fields!.includes("user.username"));
  assert.match(p.message, new RegExp(`entry ${W2}#2 \\(session web-20261201-100001\\) was edited`));
  assert.match(p.message, /user\.username differs from the record/);
  assert.match(explainReport(report, "s"), /^verification FAILED for s: \d+ problems?\n {2}- /);
});

Deno.test("verify: an entry re-hashed after an edit is caught by the next link and the seal", async () => {
  const h = standardHistory();
  edit(h, W3, 2, (e) => (e.r!.hostname = "elsewhere"), true);
  const report = await verify(h);
  const p = only(report, "edited_entry");
  assert.equal(p.writer, W3);
  assert.equal(p.seq, 2);
  assert.equal(p.session_id, "web-20261201-100002");
  assert.match(p.message, /was rewritten/);
  assert.ok(p.fields!.includes("hostname"));
  assert.match(p.message, /hostname/);
  // Rewriting the rest of the chain too is caught by the seal's head.
  const h2 = standardHistory();
  const stored = h2.chains.get(W3)!;
  let prevH = "";
  for (const s of [...stored.keys()].sort((a, b) => a - b)) {
    const e = structuredClone(stored.get(s) as Entry);
    if (s === 2) e.r!.hostname = "elsewhere";
    if (s > 2) e.p = prevH;
    if (s >= 2) e.h = entryHash(e);
    prevH = e.h;
    stored.set(s, e);
  }
  h2.heads.set(W3, { s: stored.size, h: prevH });
  h2.records.get("web-20261201-100002")!.hostname = "elsewhere";
  const q = only(await verify(h2), "edited_entry");
  assert.equal(q.writer, W3);
  assert.match(q.message, /sealed in period \d+ of key .*: the chain was rewritten/);
});

Deno.test("verify: an entry removed from the middle of a chain", async () => {
  const h = standardHistory();
  h.chains.get(W1)!.delete(4);
  const p = only(await verify(h), "removed_entry");
  assert.equal(p.writer, W1);
  assert.equal(p.seq, 4);
  assert.match(p.message, new RegExp(`entries ${W1}#4 were removed`));
});

Deno.test("verify: two entries swapped between their keys are a reordered pair", async () => {
  const h = standardHistory();
  const stored = h.chains.get(W2)!;
  const [a, b] = [stored.get(4), stored.get(5)];
  stored.set(4, b);
  stored.set(5, a);
  const report = await verify(h);
  assert.deepEqual(report.problems.map((p) => p.kind), ["reordered"]);
  const p = report.problems[0]!;
  assert.equal(p.writer, W2);
  assert.match(p.message, new RegExp(`${W2}#4 \\(session .+\\) and #5 \\(session .+\\)`));
  assert.match(p.message, /web-2026120/);
});

Deno.test("verify: a chain cut short below its sealed head", async () => {
  const h = standardHistory();
  const stored = h.chains.get(W1)!;
  // W1 has 10 entries; seal 4 says #9; keep #1-#6.
  for (const s of [7, 8, 9, 10]) stored.delete(s);
  for (const s of [7, 8, 9, 10]) h.records.delete((h.entry(W1, 1) as Entry).id + s);
  const report = await verify(h);
  const cut = report.problems.filter((p) => p.kind === "cut_short");
  assert.equal(cut.length, 2, JSON.stringify(report.problems));
  assert.ok(cut.every((p) => p.writer === W1));
  assert.ok(cut.some((p) => /ends at #6 but its head says #10/.test(p.message)));
  assert.ok(
    cut.some((p) =>
      /ends at #6 but the seal of period 4 of key .* says it reached #9/.test(p.message)
    ),
  );
});

Deno.test("verify: a missing seal period is named with its times", async () => {
  const h = standardHistory();
  h.seals = h.seals.filter((s) => (s as Seal).n !== 2);
  const report = await verify(h);
  assert.deepEqual(report.problems.map((p) => p.kind), ["missing_period"]);
  const p = report.problems[0]!;
  assert.equal(p.period, 2);
  assert.equal(p.key, KEY_ID);
  assert.match(
    p.message,
    /period 2 of key .* \(2026-12-07T10:02:00Z to 2026-12-07T10:03:00Z\) have no seal/,
  );
});

Deno.test("verify: a seal with a bad mac, and a key given with no seals at all", async () => {
  const h = standardHistory();
  const seal = h.seals[1] as Seal;
  h.seals[1] = { ...seal, heads: { ...seal.heads, [W1]: { s: 1, h: seal.heads[W1]!.h } } };
  const p = only(await verify(h), "bad_seal");
  assert.equal(p.period, 1);
  assert.match(p.message, /seal of period 1 of key .* does not verify/);
  const other = { keyId: "0123456789abcdef", k0: "77".repeat(32) };
  const report = await verify(standardHistory(), { keys: [...KEYS.keys, other], nowMs: NOW });
  const q = only(report, "missing_period");
  assert.match(q.message, /no seal under key 0123456789abcdef/);
});

Deno.test("verify: an entry backdated into a sealed period and appended after the head", async () => {
  const h = standardHistory();
  // Remove the current-period entries of W1, then append one dated in period 1.
  const stored = h.chains.get(W1)!;
  const last = h.entry(W1, 10);
  stored.delete(10);
  h.records.delete(last.id);
  const prev = h.entry(W1, 9);
  const r = record("web-20261201-999999");
  const forged: Omit<Entry, "h"> = {
    v: 1,
    w: W1,
    s: 10,
    p: prev.h,
    at: T0 + PERIOD + 5,
    k: "start",
    id: r.session_id,
    r,
  };
  stored.set(10, { ...forged, h: entryHash(forged) });
  h.records.set(r.session_id, r);
  h.heads.set(W1, { s: 10, h: entryHash(forged) });
  const report = await verify(h);
  const kinds = report.problems.map((p) => p.kind);
  // Dated before #10 as well: both the order and the seals show it.
  assert.ok(kinds.includes("unsealed_entry"), JSON.stringify(report.problems));
  const p = only(report, "unsealed_entry");
  assert.equal(p.session_id, "web-20261201-999999");
  assert.match(p.message, new RegExp(`${W1}#10 \\(session web-20261201-999999\\)`));
});

Deno.test("verify: an entry under another period's key is wrong_key", async () => {
  // A writer appears after period 2 was sealed with an entry dated in period 1, and seal 3
  // covers it (as a thief of period 3's key could arrange): period 3's key sealed period 1.
  const W4 = "w00000000000000d4";
  const h = standardHistory((h, n) => {
    if (n !== 3) return;
    const r = record("late-20261207-100105");
    h.commit(W4, [{ k: "start", id: r.session_id, r }], T0 + PERIOD + 5_000);
  });
  const report = await verify(h);
  assert.deepEqual(report.problems.map((p) => p.kind), ["wrong_key"]);
  const p = report.problems[0]!;
  assert.equal(p.writer, W4);
  assert.equal(p.session_id, "late-20261207-100105");
  assert.match(p.message, /dated 2026-12-07T10:01:05Z in period 1 was sealed under period 3's key/);
});

Deno.test("verify: a record no entry explains", async () => {
  const h = standardHistory();
  h.records.set("ghost-20261207-000000", record("ghost-20261207-000000"));
  const p = only(await verify(h), "unexplained_record");
  assert.equal(p.session_id, "ghost-20261207-000000");
  assert.match(p.message, /session ghost-20261207-000000 has a record but no entry explains it/);
});

Deno.test("verify: a pruned session whose record reappears", async () => {
  const h = standardHistory();
  h.records.set("web-20261201-100000", record("web-20261201-100000"));
  const p = only(await verify(h), "unexplained_record");
  assert.equal(p.session_id, "web-20261201-100000");
  assert.match(p.message, /session web-20261201-100000 was pruned at .* but its record is back/);
});

Deno.test("verify: a stub of a session that was never pruned", async () => {
  const h = standardHistory();
  // W1#7 ends web-20261202-100000; drop its body as if it had been pruned.
  const stored = h.chains.get(W1)!;
  const e = h.entry(W1, 7);
  assert.equal(e.id, "web-20261202-100000");
  stored.set(7, stubOf(e));
  const report = await verify(h);
  const p = only(report, "removed_entry");
  assert.equal(p.session_id, "web-20261202-100000");
  assert.match(
    p.message,
    /body of entry .*#7 \(session web-20261202-100000\) was removed, but session web-20261202-100000 was never pruned/,
  );
});

Deno.test("verify: a missing record", async () => {
  const h = standardHistory();
  h.records.delete("web-20261204-100002");
  const p = only(await verify(h), "missing_record");
  assert.equal(p.session_id, "web-20261204-100002");
  assert.match(p.message, /session web-20261204-100002 has no record/);
});

Deno.test("verify: values that are not entries, and keys that disagree with values", async () => {
  const h = standardHistory();
  h.chains.get(W1)!.set(3, "garbage");
  h.chains.get(W2)!.set(3, { ...h.entry(W2, 3), s: 9 });
  const report = await verify(h);
  const edited = report.problems.filter((p) => p.kind === "edited_entry");
  assert.ok(edited.some((p) => p.writer === W1 && p.seq === 3 && /not an entry/.test(p.message)));
  assert.ok(edited.some((p) => p.writer === W2 && p.seq === 3 && /says it is #9/.test(p.message)));
});

Deno.test("verify: carried chains are checked but explain no records", async () => {
  const h = standardHistory();
  h.carried = new Set([W3]);
  const report = await verify(h);
  assert.ok(report.problems.length > 0);
  assert.ok(report.problems.every((p) => p.kind === "unexplained_record"));
  assert.ok(report.problems.every((p) => /-100002/.test(p.session_id!)));
});
