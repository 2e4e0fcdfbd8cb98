/**
 * A minimal protobuf wire-format reader and writer that keeps the original bytes.
 *
 * A message decodes into its fields in order, each holding the exact bytes it was read from, so
 * unknown fields, field order and even non-canonical varints survive untouched. Encoding
 * concatenates those bytes; only fields replaced by the caller are re-encoded. This is what lets
 * CRIU images be edited without a schema for most of their content and written back
 * byte-identical where nothing changed.
 *
 * @module
 */
import { concatBytes } from "../bytes.ts";

/** Protobuf wire types. */
export const WireType = {
  Varint: 0,
  I64: 1,
  Len: 2,
  StartGroup: 3,
  EndGroup: 4,
  I32: 5,
} as const;
export type WireType = typeof WireType[keyof typeof WireType];

/** One field occurrence in a message. */
export interface WireField {
  /** Field number. */
  readonly number: number;
  readonly wireType: WireType;
  /** The field's exact bytes: tag and value (for a group, everything up to its end tag). */
  readonly bytes: Uint8Array;
  /** The value of a varint field. */
  readonly varint?: bigint;
  /**
   * The value bytes: the payload of a length-delimited field, the 4 or 8 bytes of a fixed field,
   * or the body of a group.
   */
  readonly payload?: Uint8Array;
}

/** A malformed message. */
export class WireFormatError extends Error {
  override name = "WireFormatError";
}

/** Reads a varint at `pos`; returns its value and the position after it. */
export function readVarint(buf: Uint8Array, pos: number): { value: bigint; next: number } {
  let value = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos + i >= buf.length) throw new WireFormatError(`truncated varint at byte ${pos}`);
    const b = buf[pos + i];
    value |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return { value: BigInt.asUintN(64, value), next: pos + i + 1 };
    shift += 7n;
  }
  throw new WireFormatError(`varint longer than 10 bytes at byte ${pos}`);
}

/** Encodes an unsigned (or two's-complement 64-bit) value as a canonical varint. */
export function encodeVarint(value: bigint | number): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v ? b | 0x80 : b);
  } while (v);
  return Uint8Array.from(out);
}

function tag(number: number, wireType: WireType): Uint8Array {
  return encodeVarint((BigInt(number) << 3n) | BigInt(wireType));
}

/** Reads one field starting at `pos` (its tag); returns it and the position after it. */
function readField(buf: Uint8Array, pos: number): { field: WireField; next: number } {
  const start = pos;
  const t = readVarint(buf, pos);
  const number = Number(t.value >> 3n);
  const wireType = Number(t.value & 7n) as WireType;
  if (number === 0) throw new WireFormatError(`field number 0 at byte ${start}`);
  pos = t.next;
  const need = (n: number) => {
    if (pos + n > buf.length) {
      throw new WireFormatError(`field ${number} at byte ${start} runs past the end`);
    }
  };
  switch (wireType) {
    case WireType.Varint: {
      const v = readVarint(buf, pos);
      return {
        field: { number, wireType, bytes: buf.subarray(start, v.next), varint: v.value },
        next: v.next,
      };
    }
    case WireType.I64:
    case WireType.I32: {
      const n = wireType === WireType.I64 ? 8 : 4;
      need(n);
      const payload = buf.subarray(pos, pos + n);
      return {
        field: { number, wireType, bytes: buf.subarray(start, pos + n), payload },
        next: pos + n,
      };
    }
    case WireType.Len: {
      const l = readVarint(buf, pos);
      pos = l.next;
      const n = Number(l.value);
      need(n);
      const payload = buf.subarray(pos, pos + n);
      return {
        field: { number, wireType, bytes: buf.subarray(start, pos + n), payload },
        next: pos + n,
      };
    }
    case WireType.StartGroup: {
      const bodyStart = pos;
      for (;;) {
        if (pos >= buf.length) {
          throw new WireFormatError(`group ${number} at byte ${start} never ends`);
        }
        const peek = readVarint(buf, pos);
        if (Number(peek.value & 7n) === WireType.EndGroup) {
          if (Number(peek.value >> 3n) !== number) {
            throw new WireFormatError(`group ${number} at byte ${start} ends with a foreign tag`);
          }
          const payload = buf.subarray(bodyStart, pos);
          return {
            field: { number, wireType, bytes: buf.subarray(start, peek.next), payload },
            next: peek.next,
          };
        }
        pos = readField(buf, pos).next;
      }
    }
    default:
      throw new WireFormatError(
        `field ${number} at byte ${start} has invalid wire type ${wireType}`,
      );
  }
}

