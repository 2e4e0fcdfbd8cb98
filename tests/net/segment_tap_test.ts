import assert from "node:assert/strict";
import {
  encodeSegmentFile,
  internetChecksum,
  lastCopies,
  parseSegmentFile,
  retargetSegments,
  segmentTapArgv,
  segmentTapFiles,
} from "../../lib/net/segment_tap.ts";

/** An IPv4/TCP packet from 10.0.1.1:40000 to `dst`:12345 carrying `data` (checksums valid). */
function segment(dst: number[], data: string): Uint8Array {
  const payload = new TextEncoder().encode(data);
  const p = new Uint8Array(40 + payload.length);
  const v = new DataView(p.buffer);
  p[0] = 0x45;
  v.setUint16(2, p.length);
  p[8] = 64;
  p[9] = 6;
  p.set([10, 0, 1, 1], 12);
  p.set(dst, 16);
  v.setUint16(20, 40000);
  v.setUint16(22, 12345);
  v.setUint32(24, 0x01020304);
  p[32] = 5 << 4;
  p[33] = 0x18; // PSH, ACK
  v.setUint16(34, 502);
  p.set(payload, 40);
  v.setUint16(10, internetChecksum(p.subarray(0, 20)));
  v.setUint16(36, internetChecksum(p.subarray(20), pseudoSum(p)));
  return p;
}

function pseudoSum(p: Uint8Array): number {
  const v = new DataView(p.buffer, p.byteOffset);
  return v.getUint16(12) + v.getUint16(14) + v.getUint16(16) + v.getUint16(18) + 6 +
    (p.length - 20);
}

/** Whether both checksums of a 20-byte-header IPv4/TCP packet verify. */
function checksumsValid(p: Uint8Array): boolean {
  return internetChecksum(p.subarray(0, 20)) === 0 &&
    internetChecksum(p.subarray(20), pseudoSum(p)) === 0;
}

Deno.test("segment tap: RFC 1071 checksum of a known header", () => {
  // The example header of RFC 1071's successors: checksum 0xb861.
  const header = new Uint8Array([
    0x45,
    0x00,
    0x00,
    0x73,
    0x00,
    0x00,
    0x40,
    0x00,
    0x40,
    0x11,
    0x00,
    0x00,
    0xc0,
    0xa8,
    0x00,
    0x01,
    0xc0,
    0xa8,
    0x00,
    0xc7,
  ]);
  assert.equal(internetChecksum(header), 0xb861);
});

Deno.test("segment tap: segments to the old address go to the new one with valid checksums", () => {
  const held = [
    segment([10, 0, 2, 2], "GET\n"),
    segment([10, 0, 9, 9], "x"),
    segment([10, 0, 2, 2], "ab"),
  ];
  assert.ok(held.every(checksumsValid));
  const out = retargetSegments(held, "10.0.2.2", "10.0.3.3");
  assert.equal(out.length, 2, "the segment for another address is left out");
  for (const p of out) {
    assert.deepEqual([...p.subarray(16, 20)], [10, 0, 3, 3]);
    assert.deepEqual([...p.subarray(12, 16)], [10, 0, 1, 1], "the client's address stays");
    assert.ok(checksumsValid(p));
  }
  assert.equal(new TextDecoder().decode(out[0].subarray(40)), "GET\n");
  assert.deepEqual([...held[0].subarray(16, 20)], [10, 0, 2, 2], "the input is not modified");
});

Deno.test("segment tap: not IPv4/TCP or too short: left out; bad addresses: an error", () => {
  const udp = segment([10, 0, 2, 2], "x");
  udp[9] = 17;
  assert.deepEqual(retargetSegments([udp, new Uint8Array(10)], "10.0.2.2", "10.0.3.3"), []);
  assert.throws(() => retargetSegments([], "10.0.2", "10.0.3.3"), /not IPv4/);
});

Deno.test("segment tap: the capture file round-trips and a truncated one is refused", () => {
  const packets = [segment([10, 0, 2, 2], "one"), segment([10, 0, 2, 2], "two!")];
  const file = encodeSegmentFile(packets);
  assert.equal(file.length, 8 + packets[0].length + packets[1].length);
  assert.deepEqual(parseSegmentFile(file), packets);
  assert.deepEqual(parseSegmentFile(new Uint8Array(0)), []);
  assert.throws(() => parseSegmentFile(file.subarray(0, file.length - 1)), /truncated/);
});

Deno.test("segment tap: argv names each port once and the files under the directory", () => {
  const files = segmentTapFiles("/run/x/ckpt");
  assert.deepEqual(segmentTapArgv("/b/tap", [12345, 12345, 80], files, 5000, 77), [
    "/b/tap",
    "capture",
    "12345,80",
    "/run/x/ckpt/segment-tap.ready",
    "/run/x/ckpt/segment-tap.segments",
    "5000",
    "77",
  ]);
});

Deno.test("segment tap: of a request retransmitted three times only the last copy goes", () => {
  const copy = (id: number, seq = 0x01020304) => {
    const p = segment([10, 0, 2, 2], "GET\n");
    new DataView(p.buffer).setUint16(4, id); // IP id: which copy it is
    new DataView(p.buffer).setUint32(24, seq);
    return p;
  };
  const other = copy(9, 0x01020308);
  const kept = lastCopies([copy(1), copy(2), other, copy(3)]);
  assert.deepEqual(kept.map((p) => new DataView(p.buffer).getUint16(4)), [9, 3]);
  assert.deepEqual(lastCopies([new Uint8Array(10)]), [], "not a TCP segment: left out");
});
