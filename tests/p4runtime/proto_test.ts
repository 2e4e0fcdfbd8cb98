/**
 * Wire compatibility of proto/ with upstream P4Runtime v1: hand-checked bytes for the field
 * numbers that matter, and (when the upstream protos are on this machine) a cross-decode of the
 * same messages with p4lang/p4runtime's own .proto files.
 */
import assert from "node:assert/strict";
import * as protoLoader from "@grpc/proto-loader";
import { existsSync } from "node:fs";
import { PipelineAction, UpdateType, type WriteRequest } from "../../lib/p4runtime/messages.ts";
import { p4runtimeProto, PROTO_DIR } from "../../lib/p4runtime/proto.ts";

const hex = (u: Uint8Array) => Array.from(u, (x) => x.toString(16).padStart(2, "0")).join(" ");

Deno.test("a WriteRequest uses upstream field numbers on the wire", () => {
  const { service } = p4runtimeProto();
  const bytes = service.Write.requestSerialize({
    device_id: "1",
    election_id: { high: "0", low: "2" },
    updates: [{
      type: UpdateType.MODIFY,
      entity: {
        table_entry: {
          table_id: 3,
          match: [{ field_id: 1, lpm: { value: Uint8Array.of(10), prefix_len: 8 } }],
          action: { action: { action_id: 4, params: [{ param_id: 1, value: Uint8Array.of(5) }] } },
        },
      },
    }],
  });
  // WriteRequest: device_id=1 (08), election_id=3 (1a: Uint128 high=1, low=2), updates=4 (22).
  // Update: type=1 (08), entity=2 (12). Entity.table_entry=2 (12). TableEntry: table_id=1 (08),
  // match=2 (12), action=3 (1a). FieldMatch: field_id=1, lpm=4 (22: value=1, prefix_len=2).
  // TableAction.action=1 (0a). Action: action_id=1 (08), params=4 (22: param_id=2, value=3).
  assert.equal(
    hex(bytes),
    "08 01 1a 04 08 00 10 02 22 20 08 02 12 1c 12 1a 08 03 12 09 08 01 22 05 0a 01 0a 10 08 " +
      "1a 0b 0a 09 08 04 22 05 10 01 1a 01 05",
  );
});

Deno.test("ForwardingPipelineConfig carries the binary P4Info as field 1", () => {
  const { service } = p4runtimeProto();
  const bytes = service.SetForwardingPipelineConfig.requestSerialize({
    device_id: "0",
    election_id: { high: "0", low: "1" },
    action: PipelineAction.VERIFY_AND_COMMIT,
    config: {
      p4info: Uint8Array.of(0xaa, 0xbb),
      p4_device_config: Uint8Array.of(0x7b, 0x7d),
      cookie: { cookie: "9" },
    },
  });
  // device_id=1, election_id=3, action=4 (20 03), config=5 (2a): p4info=1 (0a), device config=2
  // (12), cookie=3 (1a: cookie=1).
  assert.equal(
    hex(bytes),
    "08 00 1a 04 08 00 10 01 20 03 2a 0c 0a 02 aa bb 12 02 7b 7d 1a 02 08 09",
  );
});

const UPSTREAM = "/opt/p4src/p4runtime/proto";
const haveUpstream = existsSync(`${UPSTREAM}/p4/v1/p4runtime.proto`);
if (!haveUpstream) console.log(`SKIP upstream cross-decode: ${UPSTREAM} is not on this machine`);

Deno.test({
  name: "messages decode identically with p4lang/p4runtime's own protos",
  ignore: !haveUpstream,
  fn() {
    // Upstream imports google/rpc/status.proto from googleapis; ours is wire-identical.
    const upstream = protoLoader.loadSync("p4/v1/p4runtime.proto", {
      keepCase: true,
      longs: String,
      defaults: false,
      arrays: true,
      oneofs: true,
      includeDirs: [UPSTREAM, PROTO_DIR],
    });
    const up = upstream["p4.v1.P4Runtime"] as unknown as {
      Write: { requestDeserialize(b: Uint8Array): WriteRequest };
      SetForwardingPipelineConfig: {
        requestDeserialize(b: Uint8Array): {
          config: { p4info: { tables: { preamble: { id: number; name: string } }[] } };
        };
      };
      StreamChannel: { responseSerialize(m: object): Uint8Array };
    };
    const ours = p4runtimeProto();
    const write: WriteRequest = {
      device_id: "3",
      election_id: { high: "1", low: "18446744073709551615" },
      atomicity: 0,
      updates: [{
        type: UpdateType.INSERT,
        entity: {
          table_entry: {
            table_id: 33554433,
            priority: 7,
            match: [
              { field_id: 1, ternary: { value: Uint8Array.of(10), mask: Uint8Array.of(255) } },
              { field_id: 2, range: { low: Uint8Array.of(1), high: Uint8Array.of(2) } },
              { field_id: 3, optional: { value: Uint8Array.of(3) } },
              { field_id: 4, exact: { value: Uint8Array.of(4) } },
            ],
            action: {
              action: { action_id: 5, params: [{ param_id: 1, value: Uint8Array.of(6) }] },
            },
          },
        },
      }, {
        type: UpdateType.MODIFY,
        entity: {
          register_entry: {
            register_id: 9,
            index: { index: "2" },
            data: { bitstring: Uint8Array.of(1) },
          },
        },
      }],
    };
    const decoded = up.Write.requestDeserialize(ours.service.Write.requestSerialize(write));
    const norm = (x: unknown) =>
      JSON.parse(JSON.stringify(x, (_k, v) => v?.type === "Buffer" ? v.data : v));
    assert.deepEqual(
      norm(decoded),
      norm(ours.service.Write.requestDeserialize(
        ours.service.Write.requestSerialize(write),
      )),
    );

    // The bytes-for-P4Info trick: upstream sees a real P4Info message in field 1.
    const p4infoType = protoLoader.loadSync("p4/config/v1/p4info.proto", {
      keepCase: true,
      includeDirs: [UPSTREAM],
    })["p4.config.v1.P4Info"] as unknown as { serialize(m: object): Uint8Array };
    const p4infoBinary = p4infoType.serialize({
      tables: [{ preamble: { id: 33554433, name: "MyIngress.lb", alias: "lb" } }],
    });
    const set = up.SetForwardingPipelineConfig.requestDeserialize(
      ours.service.SetForwardingPipelineConfig.requestSerialize({
        device_id: "0",
        action: PipelineAction.VERIFY_AND_COMMIT,
        config: { p4info: p4infoBinary, p4_device_config: Uint8Array.of(0x7b, 0x7d) },
      }),
    );
    assert.equal(set.config.p4info.tables[0].preamble.name, "MyIngress.lb");
    assert.equal(set.config.p4info.tables[0].preamble.id, 33554433);

    // Arbitration answers from an upstream server decode with ours.
    const res = ours.service.StreamChannel.responseDeserialize(
      up.StreamChannel.responseSerialize({
        arbitration: {
          device_id: "0",
          election_id: { high: "0", low: "5" },
          status: { code: 6, message: "Is backup" },
        },
      }) as Buffer,
    );
    assert.equal(res.update, "arbitration");
    assert.deepEqual(res.arbitration?.status, { code: 6, message: "Is backup", details: [] });
    assert.deepEqual(res.arbitration?.election_id, { high: "0", low: "5" });
  },
});
