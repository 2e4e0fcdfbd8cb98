/** P4RuntimeClient against the in-process fake server (no switch, no root needed). */
import assert from "node:assert/strict";
import { P4RuntimeClient } from "../../lib/p4runtime/client.ts";
import { UserError } from "../../lib/errors.ts";
import { TRANSPORT_ENV, transportKind } from "../../lib/p4runtime/transport/select.ts";
import {
  ArbitrationError,
  P4RuntimeError,
  P4RuntimeWriteError,
  SwitchUnreachableError,
} from "../../lib/p4runtime/errors.ts";
import { buildTableEntry, type EntrySpec, tableUpdate } from "../../lib/p4runtime/entries.ts";
import { Code, type Update, UpdateType } from "../../lib/p4runtime/messages.ts";
import { FakeP4RuntimeServer } from "../fixtures/p4runtime_server.ts";
import { transportTest } from "./_transports.ts";
import { fixtureP4Info } from "./_fixture.ts";

const p4info = fixtureP4Info();

function vipEntry(i: number, backend = "10.0.1.1"): EntrySpec {
  return {
    table: "vip",
    match: { dstAddr: "10.0.0.100", srcPort: i },
    action: "set_backend",
    params: { ip: backend, port: 8080 },
  };
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function until(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

transportTest(
  "the highest election id is primary; a lower one is a backup or a clear error",
  async (connect) => {
    const server = await FakeP4RuntimeServer.start({ p4info, pipelineSet: true });
    const clients: P4RuntimeClient[] = [];
    try {
      const a = await connect({ address: server.address, electionId: 10n, p4info });
      clients.push(a);
      assert.equal(a.isPrimary, true);
      assert.equal(a.primaryElectionId, 10n);

      await assert.rejects(
        connect({ address: server.address, electionId: 5n }),
        (e: unknown) => {
          assert.ok(e instanceof ArbitrationError);
          assert.equal(e.code, Code.ALREADY_EXISTS);
          assert.equal(e.primaryElectionId, 10n);
          assert.match(
            e.message,
            /Another controller is primary for device 0 at 127\.0\.0\.1:\d+ \(its election id 10 > ours 5\)/,
          );
          assert.match(e.hint ?? "", /higher election id/);
          return true;
        },
      );

      const backup = await connect({
        address: server.address,
        electionId: { high: 0, low: 5 },
        requirePrimary: false,
        p4info,
      });
      clients.push(backup);
      assert.equal(backup.isPrimary, false);
      assert.equal(backup.primaryElectionId, 10n);
      await assert.rejects(backup.insertEntry(vipEntry(1)), (e: unknown) => {
        assert.ok(e instanceof P4RuntimeError);
        assert.equal(e.code, Code.PERMISSION_DENIED);
        assert.match(e.hint ?? "", /not the primary/);
        return true;
      });

      // A higher election id takes over; the old primary is told it is a backup now.
      const c = await connect({ address: server.address, electionId: 1n << 64n });
      clients.push(c);
      assert.equal(c.isPrimary, true);
      await until(() => !a.isPrimary);
      assert.equal(a.primaryElectionId, 1n << 64n);
      await assert.rejects(a.insertEntry(vipEntry(1)), /PERMISSION_DENIED/);

      // When the primary leaves, the next highest becomes primary.
      c.close();
      await until(() => a.isPrimary);
      await a.insertEntry(vipEntry(1));
    } finally {
      for (const c of clients) c.close();
      await server.stop();
    }
  },
);

transportTest("a second controller with the same election id is refused", async (connect) => {
  const server = await FakeP4RuntimeServer.start({ p4info, pipelineSet: true });
  try {
    await using _a = await connect({ address: server.address, electionId: 7n });
    await assert.rejects(
      connect({ address: server.address, electionId: 7n }),
      (e: unknown) => {
        assert.ok(e instanceof ArbitrationError);
        assert.equal(e.code, Code.INVALID_ARGUMENT);
        assert.match(e.message, /Election id already exists/);
        assert.match(e.hint ?? "", /same election id/);
        return true;
      },
    );
  } finally {
    await server.stop();
  }
});

transportTest(
  "a batch write decodes per-update errors with their indexes across batches",
  async (connect) => {
    const server = await FakeP4RuntimeServer.start({ p4info, pipelineSet: true });
    try {
      await using sw = await connect({ address: server.address, p4info });
      await sw.writeEntries(UpdateType.INSERT, [vipEntry(5), vipEntry(1500)]);
      const vip = p4info.table("vip");
      const updates: Update[] = [];
      for (let i = 0; i < 2500; i++) {
        updates.push(tableUpdate(UpdateType.INSERT, buildTableEntry(p4info, vipEntry(i))));
      }
      // An unknown table id, and a MODIFY and a DELETE of entries that do not exist.
      updates[7] = tableUpdate(UpdateType.INSERT, {
        ...updates[7].entity.table_entry!,
        table_id: 999,
      });
      updates[2000] = tableUpdate(UpdateType.MODIFY, buildTableEntry(p4info, vipEntry(60000)));
      updates[2499] = tableUpdate(
        UpdateType.DELETE,
        buildTableEntry(p4info, vipEntry(60001), false),
      );
      const before = server.writeRpcs;
      await assert.rejects(sw.write(updates), (e: unknown) => {
        assert.ok(e instanceof P4RuntimeWriteError);
        assert.equal(e.total, 2500);
        assert.deepEqual(
          e.failures.map((f) => [f.index, f.codeName]),
          [[5, "ALREADY_EXISTS"], [7, "NOT_FOUND"], [1500, "ALREADY_EXISTS"], [2000, "NOT_FOUND"], [
            2499,
            "NOT_FOUND",
          ]],
        );
        assert.equal(e.failures[0].update, updates[5]);
        assert.match(
          e.message,
          /failed for 5 of 2500 updates: #5 ALREADY_EXISTS in MyIngress.vip: Match entry exists/,
        );
        return true;
      });
      assert.equal(server.writeRpcs - before, 3, "2500 updates in batches of 1000");
      // CONTINUE_ON_ERROR: everything else was applied.
      assert.equal(server.entries(vip.id).length, 2500 - 3);
    } finally {
      await server.stop();
    }
  },
);

transportTest(
  "writeEntries checks every entry before sending any, and names failed ones",
  async (connect) => {
    const server = await FakeP4RuntimeServer.start({ p4info, pipelineSet: true });
    try {
      await using sw = await connect({ address: server.address, p4info });
      const vip = p4info.table("vip");
      const specs = Array.from({ length: 2500 }, (_, i) => vipEntry(i));
      // A bad entry in the last batch: nothing is written.
      const bad = [...specs.slice(0, 2400), { ...vipEntry(2400), params: { ip: "10.0.1.1" } }];
      const before = server.writeRpcs;
      await assert.rejects(sw.writeEntries(UpdateType.INSERT, bad), /Missing parameter "port"/);
      assert.equal(server.writeRpcs, before);
      assert.equal(server.entries(vip.id).length, 0);

      await sw.writeEntries(UpdateType.INSERT, [vipEntry(1700)]);
      await assert.rejects(sw.writeEntries(UpdateType.INSERT, specs), (e: unknown) => {
        assert.ok(e instanceof P4RuntimeWriteError);
        assert.deepEqual(e.failures.map((f) => [f.index, f.codeName, f.table]), [
          [1700, "ALREADY_EXISTS", "MyIngress.vip"],
        ]);
        assert.deepEqual(
          e.failures[0].update,
          tableUpdate(UpdateType.INSERT, buildTableEntry(p4info, vipEntry(1700))),
        );
        return true;
      });
      const rows = await sw.readTable("vip");
      assert.equal(rows.length, 2500);
      assert.deepEqual(
        new Set(rows.map((r) => (r.match["hdr.tcp.srcPort"] as { value: bigint }).value)).size,
        2500,
      );
    } finally {
      await server.stop();
    }
  },
);

transportTest("insert, read, modify and delete entries by name", async (connect) => {
  const server = await FakeP4RuntimeServer.start({ p4info, pipelineSet: true });
  try {
    await using sw = await connect({ address: server.address, p4info });
    await sw.insertEntry(vipEntry(80));
    await sw.insertEntry({
      table: "acl",
      match: { srcAddr: "10.0.0.0&&&255.0.0.0" },
      action: "drop",
      priority: 5,
    });
    let rows = await sw.readTable("MyIngress.vip");
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0].params, { ip: 0x0a000101n, port: 8080n });
    assert.deepEqual(rows[0].match["hdr.tcp.srcPort"], { kind: "exact", value: 80n });

    await sw.modifyEntry(vipEntry(80, "10.0.2.2"));
    rows = await sw.readTable("vip");
    assert.equal(rows[0].params.ip, 0x0a000202n);

    await assert.rejects(
      sw.modifyEntry(vipEntry(81)),
      /#0 NOT_FOUND in MyIngress.vip: Entry not found/,
    );
    await sw.deleteEntry({ table: "vip", match: { dstAddr: "10.0.0.100", srcPort: 80 } });
    assert.deepEqual(await sw.readTable("vip"), []);
    await assert.rejects(
      sw.deleteEntry({ table: "vip", match: { dstAddr: "10.0.0.100", srcPort: 80 } }),
      P4RuntimeWriteError,
    );
    const acl = await sw.readTable("acl", { withCounters: true });
    assert.equal(acl[0].priority, 5);
    assert.deepEqual(acl[0].counter, { bytes: 0n, packets: 0n });
    // A wildcard read of every table.
    let n = 0;
    for await (const e of sw.read([{ table_entry: { table_id: 0 } }])) n += e.table_entry ? 1 : 0;
    assert.equal(n, 1);
  } finally {
    await server.stop();
  }
});

