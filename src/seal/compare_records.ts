/**
 * The verifier's comparison of the records a store holds with what its chains say of
 * every session: the latest entry explains each record, and no session said to exist lacks
 * one. Names the fields of the edited entries the chain walk deferred.
 */
import { canonicalJson, type SessionRecord } from "../sessions/session.ts";
import { fieldDiff } from "./field_diff.ts";
import { sha256Hex } from "./hash.ts";
import { entryName, isoTime } from "./_names.ts";
import { isObject, parseEntry } from "./_parse.ts";
import type { Problems } from "./_problems.ts";
import type { SessionState, SessionStates } from "./_session_states.ts";
import type { HistorySource } from "./verify.ts";

/** Reads every record and compares it with its session's latest states; returns the count. */
export async function compareRecords(
  src: HistorySource,
  states: SessionStates,
  problems: Problems,
): Promise<number> {
  let records = 0;
  for await (const record of src.records()) {
    records += 1;
    const id = isObject(record) && typeof record.session_id === "string" ? record.session_id : "";
    for (const d of states.deferred.get(id) ?? []) {
      const fields = fieldDiff(d.r, record, ["last_seen_at"]);
      d.problem.fields = fields;
      if (fields.length > 0) {
        // The fields say more than the generic reason after the colon.
        const base = d.problem.message.slice(0, d.problem.message.indexOf(": "));
        d.problem.message = `${base}: ${fields.join(", ")} differs from the record`;
      }
      problems.add(d.problem);
    }
    states.deferred.delete(id);
    const state = states.sessions.get(id);
    if (state === undefined) {
      problems.add({
        kind: "unexplained_record",
        message: `session ${id || "(without an id)"} has a record but no entry explains it`,
        session_id: id || undefined,
      });
      continue;
    }
    if (state.seen) continue;
    state.seen = true;
    await checkRecord(src, id, record, state, problems);
  }
  for (const list of states.deferred.values()) for (const d of list) problems.add(d.problem);

  for (const [id, state] of states.sessions) {
    if (state.seen || state.cands.some((c) => c.removed)) continue;
    const c = state.cands[0]!;
    problems.add({
      kind: "missing_record",
      message: `session ${id} has no record, though its latest ${entryName(c.w, c.s)} ` +
        `says it exists`,
      writer: c.w,
      seq: c.s,
      session_id: id,
    });
  }
  return records;
}

/** Names how a record differs from every state its session's latest entries leave it in. */
async function checkRecord(
  src: HistorySource,
  id: string,
  record: SessionRecord,
  state: SessionState,
  problems: Problems,
): Promise<void> {
  const live = state.cands.filter((c) => !c.removed);
  if (live.length === 0) {
    problems.add({
      kind: "unexplained_record",
      message: `session ${id} was pruned at ${isoTime(state.at)} but its record is back`,
      session_id: id,
    });
    return;
  }
  for (const c of live) {
    const json = canonicalJson({ ...record, last_seen_at: c.lastSeen });
    if (sha256Hex(json) !== c.digest) continue;
    const stored = Date.parse(String(record.last_seen_at));
    const entered = Date.parse(String(c.lastSeen));
    if (!(stored >= entered)) {
      problems.add({
        kind: "edited_record",
        message: `session ${id}'s record was edited: last_seen_at ${
          JSON.stringify(record.last_seen_at)
        } is before ${JSON.stringify(c.lastSeen)} of its ${entryName(c.w, c.s)}`,
        session_id: id,
        writer: c.w,
        seq: c.s,
        fields: ["last_seen_at"],
      });
    }
    return;
  }
  const c = live[0]!;
  const stored = parseEntry(await src.entry(c.w, c.s));
  const fields = typeof stored === "string" ? [] : fieldDiff(stored.r, record, ["last_seen_at"]);
  problems.add({
    kind: "edited_record",
    message: `session ${id}'s record was edited: ${
      fields.length > 0 ? fields.join(", ") : "it"
    } differs from its latest ${entryName(c.w, c.s)}`,
    session_id: id,
    writer: c.w,
    seq: c.s,
    fields,
  });
}
