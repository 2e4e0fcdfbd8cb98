/**
 * The HTTP/2 frame layer (RFC 9113 §4, §6), pure: frame types, flags, error codes, encoders that
 * write a frame into bytes, and {@link FrameReader}, which cuts a byte stream into frames and
 * checks each one's shape (lengths, stream ids, padding) before anything acts on it. No I/O and no
 * state beyond the bytes not yet framed, so it is tested byte for byte.
 *
 * ```ts
 * const reader = new FrameReader(16_384);
 * for (const frame of reader.push(chunk)) console.log(frame.type, frame.streamId);
 * ```
 *
 * @module
 */

/** The connection preface a client sends first (RFC 9113 §3.4). */
export const CLIENT_PREFACE: Uint8Array = new TextEncoder().encode(
  "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
);

/** Frame header size in bytes. */
export const FRAME_HEADER = 9;
/** The smallest SETTINGS_MAX_FRAME_SIZE, which every peer accepts. */
export const DEFAULT_MAX_FRAME = 16_384;
/** Every window starts here until SETTINGS or WINDOW_UPDATE change it. */
export const DEFAULT_WINDOW = 65_535;
/** Windows and window increments are 31-bit. */
export const MAX_WINDOW = 2 ** 31 - 1;

export const FrameType = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 1,
  ENABLE_PUSH: 2,
  MAX_CONCURRENT_STREAMS: 3,
  INITIAL_WINDOW_SIZE: 4,
  MAX_FRAME_SIZE: 5,
  MAX_HEADER_LIST_SIZE: 6,
} as const;

/** HTTP/2 error codes (RFC 9113 §7). */
export const H2Error = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  SETTINGS_TIMEOUT: 4,
  STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
  CONNECT_ERROR: 10,
  ENHANCE_YOUR_CALM: 11,
  INADEQUATE_SECURITY: 12,
  HTTP_1_1_REQUIRED: 13,
} as const;

/** The name of an HTTP/2 error code ("PROTOCOL_ERROR"), or its number when unknown. */
export function h2ErrorName(code: number): string {
  return Object.entries(H2Error).find(([, c]) => c === code)?.[0] ?? `error ${code}`;
}

/**
 * The peer broke the protocol; the connection cannot go on. `h2Code` is what our GOAWAY says.
 */
export class H2ProtocolError extends Error {
  override name = "H2ProtocolError";
  constructor(message: string, readonly h2Code: number = H2Error.PROTOCOL_ERROR) {
    super(message);
  }
}

/** One frame; `payload` is a view without the padding of DATA and HEADERS. */
export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Uint8Array;
  /** The payload's length on the wire, padding included (what flow control counts). */
  length: number;
}

/** Writes a frame header into `out` at `at` (for frames built in place). */
export function writeFrameHeader(
  out: Uint8Array,
  at: number,
  length: number,
  type: number,
  flags: number,
  streamId: number,
): void {
  out[at] = length >>> 16;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  out[at + 5] = (streamId >>> 24) & 0x7f;
  out[at + 6] = (streamId >>> 16) & 0xff;
  out[at + 7] = (streamId >>> 8) & 0xff;
  out[at + 8] = streamId & 0xff;
}

/** A frame header alone (its payload follows separately, as with DATA sent without a copy). */
export function encodeFrameHeader(
  length: number,
  type: number,
  flags: number,
  streamId: number,
): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER);
  writeFrameHeader(out, 0, length, type, flags, streamId);
  return out;
}

/** A frame with `payload` as its body. */
export function encodeFrame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER + payload.length);
  writeFrameHeader(out, 0, payload.length, type, flags, streamId);
  out.set(payload, FRAME_HEADER);
  return out;
}

/**
 * A header block as one HEADERS frame and as many CONTINUATION frames as `maxFrame` needs, in one
 * buffer (nothing may come between them on the connection).
 */