transportTest("counters and registers are read by name, one cell or all", async (connect) => {
  const server = await FakeP4RuntimeServer.start({ p4info, pipelineSet: true });
  try {
    await using sw = await connect({ address: server.address, p4info });
    server.setCounter(p4info.counter("port_counter").id, 3, 1500n, 2n);
    server.setRegister(p4info.register("flow_reg").id, 0, 0x0a000001n);
    assert.deepEqual(await sw.readCounter("port_counter", 3), [{
      index: 3,
      bytes: 1500n,
      packets: 2n,
    }]);
    const all = await sw.readCounter("port_counter");
    assert.equal(all.length, 16);
    assert.equal(all[3].packets, 2n);
    assert.deepEqual(await sw.readRegister("flow_reg", 0), [{ index: 0, value: 0x0a000001n }]);
    assert.equal((await sw.readRegister("flow_reg")).length, 16);
    await assert.rejects(sw.readRegister("flow"), /Unknown register "flow"/);
  } finally {
    await server.stop();
  }
});

transportTest(
  "pipelines are pushed and read back; writes before a pipeline are refused",
  async (connect) => {
    const server = await FakeP4RuntimeServer.start({ p4info });
    try {
      await using sw = await connect({ address: server.address, p4info });
      await assert.rejects(sw.getPipeline(), /FAILED_PRECONDITION/);
      await assert.rejects(sw.insertEntry(vipEntry(1)), (e: unknown) => {
        assert.ok(e instanceof P4RuntimeError);
        assert.equal(e.code, Code.FAILED_PRECONDITION);
        assert.match(e.hint ?? "", /push a pipeline/);
        return true;
      });
      const p4infoBinary = Uint8Array.of(0x0a, 0x02, 0x08, 0x01);
      await sw.setPipeline({ p4infoBinary, bmv2Json: '{"x":1}', cookie: 0xfeedfacecafen });
      const got = await sw.getPipeline();
      assert.deepEqual(new Uint8Array(got.p4infoBinary!), p4infoBinary);
      assert.equal(new TextDecoder().decode(got.deviceConfig), '{"x":1}');
      assert.equal(got.cookie, 0xfeedfacecafen);
      assert.equal(await sw.capabilities(), "1.3.0");
      await sw.insertEntry(vipEntry(1));
    } finally {
      await server.stop();
    }
  },
);

