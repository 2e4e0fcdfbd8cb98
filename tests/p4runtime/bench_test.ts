import assert from "node:assert/strict";
import { benchP4Runtime, latencyStats, quantile } from "../../lib/p4runtime/bench.ts";
import { FakeP4RuntimeServer } from "../fixtures/p4runtime_server.ts";
import { transportTest } from "./_transports.ts";
import { fixtureP4Info } from "./_fixture.ts";

Deno.test("quantiles use the nearest rank", () => {
  const s = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(quantile(s, 0.5), 50);
  assert.equal(quantile(s, 0.99), 99);
  assert.equal(quantile(s, 1), 100);
  assert.equal(quantile([7], 0.5), 7);
  assert.ok(Number.isNaN(quantile([], 0.5)));
  const st = latencyStats([3, 1, 2]);
  assert.deepEqual([st.p50Ms, st.maxMs, st.meanMs, st.iterations], [2, 3, 2, 3]);
});

transportTest("the benchmark runs end to end and leaves the table empty", async (connect, t) => {
  const p4info = fixtureP4Info();
  const server = await FakeP4RuntimeServer.start({ p4info, pipelineSet: true });
  try {
    await using sw = await connect({ address: server.address, p4info });
    const r = await benchP4Runtime(sw, {
      table: "vip",
      action: "set_backend",
      match: (i) => ({ dstAddr: 0x0a000000 + (i >> 16), srcPort: i & 0xffff }),
      params: (i) => ({ ip: "10.0.1.1", port: 8000 + (i % 1000) }),
      modifyIterations: 50,
      warmup: 5,
      insertCount: 2500,
      batchSize: 1000,
      singleInsertCount: 50,
    });
    assert.equal(r.modify.iterations, 50);
    assert.ok(r.modify.p50Ms > 0 && r.modify.p50Ms <= r.modify.p99Ms);
    assert.ok(r.modifyCpuUs > 0);
    // Our transport tells the client's own time from the wait; grpc-js cannot.
    if (t === "h2") assert.ok(r.modifyOwnUs! > 0 && r.modifyOwnUs! < r.modify.maxMs * 1000);
    else assert.equal(r.modifyOwnUs, undefined);
    assert.equal(r.batchedInsert.entries, 2500);
    assert.ok(r.batchedInsert.entriesPerSecond > 0);
    assert.equal(r.singleInsert.batchSize, 1);
    assert.equal(server.entries(p4info.table("vip").id).length, 0);
  } finally {
    await server.stop();
  }
});

transportTest("the benchmark refuses a table too small for its inserts", async (connect) => {
  const p4info = fixtureP4Info();
  const server = await FakeP4RuntimeServer.start({ p4info, pipelineSet: true });
  try {
    await using sw = await connect({ address: server.address, p4info });
    await assert.rejects(
      benchP4Runtime(sw, {
        table: "acl",
        action: "drop",
        match: (i) => ({ dstPort: i }),
        params: () => ({}),
        priority: 1,
      }),
      /Table "MyIngress.acl" holds 256 entries; the benchmark inserts 10000/,
    );
  } finally {
    await server.stop();
  }
});
