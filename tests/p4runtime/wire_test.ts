/** The protobuf wire helpers against protobufjs's own encoding of the same messages. */
import assert from "node:assert/strict";
import { UpdateType, type WriteRequest } from "../../lib/p4runtime/messages.ts";
import { p4runtimeProto } from "../../lib/p4runtime/proto.ts";
import {
  appendRepeated,
  repeatedField,
  varint,
  varintSize,
  WireFormatError,
} from "../../lib/p4runtime/wire.ts";

const update = (i: number) => ({
  type: UpdateType.INSERT,
  entity: {
    table_entry: {
      table_id: 7,
      match: [{ field_id: 1, exact: { value: Uint8Array.of(i >> 8, i & 0xff) } }],
    },
  },
});

Deno.test("varints are little-endian base 128", () => {
  assert.deepEqual(varint(0), Uint8Array.of(0));
  assert.deepEqual(varint(127), Uint8Array.of(0x7f));
  assert.deepEqual(varint(300), Uint8Array.of(0xac, 0x02));
  assert.deepEqual(varint(2 ** 35), Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x01));
  assert.throws(() => varint(-1), RangeError);
  for (let bits = 0; bits <= 53; bits++) {
    for (const n of [2 ** bits - 1, 2 ** bits]) {
      if (n > Number.MAX_SAFE_INTEGER) continue;
      assert.equal(varintSize(n), varint(n).length, `size of ${n}`);
    }
  }
});

Deno.test("a head plus appended updates is the WriteRequest protobufjs encodes", () => {
  const proto = p4runtimeProto();
  const base: WriteRequest = { device_id: "3", election_id: { high: "0", low: "9" }, updates: [] };
  // 200 updates make lengths above 127, so multi-byte varints.
  const updates = Array.from({ length: 200 }, (_, i) => update(i));
  const framed = appendRepeated(
    proto.writeRequest.encode(base),
    4,
    updates.map((u) => proto.update.encode(u)),
  );
  const whole = proto.service.Write.requestSerialize({ ...base, updates });
  assert.deepEqual(new Uint8Array(framed), new Uint8Array(whole));
  const big = appendRepeated(Uint8Array.of(), 4, [new Uint8Array(300)]);
  assert.deepEqual([...big.subarray(0, 3)], [0x22, 0xac, 0x02]);
  assert.equal(big.length, 303);
});

Deno.test("repeatedField splits a ReadResponse into its entities, skipping other fields", () => {
  const proto = p4runtimeProto();
  const entities = [1, 2, 300].map((i) => update(i).entity);
  const encoded = entities.map((e) => proto.entity.encode(e));
  // Other fields of every wire type around them: varint (field 2), fixed64 (3), fixed32 (5)
  // and a length-delimited field 4, none of which may be taken for an entity.
  const other = Uint8Array.of(
    0x10,
    0x96,
    0x01,
    0x19,
    ...new Uint8Array(8),
    0x2d,
    ...new Uint8Array(4),
    0x22,
    0x01,
    0x0a,
  );
  const bytes = appendRepeated(other, 1, encoded);
  const split = repeatedField(bytes, 1);
  assert.deepEqual(split.map((b) => [...b]), encoded.map((b) => [...b]));
  const values = split.map((b) => [...proto.entity.decode(b).table_entry!.match![0].exact!.value]);
  assert.deepEqual(values, [[0, 1], [0, 2], [1, 44]]);
  assert.deepEqual(repeatedField(Uint8Array.of(), 1), []);
});

Deno.test("repeatedField refuses truncated or unsupported input", () => {
  assert.throws(() => repeatedField(Uint8Array.of(0x0a, 0x05, 1, 2), 1), WireFormatError);
  assert.throws(() => repeatedField(Uint8Array.of(0x08, 0x80), 1), /Truncated varint/);
  assert.throws(() => repeatedField(Uint8Array.of(0x0b), 1), /wire type 3/);
});
