/**
 * Our HTTP/2 transport against a scripted server on 127.0.0.1: frames cut anywhere, flow control,
 * PING, GOAWAY and reconnects, and malformed or truncated input, which must end the call with a
 * clear error rather than hang.
 */
import assert from "node:assert/strict";
import { P4RuntimeClient } from "../../../lib/p4runtime/client.ts";
import { P4RuntimeError, SwitchUnreachableError } from "../../../lib/p4runtime/errors.ts";
import { Code } from "../../../lib/p4runtime/messages.ts";
import {
  encodeFrame,
  encodeGoaway,
  encodePing,
  encodeRstStream,
  encodeWindowUpdate,
  Flag,
  FrameType,
  H2Error,
  readUint32,
  Setting,
} from "../../../lib/p4runtime/transport/frames.ts";
import { grpcTimeout, H2Transport, splitAddress } from "../../../lib/p4runtime/transport/grpc.ts";
import { HeaderDecoder } from "../../../lib/p4runtime/transport/hpack.ts";
import { RpcError } from "../../../lib/p4runtime/transport/status.ts";
import {
  messageData,
  RawH2Server,
  type RawPeer,
  responseHeaders,
  serverSettings,
  trailers,
} from "./_raw_h2_server.ts";

const PATH = "/p4.v1.P4Runtime/Capabilities";
const transport = (address: string) => new H2Transport(address, { maxMessage: 1 << 20 });

/** Waits for the client's request: its HEADERS and its whole message. */
async function request(peer: RawPeer): Promise<{ streamId: number; body: Uint8Array }> {
  const h = await peer.nextOf(FrameType.HEADERS);
  assert.ok(h, "no request HEADERS");
  const parts: number[] = [];
  for (;;) {
    const d = await peer.nextOf(FrameType.DATA);
    assert.ok(d, "no request DATA");
    parts.push(...d.payload);
    if (d.flags & Flag.END_STREAM) break;
  }
  return { streamId: h.streamId, body: Uint8Array.from(parts).subarray(5) };
}

/** Expects a call to fail, fast, with this code and a message matching `re`. */
async function failsWith(call: Promise<unknown>, code: number, re: RegExp): Promise<void> {
  const started = Date.now();
  await assert.rejects(call, (e: unknown) => {
    assert.ok(e instanceof RpcError, String(e));
    assert.equal(e.code, code, `${e.message}`);
    assert.match(e.details, re);
    return true;
  });
  assert.ok(Date.now() - started < 3000, "took too long: a hang cut short by a deadline?");
}

