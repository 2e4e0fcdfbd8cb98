import assert from "node:assert/strict";
import { UserError } from "../../lib/errors.ts";
import {
  buildTableEntry,
  decodeTableEntry,
  entryKey,
  tableUpdate,
} from "../../lib/p4runtime/entries.ts";
import { UpdateType } from "../../lib/p4runtime/messages.ts";
import { fixtureP4Info } from "./_fixture.ts";

const info = fixtureP4Info();
const b = (...xs: number[]) => Uint8Array.from(xs);

Deno.test("an exact entry is built with ids, canonical values and sorted fields", () => {
  const vip = info.table("vip");
  const setBackend = info.action("set_backend");
  const entry = buildTableEntry(info, {
    table: "vip",
    match: { srcPort: 80, "hdr.ipv4.dstAddr": "10.0.0.100" },
    action: "set_backend",
    params: { port: 8080, ip: "10.0.1.1" },
  });
  assert.deepEqual(entry, {
    table_id: vip.id,
    match: [
      { field_id: 1, exact: { value: b(10, 0, 0, 100) } },
      { field_id: 2, exact: { value: b(80) } },
    ],
    action: {
      action: {
        action_id: setBackend.id,
        params: [{ param_id: 1, value: b(10, 0, 1, 1) }, { param_id: 2, value: b(0x1f, 0x90) }],
      },
    },
  });
});

Deno.test("LPM, ternary and range fields accept text and object forms", () => {
  const lpm = buildTableEntry(info, {
    table: "ipv4_lpm",
    match: { dstAddr: "10.0.7.9/24" },
    action: "ipv4_forward",
    params: { dstAddr: "00:00:00:00:01:02", port: 3 },
  });
  assert.deepEqual(lpm.match, [{ field_id: 1, lpm: { value: b(10, 0, 7, 0), prefix_len: 24 } }]);
  const lpm2 = buildTableEntry(info, {
    table: "ipv4_lpm",
    match: { dstAddr: { value: 0x0a000000, prefixLen: 8 } },
    action: "drop",
  });
  assert.deepEqual(lpm2.match, [{ field_id: 1, lpm: { value: b(10, 0, 0, 0), prefix_len: 8 } }]);

  const acl = buildTableEntry(info, {
    table: "acl",
    match: { srcAddr: "10.0.0.0&&&255.0.0.0", dstPort: "1000..2000" },
    action: "drop",
    priority: 10,
  });
  assert.equal(acl.priority, 10);
  assert.deepEqual(acl.match, [
    { field_id: 1, ternary: { value: b(10, 0, 0, 0), mask: b(255, 0, 0, 0) } },
    { field_id: 2, range: { low: b(0x03, 0xe8), high: b(0x07, 0xd0) } },
  ]);
  const acl2 = buildTableEntry(info, {
    table: "acl",
    match: { srcAddr: { value: "10.1.2.3", mask: "255.255.0.0" }, dstPort: { low: 1, high: 2 } },
    action: "learn",
    priority: 1,
  });
  assert.deepEqual(acl2.match?.[0].ternary, { value: b(10, 1, 0, 0), mask: b(255, 255, 0, 0) });
  // A bare value is an exact point: full mask, single-point range.
  const acl3 = buildTableEntry(info, {
    table: "acl",
    match: { srcAddr: "10.1.2.3", dstPort: 443 },
    action: "drop",
    priority: 2,
  });
  assert.deepEqual(acl3.match, [
    { field_id: 1, ternary: { value: b(10, 1, 2, 3), mask: b(255, 255, 255, 255) } },
    { field_id: 2, range: { low: b(1, 0xbb), high: b(1, 0xbb) } },
  ]);
});

Deno.test("don't-care matches are left out, as P4Runtime requires", () => {
  const e = buildTableEntry(info, {
    table: "acl",
    match: { srcAddr: "0.0.0.0&&&0.0.0.0", dstPort: "0..65535" },
    action: "drop",
    priority: 1,
  });
  assert.deepEqual(e.match, []);
  const l = buildTableEntry(info, {
    table: "ipv4_lpm",
    match: { dstAddr: "0.0.0.0/0" },
    action: "drop",
  });
  assert.deepEqual(l.match, []);
});

