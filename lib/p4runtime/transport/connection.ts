/**
 * One plaintext HTTP/2 connection (h2c with prior knowledge, as BMv2's gRPC server speaks) on
 * `Deno.connect`: the preface and SETTINGS exchange, streams, PING answers, GOAWAY, RST_STREAM and
 * flow control both ways. It knows nothing of gRPC: streams get header blocks and DATA through a
 * {@link StreamHandler}; grpc.ts builds calls on top.
 *
 * Writes made in the same turn of the event loop leave in one `write` (socket_writer.ts). A peer that breaks the protocol gets a GOAWAY naming the problem, and
 * every open stream fails with that message; the connection is then closed, never left hanging.
 *
 * @module
 */
import {
  CLIENT_PREFACE,
  decodeSettings,
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  encodeFrameHeader,
  encodeGoaway,
  encodeHeaders,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeWindowUpdate,
  Flag,
  type Frame,
  FRAME_HEADER,
  FrameReader,
  FrameType,
  H2Error,
  h2ErrorName,
  H2ProtocolError,
  MAX_WINDOW,
  readUint32,
  Setting,
  writeFrameHeader,
} from "./frames.ts";
import {
  DEFAULT_TABLE_SIZE,
  HeaderDecoder,
  HeaderEncoder,
  type HeaderField,
  type RequestHeaders,
} from "./hpack.ts";
import { SocketWriter } from "./socket_writer.ts";
import { SocketPoller } from "./busy_poll.ts";
import { concatBytes } from "../../bytes.ts";
import { smallBytes } from "../byte_slab.ts";

/** What a stream's owner is told. Payloads are views of a reused buffer: copy what you keep. */
export interface StreamHandler {
  /** A complete header block (response headers, or trailers when `endStream`). */
  onHeaders(fields: HeaderField[], endStream: boolean): void;
  onData(data: Uint8Array, endStream: boolean): void;
  /** The peer reset the stream with this HTTP/2 error code. */
  onReset(h2Code: number): void;
  /** The connection failed or went away under the stream. */
  onConnectionError(err: ConnectionError): void;
}

