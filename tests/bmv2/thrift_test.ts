import assert from "node:assert/strict";
import { callI32, decodeI32Reply, encodeI32Call } from "../../lib/bmv2/thrift.ts";
import { type RunningSwitch, startSwitch, stopSwitch } from "../../lib/bmv2/switch.ts";
import type { Switch } from "../../lib/lab/types.ts";
import { capTest } from "../_caps.ts";
import { freePort } from "../p4runtime/_bmv2.ts";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("thrift: a call is the strict binary message of a multiplexed service", () => {
  const call = encodeI32Call("simple_switch", "set_all_egress_queue_depths", 7, [1024]);
  const name = "simple_switch:set_all_egress_queue_depths";
  assert.equal(
    hex(call),
    "80010001" + name.length.toString(16).padStart(8, "0") +
      hex(new TextEncoder().encode(name)) + "00000007" + "08" + "0001" + "00000400" + "00",
  );
});

Deno.test("thrift: replies decode to the result or the exception, and wait for all bytes", () => {
  const reply = (type: number, fields: number[]) =>
    new Uint8Array([0x80, 0x01, 0x00, type, 0, 0, 0, 1, 0x78, 0, 0, 0, 9, ...fields]);
  const ok = reply(2, [0x08, 0, 0, 0, 0, 0, 3, 0]);
  assert.deepEqual(decodeI32Reply(ok, 9), { ok: true, value: 3 });
  for (let cut = 0; cut < ok.length; cut++) {
    assert.equal(decodeI32Reply(ok.subarray(0, cut), 9), undefined, `${cut} bytes`);
  }
  const message = [...new TextEncoder().encode("no")];
  const failed = reply(3, [0x0b, 0, 1, 0, 0, 0, 2, ...message, 0x08, 0, 2, 0, 0, 0, 1, 0]);
  assert.deepEqual(decodeI32Reply(failed, 9), { ok: false, message: "no" });
  assert.throws(() => decodeI32Reply(ok, 8), /expected 8/);
  assert.throws(() => decodeI32Reply(new Uint8Array(8), 9), /not a Thrift binary reply/);
});

capTest({
  name: "thrift: a lab switch starts with its queue depth set, and BMv2 answers our calls",
  needs: ["bmv2"],
  fn: async () => {
    const runDir = await Deno.makeTempDir({ prefix: "p4t-thrift-" });
    const sw: Switch = {
      name: "s1",
      kind: "bmv2",
      deviceId: 0,
      grpcPort: freePort(),
      thriftPort: freePort(),
      queueDepth: 2048,
      ports: [],
    };
    let running: RunningSwitch | undefined;
    try {
      running = await startSwitch(sw, { runDir });
      assert.equal(await callI32(sw.thriftPort, "set_egress_queue_depth", [1, 512]), 0);
      await assert.rejects(
        () => callI32(sw.thriftPort, "no_such_call", [1]),
        /no_such_call failed: .*Invalid method name/,
      );
    } finally {
      if (running) await stopSwitch(running);
      await Deno.remove(runDir, { recursive: true });
    }
  },
});
