import assert from "node:assert/strict";
import {
  decodeMessage,
  encodeMessage,
  encodeVarint,
  fieldString,
  fieldUint,
  findField,
  lenField,
  readVarint,
  repeatedVarints,
  replaceLenPayload,
  replaceRepeatedVarints,
  varintField,
  WireFormatError,
  WireType,
} from "../../lib/criu/protobuf_wire.ts";
import { parseImage } from "../../lib/criu/images.ts";
import { DUMP1, dump1Images } from "./_fixtures.ts";

const bytes = (...b: number[]) => Uint8Array.from(b);

Deno.test("varints: canonical encoding, 64-bit values and the 10-byte limit", () => {
  assert.deepEqual(encodeVarint(0), bytes(0));
  assert.deepEqual(encodeVarint(300), bytes(0xac, 0x02));
  assert.deepEqual(encodeVarint(0x0202630a), bytes(0x8a, 0xc6, 0x89, 0x10));
  const max = encodeVarint(2n ** 64n - 1n);
  assert.equal(max.length, 10);
  assert.equal(readVarint(max, 0).value, 2n ** 64n - 1n);
  // Negative int32 is written as a 10-byte two's complement varint.
  assert.equal(encodeVarint(-1n).length, 10);
  assert.throws(() => readVarint(bytes(0x80, 0x80), 0), WireFormatError);
  assert.throws(() => readVarint(new Uint8Array(11).fill(0x80), 0), /longer than 10 bytes/);
});

Deno.test("decode keeps exact bytes: non-canonical varints, unknown fields, groups, fixed", () => {
  // deno-fmt-ignore
  const msg = bytes(
    0x08, 0x81, 0x00, // field 1 varint 1, non-canonical (2 bytes)
    0x9d, 0x06, 1, 2, 3, 4, // field 99 fixed32
    0x11, 1, 2, 3, 4, 5, 6, 7, 8, // field 2 fixed64
    0x1b, 0x08, 0x05, 0x1c, // field 3 group { field 1 = 5 }
    0x22, 0x02, 0x68, 0x69, // field 4 "hi"
  );
  const fields = decodeMessage(msg);
  assert.deepEqual(fields.map((f) => [f.number, f.wireType]), [
    [1, WireType.Varint],
    [99, WireType.I32],
    [2, WireType.I64],
    [3, WireType.StartGroup],
    [4, WireType.Len],
  ]);
  assert.equal(fieldUint(fields[0]), 1);
  assert.deepEqual(fields[3].payload, bytes(0x08, 0x05));
  assert.equal(fieldString(findField(fields, 4)), "hi");
  assert.deepEqual(encodeMessage(fields), msg);
});

Deno.test("decode rejects malformed messages", () => {
  assert.throws(() => decodeMessage(bytes(0x0a, 0x05, 1)), /runs past the end/);
  assert.throws(() => decodeMessage(bytes(0x00)), /field number 0/);
  assert.throws(() => decodeMessage(bytes(0x0f)), /invalid wire type 7/);
  assert.throws(() => decodeMessage(bytes(0x1b, 0x08, 0x05)), /never ends/);
  assert.throws(() => decodeMessage(bytes(0x0c)), /invalid wire type 4/);
});

Deno.test("repeated varints: unpacked and packed read alike; replacing keeps the encoding", () => {
  const unpacked = [varintField(5, 1), varintField(9, 7), varintField(5, 2)];
  const packed = [lenField(5, Uint8Array.from([...encodeVarint(1), ...encodeVarint(2)]))];
  assert.deepEqual(repeatedVarints(unpacked, 5), [1n, 2n]);
  assert.deepEqual(repeatedVarints(packed, 5), [1n, 2n]);

  const u2 = replaceRepeatedVarints(unpacked, 5, [1n, 300n]);
  assert.equal(u2[0], unpacked[0], "an unchanged value keeps its field object and bytes");
  assert.equal(u2[1], unpacked[1]);
  assert.deepEqual(u2[2].bytes, bytes(0x28, 0xac, 0x02));
  const p2 = replaceRepeatedVarints(packed, 5, [1n, 300n]);
  assert.equal(p2.length, 1);
  assert.deepEqual(p2[0].bytes, bytes(0x2a, 0x03, 0x01, 0xac, 0x02));
  assert.equal(replaceRepeatedVarints(packed, 5, [1n, 2n])[0], packed[0]);
  assert.throws(() => replaceRepeatedVarints(unpacked, 5, [1n]), /has 2 values, not 1/);
});

Deno.test("replaceLenPayload re-encodes only the length prefix, and nothing when unchanged", () => {
  const inner = encodeMessage([varintField(1, 1)]);
  const fields = [varintField(1, 4), lenField(4, inner), varintField(7, 9)];
  assert.deepEqual(replaceLenPayload(fields, 4, inner.slice()), fields);
  const bigger = new Uint8Array(200);
  const out = replaceLenPayload(fields, 4, bigger);
  assert.equal(out[0], fields[0]);
  assert.equal(out[2], fields[2]);
  assert.deepEqual(out[1].bytes.subarray(0, 3), bytes(0x22, 0xc8, 0x01));
  assert.throws(() => replaceLenPayload(fields, 5, inner), /no length-delimited field 5/);
});

Deno.test("every entry of every real CRIU image decodes and re-encodes byte-identical", () => {
  let entries = 0;
  for (const name of dump1Images()) {
    const image = parseImage(Deno.readFileSync(`${DUMP1}/${name}`), name);
    for (const e of image.entries) {
      const fields = decodeMessage(e.payload);
      assert.deepEqual(encodeMessage(fields), e.payload, `${name} entry ${entries}`);
      // Nested messages too, where a length-delimited field happens to be one.
      for (const f of fields) {
        if (f.wireType !== WireType.Len) continue;
        let nested;
        try {
          nested = decodeMessage(f.payload!);
        } catch {
          continue; // a string or bytes field
        }
        assert.deepEqual(encodeMessage(nested), f.payload);
      }
      entries++;
    }
  }
  assert.ok(entries >= 15, `only ${entries} entries`);
});
