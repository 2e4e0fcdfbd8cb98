/**
 * Test helper: a scripted HTTP/2 server on 127.0.0.1 that sends exactly the bytes a test gives
 * it (well-formed, malformed or cut short), to see how our transport copes. Each accepted
 * connection runs the test's script with a {@link RawPeer}.
 */
import {
  CLIENT_PREFACE,
  encodeFrame,
  encodeHeaders,
  encodeSettings,
  Flag,
  type Frame,
  FrameReader,
  FrameType,
} from "../../../lib/p4runtime/transport/frames.ts";
import { encodeHeaderBlock } from "../../../lib/p4runtime/transport/hpack.ts";
import { messagePrefix } from "../../../lib/p4runtime/transport/message_framing.ts";

/** One client connection, seen from the server. */
export class RawPeer {
  readonly #conn: Deno.Conn;
  readonly #reader = new FrameReader(1 << 24);
  readonly #frames: Frame[] = [];
  #preface = new Uint8Array(0);
  #eof = false;
  /** Every frame received, in order. */
  readonly received: Frame[] = [];

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** The next frame from the client (undefined once it closed). */
  async next(): Promise<Frame | undefined> {
    while (!this.#frames.length) {
      if (this.#eof) return undefined;
      const buf = new Uint8Array(65_536);
      const n = await this.#conn.read(buf).catch(() => null);
      if (n === null) {
        this.#eof = true;
        return undefined;
      }
      let chunk = buf.subarray(0, n);
      if (this.#preface.length < CLIENT_PREFACE.length) {
        const take = Math.min(CLIENT_PREFACE.length - this.#preface.length, chunk.length);
        this.#preface = new Uint8Array([...this.#preface, ...chunk.subarray(0, take)]);
        chunk = chunk.subarray(take);
      }
      for (const f of this.#reader.push(chunk)) {
        const copy = { ...f, payload: f.payload.slice() };
        this.#frames.push(copy);
        this.received.push(copy);
      }
    }
    return this.#frames.shift();
  }

  /** The next frame of a type (others are skipped). */
  async nextOf(type: number): Promise<Frame | undefined> {
    for (let f = await this.next(); f; f = await this.next()) if (f.type === type) return f;
    return undefined;
  }

  /** The preface the client sent. */
  get preface(): string {
    return new TextDecoder().decode(this.#preface);
  }

  async send(...parts: Uint8Array[]): Promise<void> {
    for (const p of parts) {
      let off = 0;
      while (off < p.length) off += await this.#conn.write(p.subarray(off));
    }
  }

  /** Sends `bytes` one byte per write (to cut frames everywhere). */
  async trickle(bytes: Uint8Array): Promise<void> {
    for (let i = 0; i < bytes.length; i++) await this.#conn.write(bytes.subarray(i, i + 1));
  }

  close(): void {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }
}

export class RawH2Server {
  readonly #listener: Deno.TcpListener;
  readonly #peers: RawPeer[] = [];
  readonly #scripts: Promise<void>[] = [];
  #accepting: Promise<void>;
  #stopped = false;

  private constructor(script: (peer: RawPeer, index: number) => Promise<void>) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#listener = listener;
    this.#accepting = (async () => {
      for await (const conn of listener) {
        const peer = new RawPeer(conn);
        this.#peers.push(peer);
        this.#scripts.push(script(peer, this.#peers.length - 1).catch(() => {}));
      }
    })().catch(() => {});
  }

  /** Listens on a free loopback port; each connection runs `script`. */
  static start(script: (peer: RawPeer, index: number) => Promise<void>): RawH2Server {
    return new RawH2Server(script);
  }

  get address(): string {
    return `127.0.0.1:${(this.#listener.addr as Deno.NetAddr).port}`;
  }

  get peers(): readonly RawPeer[] {
    return this.#peers;
  }

  /** Resolves when every connection's script has ended (e.g. on the client's close). */
  async settled(): Promise<void> {
    await Promise.all(this.#scripts);
  }

  /** Closes the listener and every connection. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#listener.close();
    for (const p of this.#peers) p.close();
    await this.#accepting;
    await Promise.all(this.#scripts);
  }
}

/** A server's SETTINGS (none by default). */
export const serverSettings = (values: ReadonlyArray<[number, number]> = []) =>
  encodeSettings(values);

/** Response headers of a gRPC call. */
export function responseHeaders(streamId: number, endStream = false): Uint8Array {
  return encodeHeaders(
    streamId,
    encodeHeaderBlock([[":status", "200"], ["content-type", "application/grpc"]]),
    endStream,
    16_384,
  );
}

/** Trailers with a status (and message, details). */
export function trailers(
  streamId: number,
  status = 0,
  extra: ReadonlyArray<[string, string]> = [],
): Uint8Array {
  return encodeHeaders(
    streamId,
    encodeHeaderBlock([["grpc-status", String(status)], ...extra]),
    true,
    16_384,
  );
}

/** A DATA frame carrying one length-prefixed message. */
export function messageData(streamId: number, message: Uint8Array, endStream = false) {
  return encodeFrame(
    FrameType.DATA,
    endStream ? Flag.END_STREAM : 0,
    streamId,
    new Uint8Array([...messagePrefix(message.length), ...message]),
  );
}
