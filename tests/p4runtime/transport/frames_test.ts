/** The HTTP/2 frame codec, byte for byte (RFC 9113 §4 and §6). */
import assert from "node:assert/strict";
import {
  decodeSettings,
  encodeFrame,
  encodeGoaway,
  encodeHeaders,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeWindowUpdate,
  Flag,
  FrameReader,
  FrameType,
  H2Error,
  h2ErrorName,
  H2ProtocolError,
  readUint32,
  Setting,
} from "../../../lib/p4runtime/transport/frames.ts";

const bytes = (...b: number[]) => Uint8Array.from(b);

Deno.test("frames are encoded with a 9-byte header: length, type, flags, 31-bit stream id", () => {
  assert.deepEqual(
    encodeFrame(FrameType.DATA, Flag.END_STREAM, 0x80000003, bytes(0xaa, 0xbb)),
    bytes(0, 0, 2, 0, 1, 0, 0, 0, 3, 0xaa, 0xbb),
  );
  assert.deepEqual(
    encodeSettings([[Setting.ENABLE_PUSH, 0], [Setting.INITIAL_WINDOW_SIZE, 0x800000]]),
    bytes(0, 0, 12, 4, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 4, 0, 0x80, 0, 0),
  );
  assert.deepEqual(encodeSettings([], true), bytes(0, 0, 0, 4, 1, 0, 0, 0, 0));
  assert.deepEqual(encodeWindowUpdate(5, 1000), bytes(0, 0, 4, 8, 0, 0, 0, 0, 5, 0, 0, 3, 0xe8));
  assert.deepEqual(
    encodeRstStream(7, H2Error.CANCEL),
    bytes(0, 0, 4, 3, 0, 0, 0, 0, 7, 0, 0, 0, 8),
  );
  assert.deepEqual(
    encodeGoaway(9, H2Error.PROTOCOL_ERROR, "x"),
    bytes(0, 0, 9, 7, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1, 0x78),
  );
  assert.deepEqual(
    encodePing(bytes(1, 2, 3, 4, 5, 6, 7, 8), true),
    bytes(0, 0, 8, 6, 1, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8),
  );
  assert.throws(() => encodePing(bytes(1), false), RangeError);
  assert.equal(h2ErrorName(H2Error.FLOW_CONTROL_ERROR), "FLOW_CONTROL_ERROR");
  assert.equal(h2ErrorName(99), "error 99");
});

Deno.test("a header block longer than the frame size goes on in CONTINUATION frames", () => {
  const block = Uint8Array.from({ length: 10 }, (_, i) => i);
  const out = encodeHeaders(3, block, true, 4);
  const frames = new FrameReader(16_384).push(out);
  assert.deepEqual(frames.map((f) => [f.type, f.flags, f.streamId, [...f.payload]]), [
    [FrameType.HEADERS, Flag.END_STREAM, 3, [0, 1, 2, 3]],
    [FrameType.CONTINUATION, 0, 3, [4, 5, 6, 7]],
    [FrameType.CONTINUATION, Flag.END_HEADERS, 3, [8, 9]],
  ]);
  const one = new FrameReader().push(encodeHeaders(1, block, false, 16_384));
  assert.deepEqual(one.map((f) => [f.type, f.flags]), [[FrameType.HEADERS, Flag.END_HEADERS]]);
});

Deno.test("the reader reassembles frames split anywhere, byte by byte", () => {
  const stream = new Uint8Array([
    ...encodeSettings([[Setting.MAX_FRAME_SIZE, 32_768]]),
    ...encodeFrame(FrameType.DATA, 0, 1, Uint8Array.from({ length: 300 }, (_, i) => i & 0xff)),
    ...encodePing(bytes(8, 7, 6, 5, 4, 3, 2, 1), false),
  ]);
  for (const step of [1, 2, 7, 9, 10, 64, stream.length]) {
    const reader = new FrameReader();
    const got = [];
    // One reused read buffer, as the connection does: payloads must not change under us.
    const buf = new Uint8Array(step);
    for (let i = 0; i < stream.length; i += step) {
      const n = Math.min(step, stream.length - i);
      buf.set(stream.subarray(i, i + n));
      for (const f of reader.push(buf.subarray(0, n))) {
        got.push({ type: f.type, streamId: f.streamId, payload: [...f.payload] });
      }
    }
    assert.deepEqual(got.map((f) => f.type), [FrameType.SETTINGS, FrameType.DATA, FrameType.PING]);
    assert.equal(got[1].payload.length, 300);
    assert.equal(got[1].payload[299], 299 & 0xff);
    assert.deepEqual(got[2].payload, [8, 7, 6, 5, 4, 3, 2, 1]);
    assert.equal(reader.pending, 0);
  }
});