transportTest("connect retries while the switch starts late", async (connect) => {
  const port = freePort();
  let server: FakeP4RuntimeServer | undefined;
  const late = new Promise<void>((resolve) =>
    setTimeout(async () => {
      server = await FakeP4RuntimeServer.start({ p4info, port, pipelineSet: true });
      resolve();
    }, 400)
  );
  try {
    const started = Date.now();
    await using sw = await connect({
      address: `127.0.0.1:${port}`,
      connectTimeoutMs: 5000,
      p4info,
    });
    const waited = Date.now() - started;
    assert.ok(waited >= 350, `connected after ${waited} ms, before the server started`);
    assert.ok(waited < 2000, `took ${waited} ms: backoff too slow`);
    assert.equal(sw.isPrimary, true);
    await sw.insertEntry(vipEntry(1));
  } finally {
    await late;
    await server?.stop();
  }
});

transportTest("an unreachable switch gives SwitchUnreachableError with a hint", async (connect) => {
  const port = freePort();
  const started = Date.now();
  await assert.rejects(
    connect({
      address: `127.0.0.1:${port}`,
      connectTimeoutMs: 300,
      switchLog: "/tmp/s1.log",
    }),
    (e: unknown) => {
      assert.ok(e instanceof SwitchUnreachableError);
      assert.equal(e.address, `127.0.0.1:${port}`);
      assert.match(
        e.message,
        /P4Runtime switch at 127\.0\.0\.1:\d+ is unreachable \(waited \d+ ms\)/,
      );
      assert.equal(
        e.hint,
        `is simple_switch_grpc running on 127.0.0.1:${port}? see the switch log at /tmp/s1.log`,
      );
      return true;
    },
  );
  assert.ok(Date.now() - started < 2000);
});

