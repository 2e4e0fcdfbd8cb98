/**
 * Every P4Runtime value encoding in one place: user values (numbers, bigints, IPv4/MAC text, hex,
 * bytes) to canonical bytestrings with bit-width checks, LPM/ternary/range match values, and
 * decoding back for reads.
 *
 * A canonical bytestring (P4Runtime spec, "Bytestrings") is big-endian with leading zero bytes
 * stripped; zero is a single 0x00 byte. Servers must accept it and return it on reads, so values
 * read back compare equal byte-for-byte with what we sent.
 *
 * @module
 */
import { UserError } from "../errors.ts";
import { parseIpv4, parseMac } from "../net/addr.ts";
import { smallBytes } from "./byte_slab.ts";

/** Anything a bit<W> value may be given as. */
export type BitValue = number | bigint | string | Uint8Array;

/**
 * Names the field in error messages (`match field "hdr.ipv4.dstAddr" of table "lb"`). A function
 * is called only when there is an error, so hot paths do not build strings.
 */
export type What = string | (() => string);

function label(what: What): string {
  return typeof what === "string" ? what : what();
}

/** A value that cannot be encoded for a field (malformed text, too wide, bad prefix...). */
export class EncodingError extends UserError {
  override name = "EncodingError";
}

const ZERO = Uint8Array.of(0);

function describe(value: BitValue): string {
  if (value instanceof Uint8Array) return `0x${hex(value) || "(empty)"}`;
  if (typeof value === "string") return JSON.stringify(value);
  return String(value);
}

function hex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

function tooWide(value: BitValue, bitwidth: number, w: What): EncodingError {
  const what = label(w);
  return new EncodingError(
    `Value ${describe(value)} does not fit in ${bitwidth} bits of ${what}`,
    { hint: `${what} is bit<${bitwidth}>: use a value below 2^${bitwidth}` },
  );
}

/**
 * Parses a value into a non-negative bigint that fits `bitwidth` bits.
 * Strings may be decimal, `0x` hex, dotted-quad IPv4 or colon/dash MAC text.
 * `what` names the field in error messages (e.g. `match field "hdr.ipv4.dstAddr"`).
 */
export function toBigInt(value: BitValue, bitwidth: number, what: What = "value"): bigint {
  let v: bigint;
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new EncodingError(
        `Value ${value} for ${label(what)} is not a non-negative integer`,
        { hint: "pass a whole number >= 0, or a bigint for values above 2^53" },
      );
    }
    v = BigInt(value);
  } else if (typeof value === "bigint") {
    if (value < 0n) {
      throw new EncodingError(`Value ${value} for ${label(what)} is negative`, {
        hint: "signed int<W> fields are not supported; pass the two's complement as a bigint",
      });
    }
    v = value;
  } else if (value instanceof Uint8Array) {
    v = bytesToBigInt(value);
  } else {
    v = parseText(value, what);
  }
  if (bitLength(v) > bitwidth) throw tooWide(value, bitwidth, what);
  return v;
}

function parseText(text: string, what: What): bigint {
  const t = text.trim();
  if (/^\d+$/.test(t)) return BigInt(t);
  if (/^0x[0-9a-f]+$/i.test(t)) return BigInt(t);
  const ip = parseIpv4(t);
  if (ip !== undefined) return BigInt(ip);
  const mac = parseMac(t);
  if (mac !== undefined) return bytesToBigInt(mac);
  throw new EncodingError(`Cannot encode ${JSON.stringify(text)} for ${label(what)}`, {
    hint: "use a decimal or 0x-hex number, an IPv4 address (10.0.0.1) or a MAC (aa:bb:cc:dd:ee:ff)",
  });
}

/** Number of significant bits of a non-negative bigint (0 for 0). */
export function bitLength(v: bigint): number {
  if (v < 0x100000000n) return 32 - Math.clz32(Number(v));
  return v.toString(2).length;
}

/** Canonical bytestring of a non-negative safe integer. */
function numberBytes(n: number): Uint8Array {
  if (n <= 0xffffffff) {
    // The common case (ports, addresses, ids) in 32-bit arithmetic.
    const len = n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x1000000 ? 3 : 4;
    const out = smallBytes(len);
    for (let i = len - 1, x = n >>> 0; i >= 0; i--, x >>>= 8) out[i] = x & 0xff;
    return out;
  }
  let len = 1;
  for (let x = n; x >= 256; x = Math.floor(x / 256)) len++;
  const out = smallBytes(len);
  for (let i = len - 1, x = n; i >= 0; i--, x = Math.floor(x / 256)) out[i] = x % 256;
  return out;
}