Deno.test("mistakes in entries are UserErrors that say what is wrong", () => {
  const bad = (spec: Parameters<typeof buildTableEntry>[1], re: RegExp) =>
    assert.throws(() => buildTableEntry(info, spec), (e: unknown) => {
      assert.ok(e instanceof UserError, String(e));
      assert.match(`${e.message}\n${e.hint ?? ""}`, re);
      return true;
    });
  bad(
    { table: "vip", match: { dstAddr: "10.0.0.1" }, action: "NoAction" },
    /Missing match field "hdr.tcp.srcPort" of table "MyIngress.vip"/,
  );
  bad(
    { table: "vip", match: { dstAddr: "10.0.0.1", srcPort: 70000 }, action: "NoAction" },
    /Value 70000 does not fit in 16 bits of match field "hdr.tcp.srcPort" of table "MyIngress.vip"/,
  );
  bad(
    {
      table: "vip",
      match: { dstAddr: "10.0.0.1", "hdr.ipv4.dstAddr": "10.0.0.2", srcPort: 1 },
      action: "NoAction",
    },
    /given twice/,
  );
  bad({ table: "vip", match: { dstAddr: "10.0.0.1", srcPort: 1 } }, /No action given/);
  bad(
    {
      table: "vip",
      match: { dstAddr: "10.0.0.1", srcPort: 1 },
      action: "set_backend",
      params: { ip: 1 },
    },
    /Missing parameter "port" of action "MyIngress.set_backend"/,
  );
  bad(
    {
      table: "vip",
      match: { dstAddr: "10.0.0.1", srcPort: 1 },
      action: "set_backend",
      params: { ip: 1, port: 1, x: 2 },
    },
    /Unknown parameter "x" of action "MyIngress.set_backend"/,
  );
  bad({ table: "acl", match: {}, action: "drop" }, /needs a priority/);
  bad(
    { table: "vip", match: { dstAddr: 1, srcPort: 1 }, action: "NoAction", priority: 3 },
    /drop the priority/,
  );
  bad(
    { table: "vip", match: { dstAddr: "10.0.0.0/8", srcPort: 1 }, action: "NoAction" },
    /Cannot encode "10.0.0.0\/8"/,
  );
  bad(
    { table: "ipv4_lpm", match: { dstAddr: { low: 1, high: 2 } }, action: "drop" },
    /Bad value \{"low":1,"high":2\} for match field "hdr.ipv4.dstAddr"[^]*lpm match fields take/,
  );
  bad({ table: "ipv4_lpm", match: { dstAddr: "10.0.0.0/40" }, action: "drop" }, /Prefix length 40/);
  bad(
    { table: "ipv4_lpm", isDefault: true, match: { dstAddr: "10.0.0.0/8" }, action: "drop" },
    /takes no match fields/,
  );
  bad(
    { table: "vip", match: { dstAddr: 1, srcPort: 1 }, action: "drop" },
    /is not an action of table/,
  );
});

Deno.test("a DELETE entry needs no action, a default entry no match", () => {
  const del = buildTableEntry(info, { table: "vip", match: { dstAddr: 1, srcPort: 2 } }, false);
  assert.equal(del.action, undefined);
  const def = buildTableEntry(info, { table: "ipv4_lpm", isDefault: true, action: "drop" });
  assert.equal(def.is_default_action, true);
  assert.equal(def.match, undefined);
  assert.deepEqual(tableUpdate(UpdateType.DELETE, del), {
    type: UpdateType.DELETE,
    entity: { table_entry: del },
  });
});

Deno.test("entries decode back to names and bigints", () => {
  const entry = buildTableEntry(info, {
    table: "acl",
    match: { srcAddr: "10.0.0.0&&&255.0.0.0", dstPort: "80..90" },
    action: "drop",
    priority: 7,
  });
  assert.deepEqual(
    decodeTableEntry(info, { ...entry, counter_data: { byte_count: "5", packet_count: "1" } }),
    {
      table: "MyIngress.acl",
      match: {
        "hdr.ipv4.srcAddr": { kind: "ternary", value: 0x0a000000n, mask: 0xff000000n },
        "hdr.tcp.dstPort": { kind: "range", low: 80n, high: 90n },
      },
      action: "MyIngress.drop",
      params: {},
      priority: 7,
      isDefault: false,
      counter: { bytes: 5n, packets: 1n },
    },
  );
  const fwd = decodeTableEntry(
    info,
    buildTableEntry(info, {
      table: "ipv4_lpm",
      match: { dstAddr: "10.0.0.0/8" },
      action: "ipv4_forward",
      params: { dstAddr: "aa:bb:cc:dd:ee:ff", port: 2 },
    }),
  );
  assert.deepEqual(fwd.match, {
    "hdr.ipv4.dstAddr": { kind: "lpm", value: 0x0a000000n, prefixLen: 8 },
  });
  assert.deepEqual(fwd.params, { dstAddr: 0xaabbccddeeffn, port: 2n });
  assert.throws(() => decodeTableEntry(info, { table_id: 1 }), /unknown table id 1/);
});

Deno.test("entry keys ignore the action and compare values numerically", () => {
  const a = buildTableEntry(info, {
    table: "vip",
    match: { dstAddr: "10.0.0.1", srcPort: 80 },
    action: "NoAction",
  });
  const padded = {
    ...a,
    match: [
      { field_id: 2, exact: { value: b(0, 80) } },
      { field_id: 1, exact: { value: b(10, 0, 0, 1) } },
    ],
    action: undefined,
  };
  assert.equal(entryKey(a), entryKey(padded));
  const c = buildTableEntry(info, {
    table: "vip",
    match: { dstAddr: "10.0.0.1", srcPort: 81 },
    action: "NoAction",
  });
  assert.notEqual(entryKey(a), entryKey(c));
});
