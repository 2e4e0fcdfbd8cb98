import { parseWorkloadLog } from "../../lib/workloads/client_log.ts";
import assert from "node:assert/strict";
import {
  judgeCounters,
  judgeSurvival,
  summariseContinuity,
} from "../../lib/exercises/client_judge.ts";

/** counter_client lines: `n` answers per connection every 20 ms from t0, counts from `count0`. */
function lines(conn: number, t0: number, n: number, count0 = 1): string[] {
  return Array.from(
    { length: n },
    (_, i) => JSON.stringify({ t: t0 + i * 20, conn, seq: i, latency_ms: 0.5, count: count0 + i }),
  );
}

Deno.test("connections answered after the change, with continuous counters, pass", () => {
  // Change from 1100 to 1300: a 300 ms pause, then answers again with the next counts.
  const text = [
    ...lines(0, 1000, 5),
    ...lines(0, 1400, 10, 6),
    ...lines(1, 1000, 5),
    ...lines(1, 1400, 10, 6),
  ].join("\n");
  const s = summariseContinuity(parseWorkloadLog(text, "client.log"), 1100, 1300);
  assert.deepEqual(s.kept, [0, 1]);
  assert.equal(s.countsContinuous, true);
  assert.ok(s.worstDowntimeMs >= 300 && s.worstDowntimeMs < 330, String(s.worstDowntimeMs));
  const v = judgeSurvival(s, "across the migration", "hint");
  assert.equal(v.ok, true);
  assert.match(v.detail!, /^2 of 2 connections kept across the migration; worst pause 3\d\d ms$/);
  assert.equal(judgeCounters(s).ok, true);
});

Deno.test("broken, silent and restarted connections fail with what happened", () => {
  const text = [
    ...lines(0, 1000, 5),
    JSON.stringify({ t: 1500, conn: 0, event: "reset", errno: 104 }),
    ...lines(1, 1000, 5),
    ...lines(2, 1000, 5),
    ...lines(2, 1400, 5, 1),
  ].map((l) => `2026-01-01T00:00:00.000000000+00:00 stdout F ${l}`).join("\n");
  const s = summariseContinuity(parseWorkloadLog(text, "container log"), 1100, 1300);
  assert.deepEqual(s.broken, [{ conn: 0, event: "reset" }]);
  assert.deepEqual(s.silent, [1]);
  assert.deepEqual(s.kept, [2]);
  const v = judgeSurvival(s, "across the migration", "do all four steps");
  assert.equal(v.ok, false);
  assert.equal(
    v.detail,
    "1 of 3 connections kept across the migration: 1 broke (conn 0: reset); 1 got no answer " +
      "afterwards",
  );
  assert.equal(v.hint, "do all four steps");
  assert.match(judgeCounters(s).detail!, /count jumped or restarted/);
  const none = summariseContinuity([], 0, 0);
  assert.equal(judgeSurvival(none, "x", "y").ok, false);
  assert.match(judgeCounters(none).detail!, /nothing to compare/);
});