Deno.test("a unary call whose every frame arrives one byte at a time", async () => {
  const server = RawH2Server.start(async (peer) => {
    await peer.trickle(serverSettings([[Setting.MAX_FRAME_SIZE, 20_000]]));
    const { streamId, body } = await request(peer);
    // A PING and a WINDOW_UPDATE in the middle, padded DATA, the reply in two DATA frames.
    const reply = new Uint8Array([...body].reverse());
    const whole = messageData(streamId, reply).subarray(9);
    await peer.trickle(
      new Uint8Array([
        ...encodePing(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), false),
        ...responseHeaders(streamId),
        ...encodeWindowUpdate(0, 1000),
        ...encodeFrame(
          FrameType.DATA,
          Flag.PADDED,
          streamId,
          Uint8Array.of(2, ...whole.subarray(0, 3), 0, 0),
        ),
        ...encodeFrame(FrameType.DATA, 0, streamId, whole.subarray(3)),
        ...trailers(streamId),
      ]),
    );
    await peer.nextOf(0xff); // Until the client closes.
  });
  const t = transport(server.address);
  try {
    const res = await t.unary(PATH, Uint8Array.of(1, 2, 3, 4, 5), 2000);
    assert.deepEqual(res, Uint8Array.of(5, 4, 3, 2, 1));
    t.close();
    await server.settled();
    const peer = server.peers[0];
    assert.equal(peer.preface, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    // Our SETTINGS first, then the ACK of theirs and the PING's answer with the same bytes.
    assert.equal(peer.received[0].type, FrameType.SETTINGS);
    const ack = peer.received.find((f) => f.type === FrameType.SETTINGS && f.flags & Flag.ACK);
    assert.ok(ack);
    const pong = peer.received.find((f) => f.type === FrameType.PING);
    assert.deepEqual(pong?.flags, Flag.ACK);
    assert.deepEqual(pong?.payload, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    // The request's headers, as a gRPC server needs them.
    const h = peer.received.find((f) => f.type === FrameType.HEADERS)!;
    const fields = Object.fromEntries(
      new HeaderDecoder().decode(h.payload).map((f) => [f.name, f.value]),
    );
    assert.deepEqual(fields, {
      ":method": "POST",
      ":scheme": "http",
      ":path": PATH,
      ":authority": server.address,
      "content-type": "application/grpc",
      te: "trailers",
      "user-agent": "p4containerflow-h2",
      "grpc-timeout": "2000m",
    });
  } finally {
    t.close();
    await server.stop();
  }
});

Deno.test("sending waits for the server's flow-control window and never exceeds it", async () => {
  let got: Uint8Array | undefined;
  const sizes: number[] = [];
  const server = RawH2Server.start(async (peer) => {
    // A 10-byte stream window and the default 65,535-byte connection window.
    await peer.send(serverSettings([[Setting.INITIAL_WINDOW_SIZE, 10]]));
    const h = await peer.nextOf(FrameType.HEADERS);
    const parts: number[] = [];
    for (;;) {
      const d = await peer.nextOf(FrameType.DATA);
      if (!d) return;
      sizes.push(d.payload.length);
      parts.push(...d.payload);
      if (d.flags & Flag.END_STREAM) break;
      // Grant 10 more bytes after each frame.
      await peer.send(encodeWindowUpdate(h!.streamId, 10));
    }
    got = Uint8Array.from(parts);
    await peer.send(responseHeaders(h!.streamId), messageData(h!.streamId, Uint8Array.of(42)));
    await peer.send(trailers(h!.streamId));
    await peer.nextOf(0xff);
  });
  const t = transport(server.address);
  try {
    const message = Uint8Array.from({ length: 95 }, (_, i) => i);
    assert.deepEqual(await t.unary(PATH, message, 3000), Uint8Array.of(42));
    assert.deepEqual(got!.subarray(5), message);
    assert.ok(sizes.every((n) => n <= 10), `frames of ${sizes}`);
    assert.equal(sizes.reduce((a, b) => a + b, 0), 100);
  } finally {
    t.close();
    await server.stop();
  }
});

Deno.test("a connection cut in the middle of a frame fails the call at once", async () => {
  const server = RawH2Server.start(async (peer) => {
    await peer.send(serverSettings());
    const { streamId } = await request(peer);
    // A DATA frame header announcing 100 bytes, and 10 of them.
    await peer.send(
      responseHeaders(streamId),
      encodeFrame(FrameType.DATA, 0, streamId, new Uint8Array(100)).subarray(0, 19),
    );
    peer.close();
  });
  const t = transport(server.address);
  try {
    await failsWith(
      t.unary(PATH, Uint8Array.of(1), 30_000),
      Code.UNAVAILABLE,
      /closed the connection in the middle of a frame \(19 bytes of it received\)/,
    );
  } finally {
    t.close();
    await server.stop();
  }
});

Deno.test("trailers in the middle of a message, and a stream ended without trailers", async () => {
  const server = RawH2Server.start(async (peer) => {
    await peer.send(serverSettings());
    let r = await request(peer);
    const half = messageData(r.streamId, new Uint8Array(50));
    const cut = encodeFrame(FrameType.DATA, 0, r.streamId, half.subarray(9, 30));
    await peer.send(responseHeaders(r.streamId), cut, trailers(r.streamId));
    r = await request(peer);
    await peer.send(responseHeaders(r.streamId), messageData(r.streamId, Uint8Array.of(1), true));
    await peer.nextOf(0xff);
  });
  const t = transport(server.address);
  try {
    await failsWith(t.unary(PATH, Uint8Array.of(1), 30_000), Code.INTERNAL, /middle of a message/);
    await failsWith(t.unary(PATH, Uint8Array.of(1), 30_000), Code.INTERNAL, /without trailers/);
  } finally {
    t.close();
    await server.stop();
  }
});

Deno.test("malformed input is a protocol error that names it; the server gets a GOAWAY", async () => {
  const cases: Array<[string, (streamId: number) => Uint8Array, RegExp, number]> = [
    [
      "a frame above our maximum",
      () => Uint8Array.of(0x10, 0, 1, 0, 0, 0, 0, 0, 1),
      /frame of 1048577 bytes \(type 0\) exceeds our maximum of 1048576/,
      H2Error.FRAME_SIZE_ERROR,
    ],
    [
      "a header block that does not decode",
      (id) =>
        encodeFrame(
          FrameType.HEADERS,
          Flag.END_HEADERS,
          id,
          Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
        ),
      /header block does not decode \(HPACK\)/,
      H2Error.COMPRESSION_ERROR,
    ],
    [
      "a PING of 3 bytes",
      () => encodeFrame(FrameType.PING, 0, 0, Uint8Array.of(1, 2, 3)),
      /frame type 6 of 3 bytes, not 8/,
      H2Error.FRAME_SIZE_ERROR,
    ],
    [
      "DATA on a stream we never opened",
      () => encodeFrame(FrameType.DATA, 0, 99, Uint8Array.of(1)),
      /stream 99, which we never opened/,
      H2Error.PROTOCOL_ERROR,
    ],
    [
      "a PUSH_PROMISE",
      (id) => encodeFrame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, id, Uint8Array.of(0, 0, 0, 2)),
      /PUSH_PROMISE although we disabled push/,
      H2Error.PROTOCOL_ERROR,
    ],
    [
      "a header block without end",
      (id) =>
        new Uint8Array([
          ...encodeFrame(FrameType.HEADERS, 0, id, new Uint8Array(100_000)),
          ...encodeFrame(FrameType.CONTINUATION, 0, id, new Uint8Array(200_000)),
        ]),
      /header block on stream 1 longer than 262144 bytes/,
      H2Error.ENHANCE_YOUR_CALM,
    ],
    [
      "a CONTINUATION out of the blue",
      (id) => encodeFrame(FrameType.CONTINUATION, Flag.END_HEADERS, id, Uint8Array.of(0x88)),
      /CONTINUATION on stream 1 without HEADERS/,
      H2Error.PROTOCOL_ERROR,
    ],
  ];
  for (const [what, bad, re, h2Code] of cases) {
    let goaway: number | undefined;
    const server = RawH2Server.start(async (peer) => {
      await peer.send(serverSettings());
      const { streamId } = await request(peer);
      await peer.send(bad(streamId));
      const g = await peer.nextOf(FrameType.GOAWAY);
      goaway = g ? readUint32(g.payload, 4) : undefined;
    });
    const t = transport(server.address);
    try {
      await failsWith(t.unary(PATH, Uint8Array.of(1), 30_000), Code.INTERNAL, re);
      await server.settled();
      assert.equal(goaway, h2Code, what);
    } finally {
      t.close();
      await server.stop();
    }
  }
});

