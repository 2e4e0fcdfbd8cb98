import assert from "node:assert/strict";
import {
  clientJsonLines,
  type ClientRecord,
  computeDowntime,
  parseClientLog,
  parseWorkloadLog,
} from "../../lib/workloads/client_log.ts";
import { UserError } from "../../lib/errors.ts";

const T0 = 1_700_000_000_000;

/** Builds client lines for one connection: an answer arriving at each given offset (ms). */
function answerLines(conn: number, arrivals: number[], firstCount = 1): string[] {
  return arrivals.map((a, k) => {
    const latency = 0.4;
    return JSON.stringify({
      t: T0 + a - latency,
      conn,
      seq: k,
      latency_ms: latency,
      count: firstCount + k,
    });
  });
}

/** Arrivals every `step` ms from `from` (inclusive) to `to` (exclusive). */
function paced(from: number, to: number, step = 10): number[] {
  const out: number[] = [];
  for (let x = from; x < to; x += step) out.push(x);
  return out;
}

Deno.test("parseClientLog reads answers and events and tolerates a truncated last line", () => {
  const text = [
    '{"t":1000.5,"conn":0,"seq":0,"latency_ms":0.5,"count":1}',
    '{"t":1010.0,"conn":1,"event":"reset","errno":104}',
    '{"t":1020.0,"conn":0,"seq":1,"lat',
  ].join("\n");
  const records = parseClientLog(text);
  assert.equal(records.length, 2);
  assert.deepEqual(records[0], {
    kind: "answer",
    t: 1000.5,
    conn: 0,
    seq: 0,
    latencyMs: 0.5,
    count: 1,
    at: 1001,
  });
  assert.deepEqual(records[1], { kind: "event", t: 1010, conn: 1, event: "reset", errno: 104 });
});

Deno.test("parseClientLog rejects a malformed line in the middle with its line number", () => {
  const text = '{"t":1,"conn":0,"seq":0,"latency_ms":1,"count":1}\nnot json\n{"t":2,"conn":0}\n';
  assert.throws(() => parseClientLog(text, "c.jsonl"), (err: unknown) => {
    assert.ok(err instanceof UserError);
    assert.match(err.message, /Cannot parse c\.jsonl: line 2 is not JSON/);
    return true;
  });
  assert.throws(() => parseClientLog('{"t":1,"conn":0,"event":"boom"}\n'), /unknown event "boom"/);
});

Deno.test("a reply arriving mid-outage does not split the downtime (503 ms, not 269)", () => {
  // Normal pace 10 ms until 1000; outage; a retransmitted reply lands at 1269; normal pace
  // resumes at 1503.
  const arrivals = [...paced(0, 1010), 1269, ...paced(1503, 2500)];
  const records = parseClientLog(answerLines(0, arrivals).join("\n"));
  const report = computeDowntime(records, { migrationStartMs: T0 + 995 });
  const c = report.connections[0];
  assert.equal(c.outageStartMs, T0 + 1000);
  assert.equal(c.recoveredAtMs, T0 + 1503);
  assert.ok(Math.abs(c.downtimeMs - 503) < 1e-6, `downtime ${c.downtimeMs}`);
  assert.deepEqual(c.outageGapsMs.map(Math.round), [269, 234]);
  assert.ok(Math.abs(report.maxDowntimeMs - 503) < 1e-6);
  assert.equal(report.anyBroken, false);
  assert.equal(report.countsContinuous, true);
});

Deno.test("the split case is found without a migration start too", () => {
  const arrivals = [...paced(0, 1010), 1269, ...paced(1503, 2500)];
  const report = computeDowntime(parseClientLog(answerLines(0, arrivals).join("\n")));
  assert.ok(Math.abs(report.maxDowntimeMs - 503) < 1e-6);
});

Deno.test("a burst of queued answers right after the outage counts as recovered", () => {
  const burst = [1400, 1400.1, 1400.2, 1400.3];
  const arrivals = [...paced(0, 1000), ...burst, ...paced(1410, 2000)];
  const report = computeDowntime(parseClientLog(answerLines(0, arrivals).join("\n")), {
    migrationStartMs: T0 + 900,
  });
  assert.ok(Math.abs(report.maxDowntimeMs - 410) < 1e-6, `${report.maxDowntimeMs}`);
});

