/** The direct table-update encoder writes exactly protobufjs's bytes, or leaves the update to it. */
import assert from "node:assert/strict";
import { buildTableEntry, type EntrySpec, tableUpdate } from "../../lib/p4runtime/entries.ts";
import { type Update, UpdateType } from "../../lib/p4runtime/messages.ts";
import { p4runtimeProto } from "../../lib/p4runtime/proto.ts";
import { encodeTableUpdate } from "../../lib/p4runtime/update_encoder.ts";
import { fixtureP4Info } from "./_fixture.ts";

const p4info = fixtureP4Info();
const codec = p4runtimeProto().update;

const specs: EntrySpec[] = [
  {
    table: "vip",
    match: { dstAddr: "10.0.0.100", srcPort: 0 },
    action: "set_backend",
    params: { ip: "10.0.1.1", port: 8080 },
  },
  {
    table: "vip",
    match: { dstAddr: 0xffffffff, srcPort: 65535 },
    action: "set_backend",
    params: { ip: 0, port: 1 },
  },
  {
    table: "ipv4_lpm",
    match: { dstAddr: "10.0.1.77/24" },
    action: "ipv4_forward",
    params: { dstAddr: "00:00:00:00:01:01", port: 1 },
  },
  {
    table: "acl",
    match: { srcAddr: "10.9.0.0&&&255.255.0.0", dstPort: "1000..2000" },
    action: "drop",
    priority: 10,
  },
  { table: "acl", match: { dstPort: "5..6" }, action: "drop", priority: 200_000 },
  { table: "ipv4_lpm", isDefault: true, action: "NoAction" },
];

Deno.test("table updates of every match kind encode to protobufjs's bytes", () => {
  const updates: Update[] = [];
  for (const spec of specs) {
    for (const type of [UpdateType.INSERT, UpdateType.MODIFY]) {
      updates.push(tableUpdate(type, buildTableEntry(p4info, spec)));
    }
    if (!spec.isDefault) {
      updates.push(tableUpdate(UpdateType.DELETE, buildTableEntry(p4info, spec, false)));
    }
  }
  // Present zeros and empties are written, as protobufjs does; absent fields are not.
  const vip = p4info.table("vip").id;
  updates.push(
    { type: 0, entity: { table_entry: { table_id: 0, match: [], priority: 0 } } },
    { entity: { table_entry: { table_id: vip, is_default_action: false, action: {} } } } as Update,
    {
      type: UpdateType.INSERT,
      entity: {
        table_entry: {
          table_id: 300_000_000,
          match: [{ field_id: 1, exact: { value: new Uint8Array(0) } }, { field_id: 2 }],
          action: {
            action: { action_id: 5, params: [{ param_id: 1 }, { value: Uint8Array.of(7) }] },
          },
        },
      },
    } as unknown as Update,
  );
  for (const [i, u] of updates.entries()) {
    const ours = encodeTableUpdate(u);
    assert.ok(ours, `update ${i} falls back`);
    assert.deepEqual(ours, new Uint8Array(codec.encode(u)), `update ${i}: ${JSON.stringify(u)}`);
  }
});

Deno.test("anything else is left to protobufjs", () => {
  const entry = buildTableEntry(p4info, specs[0]);
  const others: unknown[] = [
    { type: 1, entity: { counter_entry: { counter_id: 1 } } },
    { type: 1, entity: {} },
    { type: 1, entity: { table_entry: { ...entry, counter_data: { byte_count: "1" } } } },
    { type: 1, entity: { table_entry: { ...entry, metadata: Uint8Array.of(1) } } },
    { type: 1, entity: { table_entry: { ...entry, idle_timeout_ns: "5" } } },
    { type: 1, entity: { table_entry: { ...entry, action: { action_profile_member_id: 3 } } } },
    { type: 1, entity: { table_entry: { ...entry, priority: -1 } } },
    { type: 1, entity: { table_entry: { ...entry, table_id: "7" } } },
    {
      type: 1,
      entity: { table_entry: { table_id: 1, match: [{ field_id: 1, exact: { value: "AQI=" } }] } },
    },
    {
      type: 1,
      entity: {
        table_entry: {
          table_id: 1,
          match: [{ field_id: 1, exact: { value: Uint8Array.of(1) }, lpm: { prefix_len: 1 } }],
        },
      },
    },
  ];
  for (const u of others) {
    assert.equal(encodeTableUpdate(u as Update), undefined, JSON.stringify(u));
  }
});