Deno.test("a reset stream, a GOAWAY, and the next call on a new connection", async () => {
  const server = RawH2Server.start(async (peer, index) => {
    await peer.send(serverSettings());
    if (index === 0) {
      let r = await request(peer);
      await peer.send(encodeRstStream(r.streamId, H2Error.REFUSED_STREAM));
      r = await request(peer);
      // Going away without having processed it (last stream id below it).
      await peer.send(encodeGoaway(r.streamId - 2, H2Error.ENHANCE_YOUR_CALM, "too many pings"));
      await peer.nextOf(0xff);
      return;
    }
    const r = await request(peer);
    await peer.send(responseHeaders(r.streamId), messageData(r.streamId, Uint8Array.of(7)));
    await peer.send(trailers(r.streamId));
    await peer.nextOf(0xff);
  });
  const t = transport(server.address);
  try {
    await failsWith(
      t.unary(PATH, Uint8Array.of(1), 30_000),
      Code.UNAVAILABLE,
      /reset the stream \(REFUSED_STREAM\)/,
    );
    await failsWith(
      t.unary(PATH, Uint8Array.of(1), 30_000),
      Code.INTERNAL,
      /going away \(GOAWAY ENHANCE_YOUR_CALM: too many pings\)/,
    );
    assert.deepEqual(await t.unary(PATH, Uint8Array.of(1), 30_000), Uint8Array.of(7));
    assert.equal(server.peers.length, 2, "a second connection");
  } finally {
    t.close();
    await server.stop();
  }
});

