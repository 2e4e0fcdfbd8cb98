/**
 * The P4Runtime peer bench's pieces: ratio lines, the Python driver's entries (byte for byte
 * ours, so both sides write the same workload), its stubs generated from proto/, and the reason
 * printed when Python grpcio is missing.
 */
import assert from "node:assert/strict";
import {
  peerHeader,
  peerLine,
  peerPanels,
  type PeerReport,
  peerRows,
} from "../../lib/bench/peers.ts";
import {
  findPythonGrpc,
  generatePythonStubs,
  peerConfig,
  pythonPeerUpdateHex,
} from "../../lib/bench/peers_p4runtime.ts";
import { FIXTURE_DIR, vipEntry } from "../../lib/bench/controller_memory.ts";
import { buildTableEntry, tableUpdate } from "../../lib/p4runtime/entries.ts";
import { UpdateType } from "../../lib/p4runtime/messages.ts";
import { P4Info } from "../../lib/p4runtime/p4info.ts";
import { p4runtimeProto } from "../../lib/p4runtime/proto.ts";
import { RecordingShell } from "../../lib/shell.ts";

Deno.test("peer lines carry the ratio and whether the goal is met", () => {
  const modify = peerLine("MODIFY p50", "µs", "lower", 90, 180, { max: 0.6 }, { "grpc-js": 400 });
  assert.equal(modify.ratio, 0.5);
  assert.deepEqual([modify.goal, modify.met], ["<= 0.6", true]);
  const insert = peerLine("INSERT", "/s", "higher", 30_000, 25_000, { min: 2.5 });
  assert.deepEqual([insert.goal, insert.met], [">= 2.5", false]);
  assert.equal(peerLine("cpu", "µs", "lower", 1, 2).goal, undefined);
  const report: PeerReport = {
    name: "p4runtime",
    title: "t",
    oursName: "ours",
    peerName: "peer",
    extraNames: ["grpc-js"],
    lines: [modify, insert],
    loadAverage: { before: [1, 1, 1], after: [1, 1, 1] },
    details: {},
  };
  assert.deepEqual(peerHeader(report), ["measure", "ours", "grpc-js", "peer", "ratio", "goal"]);
  assert.deepEqual(peerRows(report), [
    ["MODIFY p50 (µs)", "90", "400", "180", "0.50x", "<= 0.6 met"],
    ["INSERT (/s)", "30,000", "-", "25,000", "1.20x", ">= 2.5 MISSED"],
  ]);
  assert.deepEqual(peerPanels(report)[0].bars, [
    { series: "ours", value: 90 },
    { series: "grpc-js", value: 400 },
    { series: "peer", value: 180 },
  ]);
});

Deno.test("without Python grpcio the bench says what to install", async () => {
  const shell = new RecordingShell([{ match: /import grpc/, result: { code: 1 } }]);
  const found = await findPythonGrpc(shell);
  assert.ok("missing" in found);
  assert.match(found.missing, /Python grpcio is missing \(tried .*\/usr\/bin\/python3/);
  assert.match(found.missing, /apt-get install python3-grpcio python3-grpc-tools/);
});

const python = await findPythonGrpc();
Deno.test({
  name: "the Python peer writes exactly our entries (stubs generated from proto/)",
  ignore: "missing" in python,
  async fn() {
    if ("missing" in python) return;
    const p4info = await P4Info.load(`${FIXTURE_DIR}/p4rt_fixture.p4info.json`);
    const dir = await Deno.makeTempDir({ prefix: "p4cf-peer-test-" });
    try {
      await generatePythonStubs(python.python, dir);
      const config = peerConfig(p4info, "127.0.0.1:1", 2);
      const proto = p4runtimeProto();
      for (const i of [0, 1, 255, 65_535, 65_536, 70_001]) {
        const ours = proto.update.encode(
          tableUpdate(UpdateType.INSERT, buildTableEntry(p4info, vipEntry(i))),
        );
        const hex = [...ours].map((b) => b.toString(16).padStart(2, "0")).join("");
        assert.equal(await pythonPeerUpdateHex(python.python, dir, config, i), hex, `entry ${i}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
if ("missing" in python) console.log(`SKIP the Python peer's entries: ${python.missing}`);
