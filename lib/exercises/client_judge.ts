/**
 * Judges what the lab's counter client saw around a change (a migration, a new backend): every
 * connection must still be answered afterwards, none may have broken, and each connection's
 * counter must go on from where it was (the server kept its state).
 *
 * @module
 */
import { type ClientRecord, computeDowntime } from "../workloads/client_log.ts";
import { fail, pass, type Verdict } from "./grading.ts";

/** Per-connection facts around the change. */
export interface ContinuitySummary {
  connections: number;
  /** Connections with answers after the change and no failure. */
  kept: number[];
  broken: { conn: number; event: string }[];
  /** Connections with no failure but no answer after the change either. */
  silent: number[];
  countsContinuous: boolean;
  /** The worst connection's outage, ms. */
  worstDowntimeMs: number;
}

/**
 * Summarises the records: `changeStartMs` is when the change began (unix ms), `changeEndMs`
 * when it was over; answers must arrive after `changeEndMs`.
 */
export function summariseContinuity(
  records: readonly ClientRecord[],
  changeStartMs: number,
  changeEndMs: number,
): ContinuitySummary {
  const report = computeDowntime(records, { migrationStartMs: changeStartMs });
  const kept: number[] = [];
  const silent: number[] = [];
  const broken: ContinuitySummary["broken"] = [];
  for (const c of report.connections) {
    if (c.event) {
      broken.push({ conn: c.conn, event: c.event.event });
      continue;
    }
    const after = records.some((r) =>
      r.kind === "answer" && r.conn === c.conn && r.at > changeEndMs
    );
    (after ? kept : silent).push(c.conn);
  }
  return {
    connections: report.connections.length,
    kept,
    broken,
    silent,
    countsContinuous: report.countsContinuous,
    worstDowntimeMs: report.maxDowntimeMs,
  };
}

/** Verdict: every connection survived and is answered again. */
export function judgeSurvival(s: ContinuitySummary, what: string, hint: string): Verdict {
  if (s.connections === 0) {
    return fail(
      "the client log has no answers at all",
      "is the client running? see the lab's run directory",
    );
  }
  if (s.kept.length === s.connections) {
    return pass(
      `${s.kept.length} of ${s.connections} connections kept ${what}; worst pause ` +
        `${s.worstDowntimeMs.toFixed(0)} ms`,
    );
  }
  const parts = [
    s.broken.length &&
    `${s.broken.length} broke (${s.broken.map((b) => `conn ${b.conn}: ${b.event}`).join(", ")})`,
    s.silent.length && `${s.silent.length} got no answer afterwards`,
  ].filter(Boolean);
  return fail(
    `${s.kept.length} of ${s.connections} connections kept ${what}: ${parts.join("; ")}`,
    hint,
  );
}

/** Verdict: the counters went on without a reset or a jump. */
export function judgeCounters(s: ContinuitySummary): Verdict {
  if (s.kept.length === 0) {
    return fail("no connection was answered after the change, so there is nothing to compare");
  }
  return s.countsContinuous ? pass("every answer's count is the previous one plus one") : fail(
    "a connection's count jumped or restarted: the answers came from a server that did not " +
      "keep the connection's state",
    "restore the checkpointed server; do not start a new one",
  );
}