Deno.test("padding and HEADERS priority fields are stripped; the wire length is kept", () => {
  // DATA, PADDED: pad length 3, "hi", 3 bytes of padding.
  const data = encodeFrame(FrameType.DATA, Flag.PADDED, 1, bytes(3, 0x68, 0x69, 0, 0, 0));
  const [d] = new FrameReader().push(data);
  assert.deepEqual([...d.payload], [0x68, 0x69]);
  assert.equal(d.length, 6);
  // HEADERS, PADDED and PRIORITY: pad 1, 5 bytes of priority, block [0x82], 1 byte of padding.
  const headers = encodeFrame(
    FrameType.HEADERS,
    Flag.PADDED | Flag.PRIORITY | Flag.END_HEADERS,
    1,
    bytes(1, 0, 0, 0, 0, 16, 0x82, 0),
  );
  const [h] = new FrameReader().push(headers);
  assert.deepEqual([...h.payload], [0x82]);
});

Deno.test("malformed frames are protocol errors naming what is wrong", () => {
  const fails = (frame: Uint8Array, re: RegExp, code: number = H2Error.PROTOCOL_ERROR) =>
    assert.throws(() => new FrameReader(16_384).push(frame), (e: unknown) => {
      assert.ok(e instanceof H2ProtocolError, String(e));
      assert.match(e.message, re);
      assert.equal(e.h2Code, code);
      return true;
    });
  // Too long: only the header is needed to know.
  fails(
    bytes(0, 0x40, 1, 0, 0, 0, 0, 0, 1),
    /16385 bytes .* exceeds our maximum of 16384/,
    H2Error.FRAME_SIZE_ERROR,
  );
  fails(encodeFrame(FrameType.DATA, 0, 0, bytes(1)), /type 0 on stream 0/);
  fails(encodeFrame(FrameType.SETTINGS, 0, 1), /type 4 on stream 1, not 0/);
  fails(
    encodeFrame(FrameType.PING, 0, 0, bytes(1, 2, 3)),
    /type 6 of 3 bytes, not 8/,
    H2Error.FRAME_SIZE_ERROR,
  );
  fails(
    encodeFrame(FrameType.WINDOW_UPDATE, 0, 1, bytes(1)),
    /type 8 of 1 bytes, not 4/,
    H2Error.FRAME_SIZE_ERROR,
  );
  fails(
    encodeFrame(FrameType.RST_STREAM, 0, 1, bytes(0, 0, 0, 0, 0)),
    /not 4/,
    H2Error.FRAME_SIZE_ERROR,
  );
  fails(encodeFrame(FrameType.DATA, Flag.PADDED, 1, bytes(5, 1, 2)), /padding of 5 bytes/);
  fails(encodeFrame(FrameType.DATA, Flag.PADDED, 1), /without a pad length/);
  fails(
    encodeFrame(FrameType.HEADERS, Flag.PRIORITY | Flag.END_HEADERS, 1, bytes(0, 0)),
    /too short for its priority/,
  );
  assert.throws(() => decodeSettings(bytes(0, 1, 0)), /not a multiple of 6/);
});

Deno.test("unknown frame types are passed on for the caller to ignore", () => {
  const [f] = new FrameReader().push(encodeFrame(0x42, 0xff, 9, bytes(1, 2)));
  assert.deepEqual([f.type, f.flags, f.streamId, [...f.payload]], [0x42, 0xff, 9, [1, 2]]);
});

Deno.test("SETTINGS and 32-bit fields decode big-endian", () => {
  assert.deepEqual(decodeSettings(bytes(0, 4, 0xff, 0, 0, 1, 0, 5, 0, 0, 0x40, 0)), [
    [4, 0xff000001],
    [5, 16_384],
  ]);
  assert.equal(readUint32(bytes(0xff, 0xff, 0xff, 0xff)), 0xffffffff);
  assert.equal(readUint32(bytes(0xff, 0xff, 0xff, 0xff), 0, true), 0x7fffffff);
});