export function encodeHeaders(
  streamId: number,
  block: Uint8Array,
  endStream: boolean,
  maxFrame: number,
): Uint8Array {
  const frames = Math.max(1, Math.ceil(block.length / maxFrame));
  const out = new Uint8Array(frames * FRAME_HEADER + block.length);
  let pos = 0;
  for (let i = 0; i < frames; i++) {
    const chunk = block.subarray(i * maxFrame, (i + 1) * maxFrame);
    const last = i === frames - 1;
    const flags = (last ? Flag.END_HEADERS : 0) | (i === 0 && endStream ? Flag.END_STREAM : 0);
    writeFrameHeader(
      out,
      pos,
      chunk.length,
      i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION,
      flags,
      streamId,
    );
    out.set(chunk, pos + FRAME_HEADER);
    pos += FRAME_HEADER + chunk.length;
  }
  return out;
}

/** A SETTINGS frame with the given values (no values and `ack` for the acknowledgement). */
export function encodeSettings(values: ReadonlyArray<[number, number]>, ack = false): Uint8Array {
  const payload = new Uint8Array(values.length * 6);
  const view = new DataView(payload.buffer);
  values.forEach(([id, value], i) => {
    view.setUint16(i * 6, id);
    view.setUint32(i * 6 + 2, value);
  });
  return encodeFrame(FrameType.SETTINGS, ack ? Flag.ACK : 0, 0, payload);
}

/** A WINDOW_UPDATE frame granting `increment` bytes (1 .. 2^31-1). */
export function encodeWindowUpdate(streamId: number, increment: number): Uint8Array {
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, increment & MAX_WINDOW);
  return encodeFrame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

/** A RST_STREAM frame. */
export function encodeRstStream(streamId: number, code: number): Uint8Array {
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, code);
  return encodeFrame(FrameType.RST_STREAM, 0, streamId, payload);
}

/** A GOAWAY frame: the last stream we processed, an error code and optional debug text. */
export function encodeGoaway(lastStreamId: number, code: number, debug = ""): Uint8Array {
  const text = new TextEncoder().encode(debug);
  const payload = new Uint8Array(8 + text.length);
  const view = new DataView(payload.buffer);
  view.setUint32(0, lastStreamId & MAX_WINDOW);
  view.setUint32(4, code);
  payload.set(text, 8);
  return encodeFrame(FrameType.GOAWAY, 0, 0, payload);
}

/** A PING frame with its 8 opaque bytes. */
export function encodePing(data: Uint8Array, ack: boolean): Uint8Array {
  if (data.length !== 8) throw new RangeError(`A PING carries 8 bytes, not ${data.length}`);
  return encodeFrame(FrameType.PING, ack ? Flag.ACK : 0, 0, data);
}

