/**
 * Table entries by name: turns `{ table, match, action, params }` written with P4 names and
 * friendly values into P4Runtime TableEntry messages (resolved through a {@link P4Info}), and
 * decodes entries read from the switch back into names and bigints. Pure functions, no I/O.
 *
 * Match values by match kind:
 * - exact / optional: a value (`"10.0.0.1"`, `80`, `"aa:bb:cc:dd:ee:ff"`, `0x1fn`, bytes).
 * - lpm: `"10.0.0.0/24"`, `{ value, prefixLen }`, or a bare value (full-width prefix).
 * - ternary: `"10.0.0.0&&&255.255.255.0"`, `{ value, mask }`, or a bare value (all bits).
 * - range: `"1000..2000"`, `{ low, high }`, or a bare value (a single point).
 *
 * A field left out of `match` is a wildcard, which P4Runtime allows for every kind but exact.
 * Don't-care values (prefix length 0, mask 0, the full range) are left out as the spec requires.
 *
 * @module
 */
import { UserError } from "../errors.ts";
import {
  type BitValue,
  decodeValue,
  encodeLpm,
  encodeRange,
  encodeTernary,
  encodeValue,
  maxValue,
  parseLpmText,
  toBigInt,
} from "./encoding.ts";
import type {
  ActionParam,
  CounterData,
  FieldMatch,
  TableEntry,
  Update,
  UpdateType,
} from "./messages.ts";
import type { ActionInfo, MatchFieldInfo, P4Info, TableInfo } from "./p4info.ts";

/** A match value; see the module documentation for what each match kind accepts. */
export type MatchInput =
  | BitValue
  | { value: BitValue; prefixLen: number }
  | { value: BitValue; mask: BitValue }
  | { low: BitValue; high: BitValue };

/** A table entry written with names. */
export interface EntrySpec {
  /** Table name: full (`MyIngress.lb`), alias or unique suffix. */
  table: string;
  /** Match fields by name (full or unique suffix). */
  match?: Readonly<Record<string, MatchInput>>;
  /** Action name; required except for DELETE. */
  action?: string;
  /** Action parameters by name; every parameter of the action must be given. */
  params?: Readonly<Record<string, BitValue>>;
  /** Needed (> 0) for tables with ternary, range or optional fields; higher wins. */
  priority?: number;
  /** Sets the table's default action instead of an entry (no match allowed). */
  isDefault?: boolean;
}

/** A match field read back from the switch. */
export type MatchRead =
  | { kind: "exact"; value: bigint }
  | { kind: "lpm"; value: bigint; prefixLen: number }
  | { kind: "ternary"; value: bigint; mask: bigint }
  | { kind: "range"; low: bigint; high: bigint }
  | { kind: "optional"; value: bigint };

/** A table entry read back, with names. */
export interface DecodedEntry {
  table: string;
  /** Keyed by full match field name; wildcarded fields are absent. */
  match: Record<string, MatchRead>;
  action?: string;
  params: Record<string, bigint>;
  priority: number;
  isDefault: boolean;
  counter?: { bytes: bigint; packets: bigint };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !(v instanceof Uint8Array);
}

function encodeMatch(
  field: MatchFieldInfo,
  input: MatchInput,
  table: TableInfo,
): FieldMatch | null {
  const what = () => `match field "${field.name}" of table "${table.name}"`;
  const w = field.bitwidth;
  const field_id = field.id;
  switch (field.matchType) {
    case "EXACT":
      if (isObject(input)) throw shapeError(what, "exact", input);
      return { field_id, exact: { value: encodeValue(input, w, what) } };
    case "OPTIONAL":
      if (isObject(input)) throw shapeError(what, "optional", input);
      return { field_id, optional: { value: encodeValue(input, w, what) } };
    case "LPM": {
      let value: BitValue;
      let prefixLen: number;
      if (typeof input === "string") ({ value, prefixLen } = parseLpmText(input, w, what));
      else if (isObject(input) && "prefixLen" in input) ({ value, prefixLen } = input);
      else if (!isObject(input)) [value, prefixLen] = [input, w];
      else throw shapeError(what, "lpm", input);
      const lpm = encodeLpm(value, prefixLen, w, what);
      return lpm.prefix_len === 0 ? null : { field_id, lpm };
    }
    case "TERNARY": {
      let value: BitValue;
      let mask: BitValue;
      if (typeof input === "string" && input.includes("&&&")) {
        [value, mask] = input.split("&&&").map((s) => s.trim());
      } else if (isObject(input) && "mask" in input) ({ value, mask } = input);
      else if (!isObject(input)) [value, mask] = [input, maxValue(w)];
      else throw shapeError(what, "ternary", input);
      const ternary = encodeTernary(value, mask, w, what);
      return ternary.mask.length === 1 && ternary.mask[0] === 0 ? null : { field_id, ternary };
    }
    case "RANGE": {
      let low: BitValue;
      let high: BitValue;
      if (typeof input === "string" && input.includes("..")) {
        [low, high] = input.split("..").map((s) => s.trim());
      } else if (isObject(input) && "low" in input) ({ low, high } = input);
      else if (!isObject(input)) [low, high] = [input, input];
      else throw shapeError(what, "range", input);
      const range = encodeRange(low, high, w, what);
      const full = toBigInt(range.low, w) === 0n && toBigInt(range.high, w) === maxValue(w);
      return full ? null : { field_id, range };
    }
    default:
      throw new UserError(
        `Match field "${field.name}" of table "${table.name}" has match type ${field.matchType}, ` +
          "which this client does not support",
      );
  }
}

