/**
 * End to end against a real BMv2 (simple_switch_grpc): wire compatibility of our protos, pipeline
 * push, entry writes/reads of every match kind, per-update error decoding and arbitration, as
 * BMv2's PI server implements them.
 */
import assert from "node:assert/strict";
import type { P4RuntimeClient } from "../../lib/p4runtime/client.ts";
import {
  ArbitrationError,
  P4RuntimeError,
  P4RuntimeWriteError,
} from "../../lib/p4runtime/errors.ts";
import { buildTableEntry, type EntrySpec, tableUpdate } from "../../lib/p4runtime/entries.ts";
import { Code, PipelineResponseType, UpdateType } from "../../lib/p4runtime/messages.ts";
import { capTest } from "../_caps.ts";
import { FIXTURE_BUILD, fixtureBuildMissing, startTestSwitch, type TestSwitch } from "./_bmv2.ts";
import { fixtureP4Info } from "./_fixture.ts";
import { type Connect, connectWith } from "./_transports.ts";
import { TRANSPORT_KINDS } from "../../lib/p4runtime/transport/types.ts";

const buildMissing = fixtureBuildMissing();

/** One test per transport of the client, each against its own switch. */
function bmv2Test(name: string, fn: (sw: TestSwitch, connect: Connect) => Promise<void>): void {
  for (const transport of TRANSPORT_KINDS) {
    const named = `${name} [${transport}]`;
    if (buildMissing) {
      console.log(`SKIP ${named}: ${buildMissing}`);
      Deno.test({ name: named, ignore: true, fn() {} });
      continue;
    }
    capTest({
      name: named,
      needs: ["bmv2"],
      async fn() {
        const sw = await startTestSwitch();
        try {
          await fn(sw, connectWith(transport));
        } catch (err) {
          console.log(`switch output:\n${sw.tail()}`);
          throw err;
        } finally {
          await sw.stop();
        }
      },
    });
  }
}

const p4info = fixtureP4Info();

async function connectAndPush(sw: TestSwitch, connect: Connect): Promise<P4RuntimeClient> {
  const client = await connect({
    address: sw.grpcAddress,
    p4info,
    connectTimeoutMs: 15_000,
    switchLog: sw.logFile,
  });
  await client.setPipeline({
    p4infoBinary: await Deno.readFile(FIXTURE_BUILD.p4infoBinary),
    bmv2Json: await Deno.readFile(FIXTURE_BUILD.bmv2Json),
    cookie: 42n,
  });
  return client;
}

const vip = (port: number, ip = "10.0.1.1"): EntrySpec => ({
  table: "vip",
  match: { dstAddr: "10.0.0.100", srcPort: port },
  action: "set_backend",
  params: { ip, port: 8080 },
});

bmv2Test(
  "BMv2: pipeline push, every match kind written and read back, modify, delete",
  async (sw, connect) => {
    await using client = await connectAndPush(sw, connect);
    assert.equal(client.isPrimary, true);
    assert.match(await client.capabilities(), /^1\.\d+\.\d+/);
    const cookie = await client.getPipeline(PipelineResponseType.COOKIE_ONLY);
    assert.equal(cookie.cookie, 42n);
    const full = await client.getPipeline();
    assert.deepEqual(
      new Uint8Array(full.deviceConfig!),
      await Deno.readFile(FIXTURE_BUILD.bmv2Json),
    );

    await client.insertEntry(vip(80));
    await client.insertEntry({
      table: "ipv4_lpm",
      match: { dstAddr: "10.0.1.77/24" },
      action: "ipv4_forward",
      params: { dstAddr: "00:00:00:00:01:01", port: 1 },
    });
    await client.insertEntry({
      table: "acl",
      match: { srcAddr: "10.9.0.0&&&255.255.0.0", dstPort: "1000..2000" },
      action: "drop",
      priority: 10,
    });
    await client.insertEntry({
      table: "MyEgress.rewrite_mac",
      match: { egress_port: 1 },
      action: "MyEgress.set_smac",
      params: { mac: "02:00:00:00:00:01" },
    });

    const [v] = await client.readTable("vip");
    assert.deepEqual(v.match, {
      "hdr.ipv4.dstAddr": { kind: "exact", value: 0x0a000064n },
      "hdr.tcp.srcPort": { kind: "exact", value: 80n },
    });
    assert.equal(v.action, "MyIngress.set_backend");
    assert.deepEqual(v.params, { ip: 0x0a000101n, port: 8080n });

    const [l] = await client.readTable("ipv4_lpm", { withCounters: true });
    assert.deepEqual(l.match["hdr.ipv4.dstAddr"], {
      kind: "lpm",
      value: 0x0a000100n,
      prefixLen: 24,
    });
    assert.deepEqual(l.params, { dstAddr: 0x0101n, port: 1n });
    assert.deepEqual(l.counter, { bytes: 0n, packets: 0n });

    const [a] = await client.readTable("acl");
    assert.equal(a.priority, 10);
    assert.deepEqual(a.match, {
      "hdr.ipv4.srcAddr": { kind: "ternary", value: 0x0a090000n, mask: 0xffff0000n },
      "hdr.tcp.dstPort": { kind: "range", low: 1000n, high: 2000n },
    });
    const [m] = await client.readTable("MyEgress.rewrite_mac");
    assert.deepEqual(m.params, { mac: 0x020000000001n });

    await client.modifyEntry(vip(80, "10.0.2.2"));
    assert.equal((await client.readTable("vip"))[0].params.ip, 0x0a000202n);
    await client.modifyEntry({ table: "ipv4_lpm", isDefault: true, action: "NoAction" });

    await client.deleteEntry({ table: "vip", match: { dstAddr: "10.0.0.100", srcPort: 80 } });
    assert.deepEqual(await client.readTable("vip"), []);

    assert.deepEqual(await client.readCounter("port_counter", 3), [{
      index: 3,
      bytes: 0n,
      packets: 0n,
    }]);
    assert.equal((await client.readCounter("port_counter")).length, 16);
  },
);