/** SETTINGS payload as [id, value] pairs; its length must be a multiple of 6. */
export function decodeSettings(payload: Uint8Array): Array<[number, number]> {
  if (payload.length % 6) {
    throw new H2ProtocolError(
      `SETTINGS payload of ${payload.length} bytes is not a multiple of 6`,
      H2Error.FRAME_SIZE_ERROR,
    );
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const out: Array<[number, number]> = [];
  for (let i = 0; i < payload.length; i += 6) out.push([view.getUint16(i), view.getUint32(i + 2)]);
  return out;
}

/** A 32-bit big-endian value at `at` of a frame's payload (31 bits when `mask`). */
export function readUint32(payload: Uint8Array, at = 0, mask = false): number {
  const v = ((payload[at] << 24) | (payload[at + 1] << 16) | (payload[at + 2] << 8) |
    payload[at + 3]) >>> 0;
  return mask ? v & MAX_WINDOW : v;
}

/** The required payload length of fixed-size frames. */
const FIXED_LENGTH: Partial<Record<number, number>> = {
  [FrameType.PRIORITY]: 5,
  [FrameType.RST_STREAM]: 4,
  [FrameType.PING]: 8,
  [FrameType.WINDOW_UPDATE]: 4,
};
/** Frames that belong to a stream (stream id ≠ 0) and those of the connection (stream id 0). */
const ON_STREAM = new Set<number>([
  FrameType.DATA,
  FrameType.HEADERS,
  FrameType.PRIORITY,
  FrameType.RST_STREAM,
  FrameType.PUSH_PROMISE,
  FrameType.CONTINUATION,
]);
const ON_CONNECTION = new Set<number>([FrameType.SETTINGS, FrameType.PING, FrameType.GOAWAY]);

/**
 * Cuts received bytes into frames. Throws {@link H2ProtocolError} for a frame longer than
 * `maxFrameSize` (what we advertised), a frame on the wrong kind of stream, a fixed-size frame of
 * the wrong size, or padding longer than its frame. Frames of unknown types are passed on (the
 * caller ignores them, as RFC 9113 §4.1 says).
 */
export class FrameReader {
  #buf = new Uint8Array(0);
  #start = 0;
  #end = 0;

  constructor(readonly maxFrameSize: number = DEFAULT_MAX_FRAME) {}

  /** Bytes received but not yet a whole frame. */
  get pending(): number {
    return this.#end - this.#start;
  }

  /**
   * The whole frames now available after appending `chunk`. Payloads are copies when a frame
   * straddled chunks and views of `chunk` otherwise, so callers must not keep `chunk`'s buffer
   * for reuse while they hold a frame.
   */
  push(chunk: Uint8Array): Frame[] {
    let data: Uint8Array;
    let pos: number;
    let end: number;
    if (this.#end === this.#start) {
      data = chunk;
      pos = 0;
      end = chunk.length;
    } else {
      this.#append(chunk);
      data = this.#buf;
      pos = this.#start;
      end = this.#end;
    }
    const frames: Frame[] = [];
    while (end - pos >= FRAME_HEADER) {
      const length = (data[pos] << 16) | (data[pos + 1] << 8) | data[pos + 2];
      if (length > this.maxFrameSize) {
        throw new H2ProtocolError(
          `frame of ${length} bytes (type ${data[pos + 3]}) exceeds our maximum of ` +
            `${this.maxFrameSize}`,
          H2Error.FRAME_SIZE_ERROR,
        );
      }
      if (end - pos < FRAME_HEADER + length) break;
      const type = data[pos + 3];
      const flags = data[pos + 4];
      const streamId = readUint32(data, pos + 5, true);
      const payload = data.subarray(pos + FRAME_HEADER, pos + FRAME_HEADER + length);
      frames.push(checkFrame(type, flags, streamId, payload));
      pos += FRAME_HEADER + length;
    }
    if (data === chunk) {
      // Keep the tail (a partial frame) as a copy: the caller reuses its read buffer.
      if (pos < end) {
        this.#buf = chunk.slice(pos, end);
        this.#start = 0;
        this.#end = this.#buf.length;
      }
    } else {
      this.#start = pos;
      if (pos === end) this.#start = this.#end = 0;
    }
    return frames;
  }

  #append(chunk: Uint8Array): void {
    const have = this.#end - this.#start;
    if (this.#buf.length - this.#end < chunk.length) {
      const grown = new Uint8Array(Math.max(2 * (have + chunk.length), 4096));
      grown.set(this.#buf.subarray(this.#start, this.#end), 0);
      this.#buf = grown;
      this.#start = 0;
      this.#end = have;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }
}

/** Checks one frame's shape and strips DATA/HEADERS padding and the HEADERS priority fields. */
function checkFrame(type: number, flags: number, streamId: number, payload: Uint8Array): Frame {
  if (ON_STREAM.has(type) && streamId === 0) {
    throw new H2ProtocolError(`frame type ${type} on stream 0`);
  }
  if (ON_CONNECTION.has(type) && streamId !== 0) {
    throw new H2ProtocolError(`frame type ${type} on stream ${streamId}, not 0`);
  }
  const fixed = FIXED_LENGTH[type];
  if (fixed !== undefined && payload.length !== fixed) {
    throw new H2ProtocolError(
      `frame type ${type} of ${payload.length} bytes, not ${fixed}`,
      H2Error.FRAME_SIZE_ERROR,
    );
  }
  if (type === FrameType.DATA || type === FrameType.HEADERS) {
    let body = payload;
    if (flags & Flag.PADDED) {
      if (!body.length) throw new H2ProtocolError("PADDED frame without a pad length");
      const pad = body[0];
      if (pad >= body.length) {
        throw new H2ProtocolError(`padding of ${pad} bytes in a frame of ${body.length}`);
      }
      body = body.subarray(1, body.length - pad);
    }
    if (type === FrameType.HEADERS && flags & Flag.PRIORITY) {
      if (body.length < 5) throw new H2ProtocolError("HEADERS too short for its priority");
      body = body.subarray(5);
    }
    return { type, flags, streamId, payload: body, length: payload.length };
  }
  return { type, flags, streamId, payload, length: payload.length };
}