function shapeError(what: () => string, kind: string, input: unknown): UserError {
  const shapes: Record<string, string> = {
    exact: "a value",
    optional: "a value",
    lpm: '"10.0.0.0/24" or { value, prefixLen }',
    ternary: '"value&&&mask" or { value, mask }',
    range: '"low..high" or { low, high }',
  };
  return new UserError(`Bad value ${JSON.stringify(input, jsonBig)} for ${what()}`, {
    hint: `${kind} match fields take ${shapes[kind]}`,
  });
}

function jsonBig(_k: string, v: unknown): unknown {
  return typeof v === "bigint" ? v.toString() : v;
}

/** Encodes the match part of an entry (fields sorted by id, wildcards left out). */
export function buildMatch(
  table: TableInfo,
  match: Readonly<Record<string, MatchInput>> = {},
): FieldMatch[] {
  const seen = new Map<number, string>();
  const out: FieldMatch[] = [];
  for (const name in match) {
    const field = table.fieldIndex.get(name);
    const earlier = seen.get(field.id);
    if (earlier !== undefined) {
      throw new UserError(
        `Match field "${field.name}" of table "${table.name}" is given twice ` +
          `("${earlier}" and "${name}")`,
      );
    }
    seen.set(field.id, name);
    const fm = encodeMatch(field, match[name], table);
    if (fm) out.push(fm);
  }
  for (const field of table.matchFields) {
    if (field.matchType === "EXACT" && !seen.has(field.id)) {
      throw new UserError(`Missing match field "${field.name}" of table "${table.name}"`, {
        hint: `exact match fields cannot be wildcards; "${table.name}" matches on ` +
          table.matchFields.map((f) => `${f.name} (${f.matchType.toLowerCase()})`).join(", "),
      });
    }
  }
  if (out.length > 1) out.sort((a, b) => a.field_id - b.field_id);
  return out;
}

/** Encodes an action call with every parameter checked by name and width. */
export function buildParams(
  action: ActionInfo,
  params: Readonly<Record<string, BitValue>> = {},
): ActionParam[] {
  const out: ActionParam[] = [];
  const given = new Set<number>();
  for (const name in params) {
    const p = action.paramIndex.get(name);
    given.add(p.id);
    out.push({
      param_id: p.id,
      value: encodeValue(
        params[name],
        p.bitwidth,
        () => `parameter "${p.name}" of action "${action.name}"`,
      ),
    });
  }
  if (given.size < action.params.length) {
    const missing = action.params.filter((p) => !given.has(p.id)).map((p) => p.name);
    throw new UserError(
      `Missing parameter${missing.length > 1 ? "s" : ""} ${
        missing.map((m) => `"${m}"`).join(", ")
      } of action "${action.name}"`,
      {
        hint: `"${action.name}" takes ${
          action.params.map((p) => `${p.name} (bit<${p.bitwidth}>)`).join(", ")
        }`,
      },
    );
  }
  if (out.length > 1) out.sort((a, b) => a.param_id - b.param_id);
  return out;
}

/**
 * Builds a TableEntry from names. `needAction` is false for DELETE, where only the match (and
 * priority) identify the entry.
 */