transportTest(
  "a switch that goes away mid-session gives SwitchUnreachableError",
  async (connect) => {
    const server = await FakeP4RuntimeServer.start({ p4info, pipelineSet: true });
    await using sw = await connect({
      address: server.address,
      p4info,
      rpcTimeoutMs: 1000,
    });
    await server.stop();
    await until(() => !sw.isPrimary);
    await assert.rejects(sw.insertEntry(vipEntry(1)), (e: unknown) => {
      assert.ok(e instanceof P4RuntimeError, String(e));
      assert.ok(
        e instanceof SwitchUnreachableError || e.code === Code.DEADLINE_EXCEEDED,
        `${e.name} ${e.code}`,
      );
      return true;
    });
  },
);

transportTest("name helpers without a P4Info say how to give one", async (connect) => {
  const server = await FakeP4RuntimeServer.start({ p4info, pipelineSet: true });
  try {
    await using sw = await connect({ address: server.address });
    await assert.rejects(sw.readTable("vip"), /no P4Info to resolve names/);
    sw.p4info = p4info;
    assert.deepEqual(await sw.readTable("vip"), []);
  } finally {
    await server.stop();
  }
});

transportTest(
  "register reads on a switch without them say to use the Thrift CLI",
  async (connect) => {
    const server = await FakeP4RuntimeServer.start({
      p4info,
      pipelineSet: true,
      registerReadsUnimplemented: true,
    });
    try {
      await using sw = await connect({ address: server.address, p4info });
      await assert.rejects(sw.readRegister("flow_reg", 1), (e: unknown) => {
        assert.ok(e instanceof P4RuntimeError);
        assert.equal(e.code, Code.UNIMPLEMENTED);
        assert.match(e.message, /Reading register "MyIngress.flow_reg" failed/);
        assert.match(e.hint ?? "", /register_read MyIngress.flow_reg <index>/);
        return true;
      });
    } finally {
      await server.stop();
    }
  },
);

Deno.test("the transport is h2 unless the option or P4CF_P4RUNTIME_TRANSPORT says grpc-js", async () => {
  const server = await FakeP4RuntimeServer.start({ p4info, pipelineSet: true });
  const saved = Deno.env.get(TRANSPORT_ENV);
  try {
    Deno.env.delete(TRANSPORT_ENV);
    assert.equal(transportKind(), "h2");
    await using a = await P4RuntimeClient.connect({ address: server.address, electionId: 3n });
    assert.equal(a.transport, "h2");
    Deno.env.set(TRANSPORT_ENV, "grpc-js");
    assert.equal(transportKind(), "grpc-js");
    assert.equal(transportKind("h2"), "h2");
    await using b = await P4RuntimeClient.connect({ address: server.address, electionId: 4n });
    assert.equal(b.transport, "grpc-js");
    Deno.env.set(TRANSPORT_ENV, "http3");
    await assert.rejects(
      P4RuntimeClient.connect({ address: server.address, electionId: 5n }),
      (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.equal(e.message, 'Unknown P4Runtime transport "http3" in P4CF_P4RUNTIME_TRANSPORT');
        assert.match(e.hint ?? "", /h2, grpc-js/);
        return true;
      },
    );
  } finally {
    if (saved === undefined) Deno.env.delete(TRANSPORT_ENV);
    else Deno.env.set(TRANSPORT_ENV, saved);
    await server.stop();
  }
});

transportTest("after the switch restarts, the next call connects again", async (connect) => {
  const port = freePort();
  let server = await FakeP4RuntimeServer.start({ p4info, port, pipelineSet: true });
  try {
    await using sw = await connect({ address: server.address, p4info, rpcTimeoutMs: 3000 });
    assert.equal(await sw.capabilities(), "1.3.0");
    await server.stop();
    await until(() => !sw.isPrimary);
    server = await FakeP4RuntimeServer.start({ p4info, port, pipelineSet: true });
    // The first call may still meet the old connection's end; one after it gets through.
    let version = "";
    const deadline = Date.now() + 3000;
    while (!version && Date.now() < deadline) {
      version = await sw.capabilities().catch(() => "");
      if (!version) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(version, "1.3.0");
  } finally {
    await server.stop();
  }
});
