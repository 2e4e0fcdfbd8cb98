import assert from "node:assert/strict";
import {
  BURST,
  crc32,
  flowClientArgv,
  parseEstablishedPeers,
  parseFlowLines,
  slotOf,
  testFlows,
  tupleBytes,
} from "../../lib/exercises/flows.ts";

Deno.test("crc32 is the usual CRC-32, over the 5-tuple as lb.p4 lays it out", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  const t = { src: "10.0.1.1", dst: "10.0.0.100", sport: 40000, dport: 12345 };
  assert.deepEqual(
    [...tupleBytes(t)],
    [10, 0, 1, 1, 10, 0, 0, 100, 6, 0x9c, 0x40, 0x30, 0x39],
  );
  // Measured on BMv2: 40000 -> slot 7, 40002 -> 1, 40004 -> 3, 40006 -> 5 of 8.
  assert.deepEqual(
    [40000, 40002, 40004, 40006].map((sport) => slotOf({ ...t, sport }, 8)),
    [7, 1, 3, 5],
  );
});

Deno.test("a burst of even ports keeps the hash's lowest bit; odd ports fill the missed slots", () => {
  const flows = testFlows("10.0.1.1", "10.0.0.100", 12345, 8);
  const burst = flows.filter((f) => f.burst);
  assert.equal(burst.length, BURST);
  assert.equal(new Set(burst.map((f) => f.slot % 2)).size, 1);
  assert.equal(new Set(flows.map((f) => f.slot)).size, 8);
  assert.ok(flows.filter((f) => !f.burst).every((f) => f.sport % 2 === 1));
  // Deterministic.
  assert.deepEqual(testFlows("10.0.1.1", "10.0.0.100", 12345, 8), flows);
});

Deno.test("the flow client's command and output", () => {
  const argv = flowClientArgv("e2001-h1", "10.0.0.100", 12345, [24000, 24002]);
  assert.deepEqual(argv.slice(0, 2), ["nsenter", "--net=/run/netns/e2001-h1"]);
  assert.deepEqual(argv.slice(-5), ["10.0.0.100", "12345", "3", "24000", "24002"]);
  assert.deepEqual(
    parseFlowLines(
      'flow 24000 ok {"conn":1,"count":1,"total":1}\nflow 24002 fail connect:timeout\nready\n',
    ),
    [
      { sport: 24000, answered: true, text: '{"conn":1,"count":1,"total":1}' },
      { sport: 24002, answered: false, text: "connect:timeout" },
    ],
  );
  assert.deepEqual(
    parseEstablishedPeers("0      0      10.0.2.2:12345    10.0.1.1:24000\nnonsense\n"),
    [{ ip: "10.0.1.1", port: 24000 }],
  );
});
