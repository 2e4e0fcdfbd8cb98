/**
 * Test helper, run as a Worker: a gRPC server on its own thread (its own event loop), so that a
 * client busy-polling on the main thread can be answered meanwhile. It answers every unary call
 * with the request's bytes reversed, then trailers with status OK; to a request whose first byte
 * is 0xff, with a frame no HTTP/2 peer may send (DATA on stream 0) instead. It posts its address,
 * then serves until terminated.
 */
/// <reference lib="deno.worker" />
import { encodeFrame, Flag, FrameType } from "../../../lib/p4runtime/transport/frames.ts";
import {
  messageData,
  RawH2Server,
  type RawPeer,
  responseHeaders,
  serverSettings,
  trailers,
} from "./_raw_h2_server.ts";

async function serve(peer: RawPeer): Promise<void> {
  await peer.send(serverSettings());
  const bodies = new Map<number, number[]>();
  for (let f = await peer.next(); f; f = await peer.next()) {
    if (f.type !== FrameType.DATA) continue;
    const body = bodies.get(f.streamId) ?? [];
    body.push(...f.payload);
    bodies.set(f.streamId, body);
    if (!(f.flags & Flag.END_STREAM)) continue;
    bodies.delete(f.streamId);
    const request = Uint8Array.from(body).subarray(5);
    const id = f.streamId;
    if (request[0] === 0xff) {
      await peer.send(encodeFrame(FrameType.DATA, 0, 0, Uint8Array.of(1)));
      continue;
    }
    // One write, as a gRPC server sends a unary answer.
    await peer.send(
      Uint8Array.from([
        ...responseHeaders(id),
        ...messageData(id, request.slice().reverse()),
        ...trailers(id),
      ]),
    );
  }
}

const server = RawH2Server.start(serve);
self.postMessage(server.address);