export function buildTableEntry(p4info: P4Info, spec: EntrySpec, needAction = true): TableEntry {
  const table = p4info.table(spec.table);
  const entry: TableEntry = { table_id: table.id };
  if (spec.isDefault) {
    if (spec.match && Object.keys(spec.match).length) {
      throw new UserError(`The default action of table "${table.name}" takes no match fields`);
    }
    entry.is_default_action = true;
  } else {
    entry.match = buildMatch(table, spec.match);
    if (table.needsPriority) {
      if (!spec.priority || spec.priority < 1 || !Number.isInteger(spec.priority)) {
        throw new UserError(
          `Table "${table.name}" needs a priority (an integer >= 1) for every entry`,
          { hint: "its ternary, range or optional fields make entries overlap; higher wins" },
        );
      }
      entry.priority = spec.priority;
    } else if (spec.priority) {
      throw new UserError(
        `Table "${table.name}" has no ternary/range/optional field: drop the priority`,
      );
    }
  }
  if (spec.action !== undefined) {
    const action = p4info.tableAction(table, spec.action, spec.isDefault);
    entry.action = { action: { action_id: action.id, params: buildParams(action, spec.params) } };
  } else if (needAction) {
    throw new UserError(`No action given for the entry of table "${table.name}"`, {
      hint: `actions of "${table.name}": ${
        [...table.actionIds].map((id) => p4info.actions.byId(id)?.name).join(", ")
      }`,
    });
  }
  return entry;
}

/** An Update wrapping a table entry. */
export function tableUpdate(type: UpdateType, entry: TableEntry): Update {
  return { type, entity: { table_entry: entry } };
}

function decodeCounter(data: CounterData | undefined): DecodedEntry["counter"] {
  if (!data) return undefined;
  return { bytes: BigInt(data.byte_count ?? 0), packets: BigInt(data.packet_count ?? 0) };
}

/** Decodes a TableEntry read from the switch into names and bigints. */
export function decodeTableEntry(p4info: P4Info, entry: TableEntry): DecodedEntry {
  const table = p4info.tables.byId(entry.table_id);
  if (!table) {
    throw new UserError(`The switch returned an entry of unknown table id ${entry.table_id}`, {
      hint: "the P4Info does not match the pipeline on the switch; push the pipeline again",
    });
  }
  const match: Record<string, MatchRead> = {};
  for (const fm of entry.match ?? []) {
    const name = table.fieldIndex.byId(fm.field_id)?.name ?? `#${fm.field_id}`;
    if (fm.exact) match[name] = { kind: "exact", value: decodeValue(fm.exact.value) };
    else if (fm.lpm) {
      match[name] = {
        kind: "lpm",
        value: decodeValue(fm.lpm.value),
        prefixLen: fm.lpm.prefix_len ?? 0,
      };
    } else if (fm.ternary) {
      match[name] = {
        kind: "ternary",
        value: decodeValue(fm.ternary.value),
        mask: decodeValue(fm.ternary.mask),
      };
    } else if (fm.range) {
      match[name] = {
        kind: "range",
        low: decodeValue(fm.range.low),
        high: decodeValue(fm.range.high),
      };
    } else if (fm.optional) {
      match[name] = { kind: "optional", value: decodeValue(fm.optional.value) };
    }
  }
  const out: DecodedEntry = {
    table: table.name,
    match,
    params: {},
    priority: entry.priority ?? 0,
    isDefault: entry.is_default_action ?? false,
  };
  const call = entry.action?.action;
  if (call) {
    const action = p4info.actions.byId(call.action_id);
    out.action = action?.name ?? `#${call.action_id}`;
    for (const p of call.params ?? []) {
      const name = action?.paramIndex.byId(p.param_id)?.name ?? `#${p.param_id}`;
      out.params[name] = decodeValue(p.value);
    }
  }
  const counter = decodeCounter(entry.counter_data);
  if (counter) out.counter = counter;
  return out;
}

/**
 * A string identifying an entry's key (table, match, priority) on the switch: two entries with
 * the same key are the same entry for MODIFY/DELETE and collide on INSERT. Values are compared
 * numerically, so padded and canonical bytestrings give the same key.
 */
export function entryKey(entry: TableEntry): string {
  let key = `${entry.table_id}|${entry.priority ?? 0}|${entry.is_default_action ? "d" : ""}`;
  const fields = [...(entry.match ?? [])].sort((a, b) => a.field_id - b.field_id);
  for (const fm of fields) {
    key += `|${fm.field_id}:`;
    if (fm.exact) key += `e${decodeValue(fm.exact.value)}`;
    else if (fm.lpm) key += `l${decodeValue(fm.lpm.value)}/${fm.lpm.prefix_len}`;
    else if (fm.ternary) {
      key += `t${decodeValue(fm.ternary.value)}&${decodeValue(fm.ternary.mask)}`;
    } else if (fm.range) key += `r${decodeValue(fm.range.low)}-${decodeValue(fm.range.high)}`;
    else if (fm.optional) key += `o${decodeValue(fm.optional.value)}`;
  }
  return key;
}