Deno.test("a server that never answers: the deadline resets the stream", async () => {
  let reset: number | undefined;
  const server = RawH2Server.start(async (peer) => {
    await peer.send(serverSettings());
    await request(peer);
    const r = await peer.nextOf(FrameType.RST_STREAM);
    reset = r ? readUint32(r.payload) : undefined;
  });
  const t = transport(server.address);
  try {
    await failsWith(
      t.unary(PATH, Uint8Array.of(1), 300),
      Code.DEADLINE_EXCEEDED,
      /deadline of 300 ms/,
    );
    t.close();
    await server.settled();
    assert.equal(reset, H2Error.CANCEL);
  } finally {
    t.close();
    await server.stop();
  }
});

Deno.test("connect: a silent server times out, an HTTP/1.1 server is named at once", async () => {
  const silent = RawH2Server.start(async (peer) => {
    await peer.nextOf(0xff);
  });
  const http1 = RawH2Server.start(async (peer) => {
    await peer.next();
    await peer.send(new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n"));
  });
  try {
    let started = Date.now();
    await assert.rejects(
      P4RuntimeClient.connect({ address: silent.address, connectTimeoutMs: 400 }),
      (e: unknown) =>
        e instanceof SwitchUnreachableError && /no HTTP\/2 answer within/.test(
          String((e.cause as Error).message),
        ),
    );
    assert.ok(Date.now() - started < 2000);
    started = Date.now();
    await assert.rejects(
      P4RuntimeClient.connect({ address: http1.address, connectTimeoutMs: 10_000 }),
      (e: unknown) => {
        assert.ok(e instanceof P4RuntimeError && !(e instanceof SwitchUnreachableError), String(e));
        assert.match(e.message, /does not speak gRPC over HTTP\/2: .*answered in HTTP\/1\.1/);
        assert.match(e.hint ?? "", /P4Runtime \(gRPC\) port/);
        return true;
      },
    );
    assert.ok(Date.now() - started < 2000, "an HTTP/1.1 server is not retried");
  } finally {
    await silent.stop();
    await http1.stop();
  }
});

Deno.test("addresses and grpc-timeout values", () => {
  assert.deepEqual(splitAddress("127.0.0.1:9559"), { hostname: "127.0.0.1", port: 9559 });
  assert.deepEqual(splitAddress("[::1]:50051"), { hostname: "::1", port: 50051 });
  assert.throws(() => splitAddress("localhost"), /"localhost" is not host:port/);
  assert.throws(() => splitAddress("h:70000"), RangeError);
  assert.equal(grpcTimeout(30_000), "30000m");
  assert.equal(grpcTimeout(0.2), "1m");
  assert.equal(grpcTimeout(1e9), "1000000S");
});

Deno.test("a bidirectional stream carries messages both ways, then ends or is cancelled", async () => {
  let cancelled: number | undefined;
  const server = RawH2Server.start(async (peer) => {
    await peer.send(serverSettings());
    const h = await peer.nextOf(FrameType.HEADERS);
    assert.equal(h!.flags & Flag.END_STREAM, 0, "a stream stays open");
    await peer.send(responseHeaders(h!.streamId));
    // Echo three messages reversed (packet-out in, packet-in out), then end with OK.
    for (let i = 0; i < 3; i++) {
      const d = await peer.nextOf(FrameType.DATA);
      await peer.send(messageData(h!.streamId, d!.payload.subarray(5).reverse()));
    }
    await peer.send(trailers(h!.streamId));
    // A second stream, which the client cancels.
    const h2 = await peer.nextOf(FrameType.HEADERS);
    await peer.send(responseHeaders(h2!.streamId));
    const r = await peer.nextOf(FrameType.RST_STREAM);
    cancelled = r ? readUint32(r.payload) : undefined;
    await peer.nextOf(0xff);
  });
  const t = transport(server.address);
  try {
    await t.waitForReady(2000);
    const got: number[][] = [];
    const ended = Promise.withResolvers<Error | undefined>();
    const call = t.bidi("/p4.v1.P4Runtime/StreamChannel", {
      onMessage: (m) => got.push([...m]),
      onEnd: (err) => ended.resolve(err),
    });
    call.write(Uint8Array.of(1, 2));
    call.write(Uint8Array.of(3, 4, 5));
    call.write(Uint8Array.of());
    assert.equal(await ended.promise, undefined);
    assert.deepEqual(got, [[2, 1], [5, 4, 3], []]);

    let endedToo = false;
    const second = t.bidi("/p4.v1.P4Runtime/StreamChannel", {
      onMessage: () => {},
      onEnd: () => endedToo = true,
    });
    second.write(Uint8Array.of(9));
    await new Promise((r) => setTimeout(r, 50));
    second.cancel();
    t.close();
    await server.settled();
    assert.equal(cancelled, H2Error.CANCEL);
    assert.equal(endedToo, false, "a cancelled call does not report an end");
  } finally {
    t.close();
    await server.stop();
  }
});

Deno.test("a response larger than our windows arrives whole as we grant more", async () => {
  // Our windows: 20,000 bytes per stream, 70,000 per connection; the response is 200,000.
  const message = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7) & 0xff);
  const updates: Array<[number, number]> = [];
  const server = RawH2Server.start(async (peer) => {
    await peer.send(serverSettings());
    const { streamId } = await request(peer);
    await peer.send(responseHeaders(streamId));
    const wire = messageData(streamId, message).subarray(9);
    // Our SETTINGS and connection WINDOW_UPDATE, sent first, set these.
    let streamWindow = 20_000;
    let connWindow = 70_000;
    let sent = 0;
    while (sent < wire.length) {
      const n = Math.min(16_384, wire.length - sent, streamWindow, connWindow);
      if (n > 0) {
        await peer.send(encodeFrame(FrameType.DATA, 0, streamId, wire.subarray(sent, sent + n)));
        sent += n;
        streamWindow -= n;
        connWindow -= n;
        continue;
      }
      // Out of window: wait for the client to grant more.
      const u = await peer.nextOf(FrameType.WINDOW_UPDATE);
      assert.ok(u, "the client never granted more window");
      updates.push([u.streamId, readUint32(u.payload)]);
      if (u.streamId === 0) connWindow += readUint32(u.payload);
      else streamWindow += readUint32(u.payload);
    }
    await peer.send(trailers(streamId));
    await peer.nextOf(0xff);
  });
  const t = new H2Transport(server.address, {
    maxMessage: 1 << 20,
    streamWindow: 20_000,
    connectionWindow: 70_000,
  });
  try {
    const got = await t.unary(PATH, Uint8Array.of(1), 10_000);
    assert.deepEqual(got, message);
    assert.ok(updates.some(([id]) => id !== 0), "stream-level updates");
    assert.ok(updates.some(([id]) => id === 0), "connection-level updates");
  } finally {
    t.close();
    await server.stop();
  }
});