/** Canonical bytestring of a non-negative bigint: no leading zero bytes, 0 is `[0x00]`. */
export function canonicalBytes(v: bigint): Uint8Array {
  // Most values (ports, addresses, ids) fit a double: no bigint arithmetic for them.
  if (v <= 0x1fffffffffffffn) return numberBytes(Number(v));
  let h = v.toString(16);
  if (h.length & 1) h = "0" + h;
  const out = smallBytes(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Encodes a value as the canonical bytestring of a bit<`bitwidth`> field. */
export function encodeValue(value: BitValue, bitwidth: number, what: What = "value"): Uint8Array {
  // Fast paths without bigints for numbers and IPv4 text, the common cases in hot loops.
  if (typeof value === "string") {
    const ip = parseIpv4(value);
    if (ip !== undefined) value = ip;
    else if (/^\d{1,15}$/.test(value)) value = Number(value);
  }
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) {
    if (bitwidth < 53 && value >= 2 ** bitwidth) throw tooWide(value, bitwidth, what);
    return numberBytes(value);
  }
  if (value instanceof Uint8Array) {
    // Bytes are checked for width and stripped without a bigint round trip.
    let i = 0;
    while (i < value.length - 1 && value[i] === 0) i++;
    const stripped = value.length === 0 ? ZERO : value.subarray(i);
    const bits = (stripped.length - 1) * 8 + (32 - Math.clz32(stripped[0]));
    if (bits > bitwidth) throw tooWide(value, bitwidth, what);
    const copy = smallBytes(stripped.length);
    copy.set(stripped);
    return copy;
  }
  return canonicalBytes(toBigInt(value, bitwidth, what));
}

/** Big-endian bytes (any length, padded or canonical) to a bigint. */
export function bytesToBigInt(bytes: Uint8Array): bigint {
  if (bytes.length <= 6) {
    let n = 0;
    for (const b of bytes) n = n * 256 + b;
    return BigInt(n);
  }
  return bytes.length === 0 ? 0n : BigInt(`0x${hex(bytes)}`);
}

/** Decodes a bytestring read from the switch into a bigint. */
export function decodeValue(bytes: Uint8Array | undefined): bigint {
  return bytes === undefined ? 0n : bytesToBigInt(bytes);
}

/** Decodes a bytestring into a number; throws when it exceeds 2^53 (use {@link decodeValue}). */
export function decodeNumber(bytes: Uint8Array | undefined): number {
  const v = decodeValue(bytes);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`Value 0x${v.toString(16)} exceeds 2^53; decode it as a bigint`);
  }
  return Number(v);
}

/** Mask with the top `prefixLen` of `bitwidth` bits set. */
export function prefixMaskBig(prefixLen: number, bitwidth: number): bigint {
  const all = (1n << BigInt(bitwidth)) - 1n;
  return all ^ ((1n << BigInt(bitwidth - prefixLen)) - 1n);
}

/** An encoded LPM match: value with the bits after the prefix cleared. */
export interface LpmValue {
  value: Uint8Array;
  prefix_len: number;
}

/**
 * Encodes an LPM match. Bits after the prefix are cleared, as the spec requires (a switch rejects
 * them otherwise), so `10.0.0.7/24` is sent as `10.0.0.0/24`.
 */
export function encodeLpm(
  value: BitValue,
  prefixLen: number,
  bitwidth: number,
  what: What = "value",
): LpmValue {
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > bitwidth) {
    throw new EncodingError(
      `Prefix length ${prefixLen} of ${label(what)} is outside 0..${bitwidth}`,
      { hint: `${label(what)} is bit<${bitwidth}>` },
    );
  }
  const v = toBigInt(value, bitwidth, what) & prefixMaskBig(prefixLen, bitwidth);
  return { value: canonicalBytes(v), prefix_len: prefixLen };
}

/**
 * Parses LPM text `value/len` (e.g. `10.0.0.0/24`); a value without `/len` is a full-width
 * prefix.
 */
export function parseLpmText(
  text: string,
  bitwidth: number,
  what: What = "value",
): { value: string; prefixLen: number } {
  const slash = text.lastIndexOf("/");
  if (slash < 0) return { value: text, prefixLen: bitwidth };
  const len = text.slice(slash + 1).trim();
  if (!/^\d+$/.test(len)) {
    throw new EncodingError(`Bad prefix length in ${JSON.stringify(text)} for ${label(what)}`, {
      hint: "write LPM values as value/length, e.g. 10.0.0.0/24",
    });
  }
  return { value: text.slice(0, slash), prefixLen: Number(len) };
}

/** An encoded ternary match. */
export interface TernaryValue {
  value: Uint8Array;
  mask: Uint8Array;
}

/** Encodes a ternary match; the value is ANDed with the mask, as the spec requires. */
export function encodeTernary(
  value: BitValue,
  mask: BitValue,
  bitwidth: number,
  what: What = "value",
): TernaryValue {
  const m = toBigInt(mask, bitwidth, () => `the mask of ${label(what)}`);
  const v = toBigInt(value, bitwidth, what) & m;
  return { value: canonicalBytes(v), mask: canonicalBytes(m) };
}

/** An encoded range match. */
export interface RangeValue {
  low: Uint8Array;
  high: Uint8Array;
}

/** Encodes a range match, checking low <= high. */
export function encodeRange(
  low: BitValue,
  high: BitValue,
  bitwidth: number,
  what: What = "value",
): RangeValue {
  const lo = toBigInt(low, bitwidth, () => `the low end of ${label(what)}`);
  const hi = toBigInt(high, bitwidth, () => `the high end of ${label(what)}`);
  if (lo > hi) {
    throw new EncodingError(
      `Range ${describe(low)}..${describe(high)} of ${label(what)} has low > high`,
    );
  }
  return { low: canonicalBytes(lo), high: canonicalBytes(hi) };
}

/** The largest value of a bit<`bitwidth`> field. */
export function maxValue(bitwidth: number): bigint {
  return (1n << BigInt(bitwidth)) - 1n;
}
