/**
 * gRPC's length-prefixed messages (PROTOCOL-HTTP2.md): a flag byte (1 = compressed) and a 32-bit
 * big-endian length before each message, cut across DATA frames however the sender likes. Pure.
 *
 * @module
 */
import { Code } from "../messages.ts";
import { RpcError } from "./status.ts";
import { smallBytes } from "../byte_slab.ts";

/** Bytes of the prefix. */
export const PREFIX = 5;

/** The 5-byte prefix of an uncompressed message of `length` bytes. */
export function messagePrefix(length: number): Uint8Array {
  const p = smallBytes(PREFIX);
  p[1] = length >>> 24;
  p[2] = (length >>> 16) & 0xff;
  p[3] = (length >>> 8) & 0xff;
  p[4] = length & 0xff;
  return p;
}

/** Every empty message (a WriteResponse is one): nothing in it to change. */
const EMPTY = new Uint8Array(0);

/**
 * Reassembles messages from DATA payloads. Throws {@link RpcError} for a compressed message (we
 * never offer compression) or one larger than `maxMessage`.
 */
export class MessageParser {
  // Allocated only for a prefix cut across DATA frames (most calls never need it).
  #prefix?: Uint8Array;
  #prefixHave = 0;
  #message?: Uint8Array;
  #have = 0;

  constructor(readonly maxMessage: number) {}

  /** True between messages (nothing of a next one received yet). */
  get idle(): boolean {
    return this.#prefixHave === 0 && this.#message === undefined;
  }

  /**
   * Whole messages completed by `data`, as copies (so `data` may be a view of a buffer the caller
   * reuses).
   */
  push(data: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let pos = 0;
    while (pos < data.length) {
      if (this.#message === undefined) {
        // Fast path: a whole message inside this payload.
        if (this.#prefixHave === 0 && data.length - pos >= PREFIX) {
          const len = this.#length(data, pos);
          if (data.length - pos - PREFIX >= len) {
            // A copy (data is a view of the read buffer), without slice(): its species lookup
            // made it several times slower than this for the small messages of P4Runtime.
            const message = len === 0 ? EMPTY : smallBytes(len);
            if (len) message.set(data.subarray(pos + PREFIX, pos + PREFIX + len));
            out.push(message);
            pos += PREFIX + len;
            continue;
          }
        }
        const take = Math.min(PREFIX - this.#prefixHave, data.length - pos);
        this.#prefix ??= new Uint8Array(PREFIX);
        this.#prefix.set(data.subarray(pos, pos + take), this.#prefixHave);
        this.#prefixHave += take;
        pos += take;
        if (this.#prefixHave < PREFIX) break;
        this.#message = new Uint8Array(this.#length(this.#prefix!, 0));
        this.#have = 0;
        this.#prefixHave = 0;
      }
      const take = Math.min(this.#message.length - this.#have, data.length - pos);
      this.#message.set(data.subarray(pos, pos + take), this.#have);
      this.#have += take;
      pos += take;
      if (this.#have === this.#message.length) {
        out.push(this.#message);
        this.#message = undefined;
      }
    }
    return out;
  }

  #length(bytes: Uint8Array, at: number): number {
    if (bytes[at] !== 0) {
      throw new RpcError(
        Code.INTERNAL,
        bytes[at] === 1
          ? "the server sent a compressed message, which we did not offer"
          : `bad message flag ${bytes[at]}`,
      );
    }
    const len = ((bytes[at + 1] << 24) | (bytes[at + 2] << 16) | (bytes[at + 3] << 8) |
      bytes[at + 4]) >>> 0;
    if (len > this.maxMessage) {
      throw new RpcError(
        Code.RESOURCE_EXHAUSTED,
        `a message of ${len} bytes exceeds the limit of ${this.maxMessage}`,
      );
    }
    return len;
  }
}