bmv2Test("BMv2: lone writes are answered while busy-polling the socket", async (sw, connect) => {
  // A generous budget, so that a loaded machine still answers within it.
  const client = await connect({ address: sw.grpcAddress, p4info, busyPollUs: 20_000 });
  try {
    await client.setPipeline({
      p4infoBinary: await Deno.readFile(FIXTURE_BUILD.p4infoBinary),
      bmv2Json: await Deno.readFile(FIXTURE_BUILD.bmv2Json),
    });
    await client.insertEntry(vip(80));
    const before = client.busyPolls;
    for (let i = 0; i < 20; i++) await client.modifyEntry(vip(80, `10.0.2.${i + 1}`));
    assert.equal((await client.readTable("vip"))[0].params.ip, 0x0a000214n);
    if (client.transport === "grpc-js") {
      assert.equal(client.busyPolls, undefined, "grpc-js reads its own socket");
      return;
    }
    const after = client.busyPolls!;
    const answered = after.answered - before!.answered;
    assert.ok(answered >= 15, `of 20 MODIFYs ${answered} answered while polling`);
  } finally {
    client.close();
  }
});

bmv2Test("BMv2: per-update errors are decoded with their indexes", async (sw, connect) => {
  await using client = await connectAndPush(sw, connect);
  await client.insertEntry(vip(1));
  const updates = [vip(2), vip(1), vip(3)].map((s) =>
    tableUpdate(UpdateType.INSERT, buildTableEntry(p4info, s))
  );
  updates.push(tableUpdate(UpdateType.MODIFY, buildTableEntry(p4info, vip(999))));
  updates.push(tableUpdate(UpdateType.DELETE, buildTableEntry(p4info, vip(998), false)));
  await assert.rejects(client.write(updates), (e: unknown) => {
    assert.ok(e instanceof P4RuntimeWriteError, String(e));
    assert.deepEqual(
      e.failures.map((f) => [f.index, f.codeName]),
      [[1, "ALREADY_EXISTS"], [3, "NOT_FOUND"], [4, "NOT_FOUND"]],
    );
    assert.equal(e.total, 5);
    return true;
  });
  // The others were applied (BMv2 writes with CONTINUE_ON_ERROR).
  assert.deepEqual(
    (await client.readTable("vip")).map((e) => e.match["hdr.tcp.srcPort"]).map((m) =>
      m.kind === "exact" ? m.value : -1n
    ).sort(),
    [1n, 2n, 3n],
  );

  // Values the switch rejects but our encoder would not: a table id it does not know.
  await assert.rejects(
    client.write([tableUpdate(UpdateType.INSERT, { table_id: 0x02ffffff })]),
    (e: unknown) => e instanceof P4RuntimeWriteError && e.failures[0].index === 0,
  );

  // 2500 entries in batches of 1000.
  const many = Array.from(
    { length: 2500 },
    (_, i) => tableUpdate(UpdateType.INSERT, buildTableEntry(p4info, vip(10_000 + i))),
  );
  await client.write(many);
  assert.equal((await client.readTable("vip")).length, 2503);

  await assert.rejects(client.readRegister("flow_reg", 0), (e: unknown) => {
    assert.ok(e instanceof P4RuntimeError);
    assert.equal(e.code, Code.UNIMPLEMENTED);
    assert.match(e.hint ?? "", /register_read/);
    return true;
  });
});

bmv2Test("BMv2: arbitration refuses a lower or equal election id", async (sw, connect) => {
  await using primary = await connect({
    address: sw.grpcAddress,
    electionId: 10n,
    connectTimeoutMs: 15_000,
  });
  assert.equal(primary.isPrimary, true);
  await assert.rejects(
    connect({ address: sw.grpcAddress, electionId: 5n }),
    (e: unknown) => {
      assert.ok(e instanceof ArbitrationError);
      assert.equal(e.code, Code.ALREADY_EXISTS);
      assert.equal(e.primaryElectionId, 10n);
      return true;
    },
  );
  await assert.rejects(
    connect({ address: sw.grpcAddress, electionId: 10n }),
    (e: unknown) => e instanceof ArbitrationError && e.code === Code.INVALID_ARGUMENT,
  );
  await using backup = await connect({
    address: sw.grpcAddress,
    electionId: 5n,
    requirePrimary: false,
  });
  assert.equal(backup.isPrimary, false);
  await assert.rejects(
    backup.setPipeline({ p4infoBinary: Uint8Array.of(), bmv2Json: "{}" }),
    (e: unknown) => e instanceof P4RuntimeError && e.code === Code.PERMISSION_DENIED,
  );
  primary.close();
  // The backup is promoted when the primary leaves.
  const deadline = Date.now() + 3000;
  while (!backup.isPrimary && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(backup.isPrimary, true);
});