Deno.test("the outage is the longest one after the start, not a hiccup before it", () => {
  // Migration starts at 1000; a 40 ms hiccup at 1100 (the server still serving); the outage
  // proper from 1300 to 1700, split by a reply at 1450.
  const arrivals = [...paced(0, 1110), 1150, ...paced(1160, 1310), 1450, ...paced(1700, 2500)];
  const report = computeDowntime(parseClientLog(answerLines(0, arrivals).join("\n")), {
    migrationStartMs: T0 + 1000,
  });
  const c = report.connections[0];
  assert.equal(c.outageStartMs, T0 + 1300);
  assert.equal(c.recoveredAtMs, T0 + 1700);
  assert.deepEqual(c.outageGapsMs.map(Math.round), [150, 250]);
});

Deno.test("jitter within tolerance is not an outage; answers before the migration are ignored", () => {
  // A 60 ms hiccup long before the migration, and 20 ms jitter after it.
  const arrivals = [...paced(0, 500), 560, ...paced(570, 3000, 10).map((x, i) => x + (i % 2) * 9)];
  const report = computeDowntime(parseClientLog(answerLines(0, arrivals).join("\n")), {
    migrationStartMs: T0 + 2000,
  });
  assert.equal(report.maxDowntimeMs, 0);
  assert.equal(report.connections[0].outageStartMs, undefined);
});

Deno.test("per connection downtime, overall maximum and span; a reset connection is broken", () => {
  const lines = [
    ...answerLines(0, [...paced(0, 1000), ...paced(1300, 2000)]),
    ...answerLines(1, [...paced(5, 1005), ...paced(1505, 2005)]),
    ...answerLines(2, paced(0, 1000)),
    JSON.stringify({ t: T0 + 1800, conn: 2, event: "reset", errno: 104 }),
  ];
  const report = computeDowntime(parseClientLog(lines.join("\n")), {
    migrationStartMs: T0 + 950,
  });
  const [c0, c1, c2] = report.connections;
  assert.ok(Math.abs(c0.downtimeMs - 310) < 1e-6);
  assert.ok(Math.abs(c1.downtimeMs - 510) < 1e-6);
  assert.equal(c2.broken, true);
  assert.equal(c2.event?.event, "reset");
  assert.equal(c2.recoveredAtMs, undefined);
  assert.ok(Math.abs(c2.downtimeMs - 810) < 1e-6, `${c2.downtimeMs}`);
  assert.equal(report.anyBroken, true);
  assert.deepEqual(report.brokenConnections, [2]);
  assert.ok(Math.abs(report.maxDowntimeMs - 810) < 1e-6);
  assert.ok(Math.abs(report.spanMs - (1800 - 990)) < 1e-6, `${report.spanMs}`);
});

Deno.test("a connection that goes silent before the log ends is in an unfinished outage", () => {
  const lines = [...answerLines(0, paced(0, 2000)), ...answerLines(1, paced(0, 1000))];
  const report = computeDowntime(parseClientLog(lines.join("\n")));
  assert.equal(report.connections[0].downtimeMs, 0);
  assert.equal(report.connections[1].recoveredAtMs, undefined);
  assert.ok(Math.abs(report.connections[1].downtimeMs - 1000) < 1e-6);
});

Deno.test("a counter that restarts is reported as not continuous", () => {
  const records: ClientRecord[] = parseClientLog([
    ...answerLines(0, paced(0, 100)),
    ...answerLines(0, paced(100, 200), 1).map((l) => l.replace(/"seq":(\d+)/, '"seq":1$1')),
  ].join("\n"));
  const report = computeDowntime(records);
  assert.equal(report.countsContinuous, false);
});

Deno.test("answers that swap places by arrival are continuous in the order they were sent", () => {
  // Seen in an emulated VM: request 1204 sent 4 ms before 1205, its latency (another clock) 9 ms.
  const line = (seq: number, t: number, latency: number) =>
    JSON.stringify({ t: T0 + t, conn: 0, seq, latency_ms: latency, count: seq + 1 });
  const text = [
    line(1203, 0, 0.8),
    line(1205, 33.7, 4.3),
    line(1204, 29.4, 9.1),
    line(1206, 46.2, 0.8),
  ].join("\n");
  const report = computeDowntime(parseClientLog(text));
  assert.equal(report.countsContinuous, true);
});

Deno.test("parseWorkloadLog reads a container's k8s-file log like a process's output", () => {
  const json = '{"t":1000,"conn":0,"seq":0,"latency_ms":0.5,"count":1}';
  const container = [
    `2026-11-27T11:41:35.5+00:00 stdout F ${json}`,
    "2026-11-27T11:41:35.6+00:00 stderr F counter_client: connected",
  ].join("\n");
  assert.deepEqual(clientJsonLines(container), [json]);
  assert.deepEqual(parseWorkloadLog(container, "c"), parseWorkloadLog(json, "p"));
  assert.equal(parseWorkloadLog(container, "c").length, 1);
});