/** Decodes a message into its fields, in order. Throws {@link WireFormatError} when malformed. */
export function decodeMessage(buf: Uint8Array): WireField[] {
  const fields: WireField[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const { field, next } = readField(buf, pos);
    fields.push(field);
    pos = next;
  }
  return fields;
}

/** Encodes fields back into a message: their bytes, concatenated. */
export function encodeMessage(fields: readonly WireField[]): Uint8Array {
  return concatBytes(fields.map((f) => f.bytes));
}

/** A new varint field. */
export function varintField(number: number, value: bigint | number): WireField {
  const v = BigInt.asUintN(64, BigInt(value));
  return {
    number,
    wireType: WireType.Varint,
    bytes: concatBytes([tag(number, WireType.Varint), encodeVarint(v)]),
    varint: v,
  };
}

/** A new length-delimited field (bytes, string or embedded message). */
export function lenField(number: number, payload: Uint8Array): WireField {
  const head = concatBytes([tag(number, WireType.Len), encodeVarint(payload.length)]);
  const bytes = concatBytes([head, payload]);
  return { number, wireType: WireType.Len, bytes, payload: bytes.subarray(head.length) };
}

/** The first field with this number, if any. */
export function findField(fields: readonly WireField[], number: number): WireField | undefined {
  return fields.find((f) => f.number === number);
}

/** A varint field's value as a number (for uint32 and other values below 2^53). */
export function fieldUint(field: WireField | undefined): number | undefined {
  if (field?.varint === undefined) return undefined;
  return Number(field.varint);
}

/** A length-delimited field's payload as UTF-8 text. */
export function fieldString(field: WireField | undefined): string | undefined {
  return field?.payload && field.wireType === WireType.Len
    ? new TextDecoder().decode(field.payload)
    : undefined;
}

/**
 * All values of a repeated varint field, whether written unpacked (one field per value, as
 * protobuf-c does for proto2) or packed (one length-delimited field).
 */
export function repeatedVarints(fields: readonly WireField[], number: number): bigint[] {
  const values: bigint[] = [];
  for (const f of fields) {
    if (f.number !== number) continue;
    if (f.wireType === WireType.Varint) values.push(f.varint!);
    else if (f.wireType === WireType.Len) {
      let pos = 0;
      while (pos < f.payload!.length) {
        const v = readVarint(f.payload!, pos);
        values.push(v.value);
        pos = v.next;
      }
    }
  }
  return values;
}

/**
 * Replaces the values of a repeated varint field, keeping its encoding (unpacked or packed) and
 * its position. When the values are unchanged the original fields are returned as they were.
 * The count of values must stay the same.
 */
export function replaceRepeatedVarints(
  fields: readonly WireField[],
  number: number,
  values: readonly bigint[],
): WireField[] {
  const old = repeatedVarints(fields, number);
  if (old.length !== values.length) {
    throw new WireFormatError(`field ${number} has ${old.length} values, not ${values.length}`);
  }
  let k = 0;
  const out: WireField[] = [];
  for (const f of fields) {
    if (f.number !== number) {
      out.push(f);
    } else if (f.wireType === WireType.Varint) {
      const v = values[k++];
      out.push(v === f.varint ? f : varintField(number, v));
    } else if (f.wireType === WireType.Len) {
      const n = repeatedVarints([f], number).length;
      const slice = values.slice(k, k + n);
      const same = slice.every((v, i) => v === old[k + i]);
      k += n;
      out.push(same ? f : lenField(number, concatBytes(slice.map((v) => encodeVarint(v)))));
    } else {
      out.push(f);
    }
  }
  return out;
}

/**
 * Replaces the payload of the first length-delimited field with this number (an embedded
 * message), re-encoding only its length prefix. Returns the fields unchanged when the payload is
 * byte-identical.
 */
export function replaceLenPayload(
  fields: readonly WireField[],
  number: number,
  payload: Uint8Array,
): WireField[] {
  const i = fields.findIndex((f) => f.number === number && f.wireType === WireType.Len);
  if (i < 0) throw new WireFormatError(`no length-delimited field ${number}`);
  if (bytesEqual(fields[i].payload!, payload)) return [...fields];
  const out = [...fields];
  out[i] = lenField(number, payload);
  return out;
}

/** Byte-wise equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
