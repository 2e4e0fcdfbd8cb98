/**
 * Just enough of the protobuf wire format to handle a repeated message field without decoding
 * the whole message at once: split a ReadResponse into its entities (views, no copies), and
 * frame a WriteRequest from updates encoded one by one. Both keep a 10,000-entry read or write
 * from turning into 10,000 message objects alive at the same time, which V8 would promote to
 * old space and keep as resident memory.
 *
 * @module
 */
import { Buffer } from "node:buffer";

const LEN = 2;

/** A message that is not valid protobuf where we parse it. */
export class WireFormatError extends Error {
  override name = "WireFormatError";
}

function readVarint(bytes: Uint8Array, pos: number): [value: number, next: number] {
  let value = 0;
  for (let shift = 0; shift < 64; shift += 7) {
    if (pos >= bytes.length) throw new WireFormatError("Truncated varint");
    const b = bytes[pos++];
    // Lengths and tags are far below 2^53: plain arithmetic is exact, bit operators are not.
    if (shift < 53) value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, pos];
  }
  throw new WireFormatError("Varint longer than 10 bytes");
}

/** The bytes of a varint. */
export function varint(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`Cannot encode ${value} as a varint`);
  }
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
  return Uint8Array.from(out);
}

/**
 * Every occurrence of length-delimited field `field` in an encoded message, in order, as views
 * into `bytes` (other fields are skipped).
 */
export function repeatedField(bytes: Uint8Array, field: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    let tag: number;
    [tag, pos] = readVarint(bytes, pos);
    const wireType = tag & 7;
    let end: number;
    switch (wireType) {
      case 0:
        end = readVarint(bytes, pos)[1];
        break;
      case 1:
        end = pos + 8;
        break;
      case LEN: {
        let len: number;
        [len, pos] = readVarint(bytes, pos);
        end = pos + len;
        break;
      }
      case 5:
        end = pos + 4;
        break;
      default:
        throw new WireFormatError(`Unsupported wire type ${wireType} at byte ${pos}`);
    }
    if (end > bytes.length) throw new WireFormatError(`Field ${tag >>> 3} runs past the end`);
    if (wireType === LEN && Math.floor(tag / 8) === field) out.push(bytes.subarray(pos, end));
    pos = end;
  }
  return out;
}

/**
 * `head` (an encoded message) followed by `items` as occurrences of length-delimited field
 * `field`. Protobuf parsers merge fields in any order and append repeated ones, so this equals
 * encoding the message with those items in the repeated field.
 */
export function appendRepeated(
  head: Uint8Array,
  field: number,
  items: readonly Uint8Array[],
): Buffer {
  const tag = field * 8 + LEN;
  const tagSize = varintSize(tag);
  let size = head.length;
  for (let i = 0; i < items.length; i++) {
    const n = items[i].length;
    size += tagSize + varintSize(n) + n;
  }
  // A Buffer, since grpc-js copies the serialized message with Buffer#copy. Tags and lengths
  // are written in place: a Uint8Array for each cost more than the copying (measured).
  const out = Buffer.allocUnsafe(size);
  out.set(head, 0);
  let pos = head.length;
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    pos = writeVarint(out, writeVarint(out, pos, tag), item.length);
    out.set(item, pos);
    pos += item.length;
  }
  return out;
}

/** Bytes of the varint of `n` (0 <= n < 2^53). */
export function varintSize(n: number): number {
  if (n < 0x10000000) return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4;
  let size = 4;
  for (n = Math.floor(n / 0x10000000); n > 0; n = Math.floor(n / 0x80)) size++;
  return size;
}

/** Writes the varint of `n` (0 <= n < 2^53) at `pos`; returns the position after it. */
function writeVarint(out: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    out[pos++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[pos++] = n;
  return pos;
}
