/**
 * A direct protobuf encoder for the update a controller writes most: a table entry with exact,
 * LPM, ternary, range or optional matches, a direct action, a priority or the default-action
 * flag. It writes exactly the bytes protobufjs writes for the same object (fields by number,
 * every present field, zeros included; tests compare the two), in one allocation.
 *
 * Why: going through proto-loader's serializer (fromObject, then encode) was about half of the
 * client's own CPU time per single-update write, measured against BMv2 (`deno task bench peers`).
 * Anything else (other entities, action profiles, counter data, metadata, idle timeouts, values
 * protobufjs would convert, such as base64 text for bytes) returns undefined, and the caller
 * falls back to protobufjs.
 *
 * @module
 */
import type { FieldMatch, TableEntry, Update } from "./messages.ts";
import { smallBytes } from "./byte_slab.ts";
import { varintSize } from "./wire.ts";

const LEN = 2;
const EMPTY = new Uint8Array(0);

// The buffer being written and the position in it (module state: closures over locals cost more
// than the encoding itself, measured).
let out = EMPTY;
let pos = 0;

function varint(n: number): void {
  while (n >= 0x80) {
    out[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[pos++] = n;
}

function bytes(tag: number, b: Uint8Array): void {
  out[pos++] = tag;
  varint(b.length);
  // A loop beats TypedArray#set for the few bytes of a field value.
  for (let i = 0; i < b.length; i++) out[pos++] = b[i];
}

const isU32 = (v: unknown): v is number =>
  typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/** The fields of a match kind's message (field number 1 and 2), by kind. */
const MATCH_KINDS = [
  ["exact", 2, "value", undefined],
  ["ternary", 3, "value", "mask"],
  ["lpm", 4, "value", "prefix_len"],
  ["range", 6, "low", "high"],
  ["optional", 7, "value", undefined],
] as const;

type Sub = Record<string, unknown>;

/** Size of a match kind's message, or -1 when it has something we do not encode. */
function kindSize(sub: Sub, first: string, second: string | undefined): number {
  let size = 0;
  const a = sub[first];
  if (a != null) {
    if (!(a instanceof Uint8Array)) return -1;
    size += 1 + varintSize(a.length) + a.length;
  }
  if (second !== undefined) {
    const b = sub[second];
    if (b != null) {
      if (second === "prefix_len") {
        if (!isU32(b) || b > 0x7fffffff) return -1;
        size += 1 + varintSize(b);
      } else {
        if (!(b instanceof Uint8Array)) return -1;
        size += 1 + varintSize(b.length) + b.length;
      }
    }
  }
  return size;
}

/**
 * The encoded update, or undefined when it has a part this encoder leaves to protobufjs (see the
 * module documentation).
 */
export function encodeTableUpdate(update: Update): Uint8Array | undefined {
  const entity = update.entity as Record<string, unknown> | undefined;
  if (update.type != null && !isU32(update.type)) return undefined;
  if (entity == null) return undefined;
  if (
    entity.counter_entry != null || entity.direct_counter_entry != null ||
    entity.register_entry != null || entity.digest_entry != null
  ) return undefined;
  const e = entity.table_entry as TableEntry | undefined;
  if (e == null) return undefined;
  const other = e as unknown as Sub;
  if (
    other.counter_data != null || other.idle_timeout_ns != null || other.metadata != null ||
    other.is_const != null || other.meter_config != null
  ) return undefined;

  // Sizes, innermost first.
  let entrySize = 0;
  if (e.table_id != null) {
    if (!isU32(e.table_id)) return undefined;
    entrySize += 1 + varintSize(e.table_id);
  }
  const matches = e.match ?? [];
  const matchSizes = new Array<number>(matches.length);
  const kindSizes = new Array<number>(matches.length);
  for (let i = 0; i < matches.length; i++) {
    const m = matches[i] as FieldMatch & Sub;
    let size = 0;
    if (m.field_id != null) {
      if (!isU32(m.field_id)) return undefined;
      size += 1 + varintSize(m.field_id);
    }
    kindSizes[i] = -1;
    for (let k = 0; k < MATCH_KINDS.length; k++) {
      const [kind, , first, second] = MATCH_KINDS[k];
      const sub = m[kind] as Sub | undefined;
      if (sub == null) continue;
      if (kindSizes[i] >= 0) return undefined; // Two members of the oneof.
      const ks = kindSize(sub, first, second);
      if (ks < 0) return undefined;
      kindSizes[i] = ks;
      size += 1 + varintSize(ks) + ks;
    }
    matchSizes[i] = size;
    entrySize += 1 + varintSize(size) + size;
  }
  let actionSize = -1;
  let callSize = 0;
  const table = e.action as Sub | undefined;
  const call = table?.action as Sub | undefined;
  const params = (call?.params ?? []) as Sub[];
  const paramSizes = new Array<number>(params.length);
  if (table != null) {
    if (
      table.action_profile_member_id != null || table.action_profile_group_id != null ||
      table.action_profile_action_set != null
    ) return undefined;
    actionSize = 0;
    if (call != null) {
      if (call.action_id != null) {
        if (!isU32(call.action_id)) return undefined;
        callSize += 1 + varintSize(call.action_id);
      }
      for (let i = 0; i < params.length; i++) {
        const p = params[i];
        let size = 0;
        if (p.param_id != null) {
          if (!isU32(p.param_id)) return undefined;
          size += 1 + varintSize(p.param_id);
        }
        if (p.value != null) {
          if (!(p.value instanceof Uint8Array)) return undefined;
          size += 1 + varintSize(p.value.length) + p.value.length;
        }
        paramSizes[i] = size;
        callSize += 1 + varintSize(size) + size;
      }
      actionSize = 1 + varintSize(callSize) + callSize;
    }
    entrySize += 1 + varintSize(actionSize) + actionSize;
  }
  if (e.priority != null) {
    if (!isU32(e.priority) || e.priority > 0x7fffffff) return undefined;
    entrySize += 1 + varintSize(e.priority);
  }
  if (e.is_default_action != null) {
    if (typeof e.is_default_action !== "boolean") return undefined;
    entrySize += 2;
  }
  const entitySize = 1 + varintSize(entrySize) + entrySize;
  const total = (update.type != null ? 1 + varintSize(update.type) : 0) + 1 +
    varintSize(entitySize) + entitySize;

  // Then the bytes, outermost first.
  out = smallBytes(total);
  pos = 0;
  if (update.type != null) {
    out[pos++] = 1 << 3;
    varint(update.type);
  }
  out[pos++] = (2 << 3) | LEN;
  varint(entitySize);
  out[pos++] = (2 << 3) | LEN; // Entity.table_entry
  varint(entrySize);
  if (e.table_id != null) {
    out[pos++] = 1 << 3;
    varint(e.table_id);
  }
  for (let i = 0; i < matches.length; i++) {
    const m = matches[i] as FieldMatch & Sub;
    out[pos++] = (2 << 3) | LEN;
    varint(matchSizes[i]);
    if (m.field_id != null) {
      out[pos++] = 1 << 3;
      varint(m.field_id);
    }
    for (let k = 0; k < MATCH_KINDS.length; k++) {
      const [kind, number, first, second] = MATCH_KINDS[k];
      const sub = m[kind] as Sub | undefined;
      if (sub == null) continue;
      out[pos++] = (number << 3) | LEN;
      varint(kindSizes[i]);
      if (sub[first] != null) bytes((1 << 3) | LEN, sub[first] as Uint8Array);
      if (second !== undefined && sub[second] != null) {
        if (second === "prefix_len") {
          out[pos++] = 2 << 3;
          varint(sub[second] as number);
        } else bytes((2 << 3) | LEN, sub[second] as Uint8Array);
      }
    }
  }
  if (table != null) {
    out[pos++] = (3 << 3) | LEN;
    varint(actionSize);
    if (call != null) {
      out[pos++] = (1 << 3) | LEN; // TableAction.action
      varint(callSize);
      if (call.action_id != null) {
        out[pos++] = 1 << 3;
        varint(call.action_id as number);
      }
      for (let i = 0; i < params.length; i++) {
        const p = params[i];
        out[pos++] = (4 << 3) | LEN;
        varint(paramSizes[i]);
        if (p.param_id != null) {
          out[pos++] = 2 << 3;
          varint(p.param_id as number);
        }
        if (p.value != null) bytes((3 << 3) | LEN, p.value as Uint8Array);
      }
    }
  }
  if (e.priority != null) {
    out[pos++] = 4 << 3;
    varint(e.priority);
  }
  if (e.is_default_action != null) {
    out[pos++] = 8 << 3;
    out[pos++] = e.is_default_action ? 1 : 0;
  }
  const done = out;
  out = EMPTY;
  return done;
}
