import assert from "node:assert/strict";
import { outageSpread, requestOutages, withClientLoad } from "../../lib/bench/load.ts";
import { loadLab } from "../../lib/lab/load.ts";
import type { ClientRecord } from "../../lib/workloads/client_log.ts";

Deno.test("load bench: the client's connection count and interval replace the lab file's", async () => {
  const lab = await loadLab("process-migration");
  const client = (l: typeof lab) => l.workloads.find((w) => w.role === "client")!.command;
  const loaded = withClientLoad(lab, 1000, 300);
  assert.deepEqual(client(loaded).slice(-4), ["-i", "300", "-c", "1000"]);
  const again = withClientLoad(loaded, 50, 10);
  assert.equal(client(again).filter((a) => a === "-c").length, 1, "replaced, not repeated");
  assert.deepEqual(client(again).slice(-4), ["-i", "10", "-c", "50"]);
  assert.deepEqual(client(lab).includes("-c"), false, "the lab itself is left as it was");
});

Deno.test("load bench: a connection's outage is its longest wait for an answer in the window", () => {
  const answer = (conn: number, t: number, latencyMs: number): ClientRecord => ({
    kind: "answer",
    t,
    conn,
    seq: 0,
    latencyMs,
    count: 0,
    at: t + latencyMs,
  });
  const outages = requestOutages(
    [
      answer(0, 900, 2), // answered before the window: not counted
      answer(0, 990, 700), // in flight when it began
      answer(0, 1700, 3),
      answer(1, 1200, 400),
      answer(1, 5000, 900), // sent after the window
    ],
    1000,
    2000,
  );
  assert.deepEqual([...outages.entries()], [[0, 700], [1, 400]]);
  const spread = outageSpread([100, 200, 300, 400]);
  assert.deepEqual(spread, { medianMs: 300, p90Ms: 400, worstMs: 400, worstOverMedian: 400 / 300 });
});