/** The connection failed: refused, closed, timed out, or the peer broke the protocol. */
export class ConnectionError extends Error {
  override name = "ConnectionError";
  constructor(
    message: string,
    /** True when the peer broke HTTP/2 (as opposed to a network failure or a clean close). */
    readonly protocol = false,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

export interface ConnectionOptions {
  hostname: string;
  port: number;
  /** Give up on TCP connect + the server's SETTINGS after this long. */
  timeoutMs: number;
  /** Receive window of each stream, bytes (default 8 MiB). */
  streamWindow?: number;
  /** Receive window of the connection, bytes (default 32 MiB). */
  connectionWindow?: number;
  /** Largest frame we accept (default 1 MiB). */
  maxFrameSize?: number;
  /**
   * How long {@link H2Connection.pollUntil} busy-polls the socket, µs (default 0: never; see
   * busy_poll.ts).
   */
  busyPollUs?: number;
}

/**
 * How a busy-poll ended: the awaited answer taken, the budget spent, the connection ended (or
 * failed) meanwhile, or no poll at all (off, or not possible here).
 */
export type PollOutcome = "answered" | "timed-out" | "ended" | "off";

/** A stream we opened. */
export class H2Stream {
  /** What we may still send before the peer's WINDOW_UPDATE. */
  sendWindow: number;
  /** What the peer may still send us. */
  recvWindow: number;
  /** Received bytes we have not yet granted back. */
  recvUnacked = 0;
  /** Data waiting for window, and whether END_STREAM follows it. */
  pending: Uint8Array[] = [];
  pendingEnd = false;
  localEnded = false;
  constructor(
    readonly id: number,
    readonly handler: StreamHandler,
    sendWindow: number,
    recvWindow: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }
}

const HTTP1_PREFIX = new TextEncoder().encode("HTTP/1.");
/** Responses carry a few short headers: a longer block is a broken or hostile server. */
const MAX_HEADER_BLOCK = 256 * 1024;

/** An open HTTP/2 connection; see the module documentation. */
export class H2Connection {
  readonly address: string;
  readonly #tcp: Deno.TcpConn;
  readonly #reader: FrameReader;
  readonly #decoder = new HeaderDecoder();
  /** Made at the first stream, with the peer's table size from its SETTINGS. */
  #encoder?: HeaderEncoder;
  #peerTableSize = DEFAULT_TABLE_SIZE;
  readonly #streams = new Map<number, H2Stream>();
  readonly #streamWindow: number;
  readonly #connectionWindow: number;
  #nextStreamId = 1;
  // Peer's settings (what we must respect when sending).
  #peerMaxFrame = DEFAULT_MAX_FRAME;
  #peerInitialWindow = DEFAULT_WINDOW;
  #sendWindow = DEFAULT_WINDOW;
  // Our receive window of the connection.
  #recvWindow = DEFAULT_WINDOW;
  #recvUnacked = 0;
  // A header block in progress (HEADERS without END_HEADERS, then CONTINUATIONs).
  #block?: { streamId: number; parts: Uint8Array[]; size: number; endStream: boolean };
  readonly #writer: SocketWriter;
  readonly #busyPollMs: number;
  /** Made at the first poll; null when busy-polling is not possible here. */
  #poller?: SocketPoller | null;
  #pollBuf?: Uint8Array;
  /** Bytes handled so far (read loop and polls), to tell whether Deno holds unhandled ones. */
  #bytesIn = 0;
  // Lifecycle.
  #gotSettings = false;
  #settled?: (err?: Error) => void;
  #draining = false;
  #error?: ConnectionError;
  #closedResolve!: () => void;
  /** Resolves once the connection is closed (for any reason). */
  readonly closed: Promise<void> = new Promise((r) => this.#closedResolve = r);
  /** Called once when the connection closes (with why, unless we closed it). */
  onClose?: (err?: ConnectionError) => void;

  private constructor(tcp: Deno.TcpConn, address: string, options: ConnectionOptions) {
    this.#tcp = tcp;
    this.address = address;
    this.#writer = new SocketWriter(
      tcp,
      (err) => this.#fail(new ConnectionError(`write to ${address}: ${err.message}`)),
    );
    this.#reader = new FrameReader(options.maxFrameSize ?? 1 << 20);
    this.#streamWindow = options.streamWindow ?? 8 << 20;
    this.#connectionWindow = options.connectionWindow ?? 32 << 20;
    this.#busyPollMs = (options.busyPollUs ?? 0) / 1000;
  }

  /**
   * Connects, sends the preface and our SETTINGS, and waits for the server's SETTINGS. Throws
   * {@link ConnectionError} (refused, timed out, not HTTP/2) and leaves nothing open.
   */
  static async connect(options: ConnectionOptions): Promise<H2Connection> {
    const address = `${options.hostname}:${options.port}`;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new ConnectionError(`no HTTP/2 answer within ${options.timeoutMs} ms`));
      }, options.timeoutMs);
    });
    try {
      const connecting = Deno.connect({ hostname: options.hostname, port: options.port });
      // A connect that succeeds after the timeout closes what it opened.
      connecting.then((c) => timedOut && c.close(), () => {});
      let tcp: Deno.TcpConn;
      try {
        tcp = await Promise.race([connecting, timeout]);
      } catch (err) {
        if (err instanceof ConnectionError) throw err;
        throw new ConnectionError(`connect: ${(err as Error).message}`, false, { cause: err });
      }
      tcp.setNoDelay(true);
      const conn = new H2Connection(tcp, address, options);
      try {
        await Promise.race([conn.#start(), timeout]);
      } catch (err) {
        const e = err instanceof ConnectionError ? err : new ConnectionError(String(err));
        conn.#fail(e);
        throw e;
      }
      return conn;
    } finally {
      clearTimeout(timer);
    }
  }

  #start(): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => {
      this.#settled = (err) => (err ? reject(err) : resolve());
    });
    this.#queue(
      CLIENT_PREFACE,
      encodeSettings([
        [Setting.ENABLE_PUSH, 0],
        [Setting.INITIAL_WINDOW_SIZE, this.#streamWindow],
        [Setting.MAX_FRAME_SIZE, this.#reader.maxFrameSize],
      ]),
    );
    if (this.#connectionWindow > DEFAULT_WINDOW) {
      this.#queue(encodeWindowUpdate(0, this.#connectionWindow - DEFAULT_WINDOW));
      this.#recvWindow = this.#connectionWindow;
    }
    this.#readLoop();
    return ready;
  }

  /** False once the connection is closing or closed, or out of stream ids: open a new one. */
  get usable(): boolean {
    return !this.#error && !this.#draining && this.#nextStreamId < MAX_WINDOW;
  }

  /** Streams open now. */
  get openStreams(): number {
    return this.#streams.size;
  }

  /**
   * Opens a stream and sends its headers (encoded now by the connection's HPACK encoder, so
   * blocks leave in the order they were encoded), then `data` (its parts sent as one), then
   * END_STREAM when `endStream`. Throws {@link ConnectionError} when the connection is unusable.
   */
  openStream(
    headers: RequestHeaders,
    handler: StreamHandler,
    data?: readonly Uint8Array[],
    endStream = false,
  ): H2Stream {
    if (this.#error) throw this.#error;
    if (!this.usable) throw new ConnectionError(`connection to ${this.address} is closing`);
    this.#encoder ??= new HeaderEncoder(this.#peerTableSize);
    const block = this.#encoder.encode(headers);
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    const stream = new H2Stream(id, handler, this.#peerInitialWindow, this.#streamWindow);
    this.#streams.set(id, stream);
    let size = 0;
    for (const part of data ?? []) size += part.length;
    const max = this.#peerMaxFrame;
    if (data && block.length <= max && size <= Math.min(max, stream.sendWindow, this.#sendWindow)) {
      // The common case (a request that fits the windows): HEADERS and DATA built in one buffer,
      // written at once.
      const out = smallBytes(2 * FRAME_HEADER + block.length + size);
      writeFrameHeader(out, 0, block.length, FrameType.HEADERS, Flag.END_HEADERS, id);
      out.set(block, FRAME_HEADER);
      let pos = FRAME_HEADER + block.length;
      writeFrameHeader(out, pos, size, FrameType.DATA, endStream ? Flag.END_STREAM : 0, id);
      pos += FRAME_HEADER;
      for (const part of data) {
        out.set(part, pos);
        pos += part.length;
      }
      stream.sendWindow -= size;
      this.#sendWindow -= size;
      stream.localEnded = endStream;
      this.#writer.send(out);
      return stream;
    }
    const headersEnd = endStream && !data;
    if (block.length <= max) {
      // The block may be shared by calls of a method: send it as it is, behind its own header.
      const flags = Flag.END_HEADERS | (headersEnd ? Flag.END_STREAM : 0);
      this.#queue(encodeFrameHeader(block.length, FrameType.HEADERS, flags, id), block);
    } else this.#queue(encodeHeaders(id, block, headersEnd, max));
    stream.localEnded = headersEnd;
    if (data) this.sendData(stream, data.length === 1 ? data[0] : concatBytes(data), endStream);
    return stream;
  }

  /** Sends data on a stream as windows allow (queued meanwhile), then END_STREAM when `end`. */
  sendData(stream: H2Stream, data: Uint8Array, end = false): void {
    if (stream.localEnded) throw new Error(`stream ${stream.id} already ended`);
    if (data.length) stream.pending.push(data);
    if (end) {
      stream.pendingEnd = true;
      stream.localEnded = true;
    }
    this.#pump(stream);
  }

  /** Sends as much of a stream's pending data as both send windows and the frame size allow. */
  #pump(stream: H2Stream): void {
    if (this.#error || !this.#streams.has(stream.id)) return;
    while (stream.pending.length) {
      const chunk = stream.pending[0];
      const n = Math.min(chunk.length, this.#peerMaxFrame, stream.sendWindow, this.#sendWindow);
      if (n <= 0) return;
      const last = n === chunk.length && stream.pending.length === 1;
      const flags = last && stream.pendingEnd ? Flag.END_STREAM : 0;
      this.#queue(encodeFrameHeader(n, FrameType.DATA, flags, stream.id), chunk.subarray(0, n));
      stream.sendWindow -= n;
      this.#sendWindow -= n;
      if (n === chunk.length) stream.pending.shift();
      else stream.pending[0] = chunk.subarray(n);
      if (last && stream.pendingEnd) {
        stream.pendingEnd = false;
        return;
      }
    }
    if (stream.pendingEnd) {
      stream.pendingEnd = false;
      this.#queue(encodeFrameHeader(0, FrameType.DATA, Flag.END_STREAM, stream.id));
    }
  }

  /** Resets a stream (we give up on it) and forgets it. */
  reset(stream: H2Stream, h2Code: number = H2Error.CANCEL): void {
    if (!this.#streams.delete(stream.id) || this.#error) return;
    this.#queue(encodeRstStream(stream.id, h2Code));
    this.#maybeFinishDraining();
  }

  /** Grants the peer `n` more bytes on a stream whose received data we processed. */
  release(stream: H2Stream, n: number): void {
    stream.recvUnacked += n;
    stream.recvWindow += n;
    if (stream.recvUnacked >= this.#streamWindow / 2 && this.#streams.has(stream.id)) {
      this.#queue(encodeWindowUpdate(stream.id, stream.recvUnacked));
      stream.recvUnacked = 0;
    }
  }

  /** Says goodbye (GOAWAY NO_ERROR) and closes; open streams fail. Safe to call twice. */
  close(): void {
    if (this.#error) return;
    this.#queue(encodeGoaway(0, H2Error.NO_ERROR));
    this.#fail(new ConnectionError(`connection to ${this.address} closed by us`), true);
  }

  #queue(...parts: Uint8Array[]): void {
    this.#writer.queue(...parts);
  }

  /** Starts writing what is queued now rather than at the end of this turn. */
  flush(): void {
    if (!this.#error) this.#writer.flush();
  }

  /** True when nothing is waiting to be written: what is sent next leaves in this turn. */
  get writeIdle(): boolean {
    return !this.#writer.busy;
  }

  /**
   * Busy-polls the socket on this thread, handling what arrives as the read loop would, until
   * `done()` or the budget ({@link ConnectionOptions.busyPollUs}) is spent; then returns, and the
   * read loop goes on as before. For a lone call whose request already left (see busy_poll.ts).
   */
  pollUntil(done: () => boolean): PollOutcome {
    if (!this.#busyPollMs || this.#error || !this.#gotSettings) return "off";
    if (this.#poller === undefined) this.#poller = SocketPoller.open(this.#tcp) ?? null;
    const poller = this.#poller;
    // A read of Deno's whose bytes are not handled yet would be overtaken: see busy_poll.ts.
    if (!poller || poller.consumed() !== this.#bytesIn) return "off";
    const buf = this.#pollBuf ??= new Uint8Array(64 * 1024);
    const end = performance.now() + this.#busyPollMs;
    for (;;) {
      const n = poller.read(buf);
      if (n > 0) {
        this.#receive(buf.subarray(0, n));
        if (done()) return "answered";
        if (this.#error) return "ended";
      } else if (n === 0) {
        return "ended"; // the read loop sees the end of the stream too
      } else if (performance.now() >= end) {
        return "timed-out";
      }
    }
  }

  // --- reading ---------------------------------------------------------------------------------

  async #readLoop(): Promise<void> {
    const buf = new Uint8Array(256 * 1024);
    let first = true;
    try {
      while (!this.#error) {
        let n: number | null;
        try {
          n = await this.#tcp.read(buf);
        } catch (err) {
          if (this.#error) return;
          throw new ConnectionError(`read from ${this.address}: ${(err as Error).message}`);
        }
        if (n === null) {
          const partial = this.#reader.pending;
          throw new ConnectionError(
            partial
              ? `${this.address} closed the connection in the middle of a frame ` +
                `(${partial} bytes of it received)`
              : `${this.address} closed the connection`,
          );
        }
        const chunk = buf.subarray(0, n);
        if (first) {
          first = false;
          if (startsWith(chunk, HTTP1_PREFIX)) {
            throw new ConnectionError(
              `${this.address} answered in HTTP/1.1, not HTTP/2: is it a gRPC server?`,
              true,
            );
          }
        }
        this.#receive(chunk);
      }
    } catch (err) {
      this.#failOn(err);
    }
  }

  /** Handles received bytes; a protocol error fails the connection. */
  #receive(chunk: Uint8Array): void {
    this.#bytesIn += chunk.length;
    try {
      for (const frame of this.#reader.push(chunk)) this.#onFrame(frame);
    } catch (err) {
      this.#failOn(err);
    }
  }

  #failOn(err: unknown): void {
    if (err instanceof H2ProtocolError) {
      if (!this.#error) {
        // Last stream id 0: we accept no streams from the server (push is off).
        this.#queue(encodeGoaway(0, err.h2Code, err.message));
      }
      this.#fail(
        new ConnectionError(`HTTP/2 protocol error from ${this.address}: ${err.message}`, true),
      );
    } else {
      this.#fail(
        err instanceof ConnectionError
          ? err
          : new ConnectionError(`${this.address}: ${String(err)}`, false, { cause: err }),
      );
    }
  }

  #onFrame(frame: Frame): void {
    if (!this.#gotSettings && frame.type !== FrameType.SETTINGS) {
      throw new H2ProtocolError(`the server's first frame is type ${frame.type}, not SETTINGS`);
    }
    if (this.#block && frame.type !== FrameType.CONTINUATION) {
      throw new H2ProtocolError(`frame type ${frame.type} inside a header block`);
    }
    switch (frame.type) {
      case FrameType.DATA:
        return this.#onData(frame);
      case FrameType.HEADERS:
        this.#block = {
          streamId: frame.streamId,
          parts: [frame.payload],
          size: frame.payload.length,
          endStream: (frame.flags & Flag.END_STREAM) !== 0,
        };
        if (frame.flags & Flag.END_HEADERS) this.#endBlock();
        else this.#block.parts[0] = frame.payload.slice(); // Reused buffer: keep a copy.
        return;
      case FrameType.CONTINUATION:
        if (!this.#block || this.#block.streamId !== frame.streamId) {
          throw new H2ProtocolError(`CONTINUATION on stream ${frame.streamId} without HEADERS`);
        }
        this.#block.parts.push(
          frame.flags & Flag.END_HEADERS ? frame.payload : frame.payload.slice(),
        );
        this.#block.size += frame.payload.length;
        if (this.#block.size > MAX_HEADER_BLOCK) {
          throw new H2ProtocolError(
            `header block on stream ${frame.streamId} longer than ${MAX_HEADER_BLOCK} bytes`,
            H2Error.ENHANCE_YOUR_CALM,
          );
        }
        if (frame.flags & Flag.END_HEADERS) this.#endBlock();
        return;
      case FrameType.RST_STREAM: {
        const stream = this.#streams.get(frame.streamId);
        if (stream) {
          this.#streams.delete(frame.streamId);
          stream.handler.onReset(readUint32(frame.payload));
          this.#maybeFinishDraining();
        } else this.#checkKnown(frame.streamId);
        return;
      }
      case FrameType.SETTINGS:
        return this.#onSettings(frame);
      case FrameType.PING:
        if (!(frame.flags & Flag.ACK)) this.#queue(encodePing(frame.payload.slice(), true));
        return;
      case FrameType.GOAWAY:
        return this.#onGoaway(frame);
      case FrameType.WINDOW_UPDATE:
        return this.#onWindowUpdate(frame);
      case FrameType.PUSH_PROMISE:
        throw new H2ProtocolError("PUSH_PROMISE although we disabled push");
      default:
        return; // PRIORITY and unknown types are ignored (RFC 9113 §5.5).
    }
  }

  /** A frame for a stream we no longer have: fine if we opened it once, an error otherwise. */
  #checkKnown(streamId: number): void {
    if (streamId % 2 === 0 || streamId >= this.#nextStreamId) {
      throw new H2ProtocolError(`frame on stream ${streamId}, which we never opened`);
    }
  }

  #onData(frame: Frame): void {
    this.#recvWindow -= frame.length;
    if (this.#recvWindow < 0) {
      throw new H2ProtocolError(
        `DATA beyond the connection's flow-control window`,
        H2Error.FLOW_CONTROL_ERROR,
      );
    }
    // The connection's window is given back on receipt: what we hold is bounded by the streams'.
    this.#recvUnacked += frame.length;
    if (this.#recvUnacked >= this.#connectionWindow / 2) {
      this.#queue(encodeWindowUpdate(0, this.#recvUnacked));
      this.#recvWindow += this.#recvUnacked;
      this.#recvUnacked = 0;
    }
    const stream = this.#streams.get(frame.streamId);
    if (!stream) return this.#checkKnown(frame.streamId);
    stream.recvWindow -= frame.length;
    if (stream.recvWindow < 0) {
      this.#streams.delete(stream.id);
      this.#queue(encodeRstStream(stream.id, H2Error.FLOW_CONTROL_ERROR));
      stream.handler.onConnectionError(
        new ConnectionError(`${this.address} sent DATA beyond stream ${stream.id}'s window`, true),
      );
      return;
    }
    const end = (frame.flags & Flag.END_STREAM) !== 0;
    if (end) this.#remoteEnded(stream);
    // Padding is consumed at once; the data when the handler releases it.
    if (frame.length > frame.payload.length) {
      this.release(stream, frame.length - frame.payload.length);
    }
    stream.handler.onData(frame.payload, end);
  }

  #endBlock(): void {
    const block = this.#block!;
    this.#block = undefined;
    const bytes = block.parts.length === 1 ? block.parts[0] : concatBytes(block.parts);
    // Decode even for a stream we reset: the peer's encoder state includes this block.
    const fields = this.#decoder.decode(bytes);
    const stream = this.#streams.get(block.streamId);
    if (!stream) return this.#checkKnown(block.streamId);
    if (block.endStream) this.#remoteEnded(stream);
    stream.handler.onHeaders(fields, block.endStream);
  }

  /** The peer ended a stream: forget it (ending ours too if we had not). */
  #remoteEnded(stream: H2Stream): void {
    this.#streams.delete(stream.id);
    if (!stream.localEnded) this.#queue(encodeRstStream(stream.id, H2Error.NO_ERROR));
    this.#maybeFinishDraining();
  }

  #onSettings(frame: Frame): void {
    if (frame.flags & Flag.ACK) {
      if (frame.payload.length) {
        throw new H2ProtocolError("SETTINGS ACK with a payload", H2Error.FRAME_SIZE_ERROR);
      }
      return;
    }
    for (const [id, value] of decodeSettings(frame.payload)) {
      if (id === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME || value > 0xffffff) {
          throw new H2ProtocolError(`SETTINGS_MAX_FRAME_SIZE ${value} out of range`);
        }
        this.#peerMaxFrame = value;
      } else if (id === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) {
          throw new H2ProtocolError(
            `SETTINGS_INITIAL_WINDOW_SIZE ${value} out of range`,
            H2Error.FLOW_CONTROL_ERROR,
          );
        }
        const delta = value - this.#peerInitialWindow;
        this.#peerInitialWindow = value;
        for (const s of this.#streams.values()) s.sendWindow += delta;
        if (delta > 0) this.#pumpAll();
      } else if (id === Setting.HEADER_TABLE_SIZE) {
        this.#peerTableSize = value;
        this.#encoder?.peerTableSize(value);
      } else if (id === Setting.ENABLE_PUSH && value > 1) {
        throw new H2ProtocolError(`SETTINGS_ENABLE_PUSH ${value} is not 0 or 1`);
      }
    }
    this.#queue(encodeSettings([], true));
    if (!this.#gotSettings) {
      this.#gotSettings = true;
      this.#settled?.();
      this.#settled = undefined;
    }
  }

  #onGoaway(frame: Frame): void {
    if (frame.payload.length < 8) {
      throw new H2ProtocolError("GOAWAY shorter than 8 bytes", H2Error.FRAME_SIZE_ERROR);
    }
    const last = readUint32(frame.payload, 0, true);
    const code = readUint32(frame.payload, 4);
    const debug = new TextDecoder().decode(frame.payload.subarray(8));
    this.#draining = true;
    const why = `${this.address} is going away (GOAWAY ${h2ErrorName(code)}${
      debug ? `: ${debug}` : ""
    })`;
    for (const [id, stream] of this.#streams) {
      if (id > last) {
        this.#streams.delete(id);
        stream.handler.onConnectionError(new ConnectionError(why, code !== H2Error.NO_ERROR));
      }
    }
    this.#maybeFinishDraining();
  }

  #onWindowUpdate(frame: Frame): void {
    const inc = readUint32(frame.payload, 0, true);
    if (frame.streamId === 0) {
      if (inc === 0) throw new H2ProtocolError("WINDOW_UPDATE of 0 on the connection");
      this.#sendWindow += inc;
      if (this.#sendWindow > MAX_WINDOW) {
        throw new H2ProtocolError("connection window above 2^31-1", H2Error.FLOW_CONTROL_ERROR);
      }
      this.#pumpAll();
      return;
    }
    const stream = this.#streams.get(frame.streamId);
    if (!stream) return this.#checkKnown(frame.streamId);
    if (inc === 0 || stream.sendWindow + inc > MAX_WINDOW) {
      this.#streams.delete(stream.id);
      this.#queue(
        encodeRstStream(
          stream.id,
          inc === 0 ? H2Error.PROTOCOL_ERROR : H2Error.FLOW_CONTROL_ERROR,
        ),
      );
      stream.handler.onConnectionError(
        new ConnectionError(
          `${this.address} sent a bad WINDOW_UPDATE on stream ${stream.id}`,
          true,
        ),
      );
      return;
    }
    stream.sendWindow += inc;
    this.#pump(stream);
  }

  #pumpAll(): void {
    for (const s of this.#streams.values()) if (s.pending.length || s.pendingEnd) this.#pump(s);
  }

  #maybeFinishDraining(): void {
    if (this.#draining && !this.#streams.size && !this.#error) this.close();
  }

  /** Ends the connection: every stream gets `err` (unless we closed it), the socket closes. */
  #fail(err: ConnectionError, byUs = false): void {
    if (this.#error) return;
    this.#error = err;
    this.#settled?.(err);
    this.#settled = undefined;
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const s of streams) s.handler.onConnectionError(err);
    // Let a queued GOAWAY leave first (for at most 100 ms), then close.
    const closeSocket = () => {
      try {
        this.#tcp.close();
      } catch { /* already closed */ }
      this.#closedResolve();
      this.onClose?.(byUs ? undefined : err);
    };
    if (!this.#writer.busy) return closeSocket();
    let give: ReturnType<typeof setTimeout> | undefined;
    Promise.race([
      this.#writer.flush(),
      new Promise((r) => give = setTimeout(r, 100)),
    ]).finally(() => {
      clearTimeout(give);
      closeSocket();
    });
  }
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}
