/**
 * Between the entry planner (names, IPv4/MAC text) and the switch (P4Runtime messages): encodes
 * planned updates, shows entries read back as JSON-friendly views, and compares what a switch
 * holds with the plan (the updates that make it match). Pure functions of a P4Info.
 *
 * @module
 */
import { type EntryUpdate, INSERT_ORDER, type TableEntry as PlannedEntry } from "../lb/entries.ts";
import { formatIpv4, formatMac } from "../net/addr.ts";
import {
  buildTableEntry,
  decodeTableEntry,
  entryKey,
  type EntrySpec,
} from "../p4runtime/entries.ts";
import { decodeValue } from "../p4runtime/encoding.ts";
import { type TableEntry as P4TableEntry, type Update, UpdateType } from "../p4runtime/messages.ts";
import type { P4Info } from "../p4runtime/p4info.ts";

/**
 * A table entry as the API shows it. Values follow the program's conventions: 32-bit values are
 * IPv4 addresses (`"10.0.1.10"`, LPM as `"10.0.1.10/32"`), 48-bit values MAC addresses, anything
 * else a number.
 */
export interface EntryView {
  switch: string;
  table: string;
  match: Record<string, string | number>;
  action: string;
  params: Record<string, string | number>;
}

/** How a switch's entries differ from the plan. */
export interface EntryDiff {
  /** Planned but absent from the switch. */
  missing: EntryView[];
  /** On the switch but not planned. */
  unexpected: EntryView[];
  /** Same match, different action or parameters: the switch's version and the planned one. */
  different: { actual: EntryView; planned: EntryView }[];
  /** The updates (in a safe order) that make the switch match the plan. */
  updates: Update[];
}

const TYPES = { INSERT: UpdateType.INSERT, MODIFY: UpdateType.MODIFY, DELETE: UpdateType.DELETE };

function specOf(e: PlannedEntry, withAction: boolean): EntrySpec {
  return withAction
    ? { table: e.table, match: e.match, action: e.action, params: e.params }
    : { table: e.table, match: e.match };
}

/** The P4Runtime message of a planned entry. */
export function encodeEntry(p4info: P4Info, entry: PlannedEntry, withAction = true): P4TableEntry {
  return buildTableEntry(p4info, specOf(entry, withAction), withAction);
}

/** P4Runtime updates for planned updates (DELETEs carry only the match). */
export function encodeUpdates(p4info: P4Info, updates: readonly EntryUpdate[]): Update[] {
  return updates.map((u) => ({
    type: TYPES[u.type],
    entity: { table_entry: encodeEntry(p4info, u.entry, u.type !== "DELETE") },
  }));
}

/** The updates that undo `applied` (the updates of a change the switch accepted), given the entries before. */
export function inverseUpdates(
  applied: readonly EntryUpdate[],
  before: readonly PlannedEntry[],
): EntryUpdate[] {
  const keyOf = (e: PlannedEntry) => JSON.stringify([e.switch, e.table, sortedMatch(e)]);
  const old = new Map(before.map((e) => [keyOf(e), e]));
  return [...applied].reverse().flatMap((u): EntryUpdate[] => {
    if (u.type === "INSERT") return [{ type: "DELETE", entry: u.entry }];
    const prev = old.get(keyOf(u.entry));
    if (!prev) return [];
    return [{ type: u.type === "MODIFY" ? "MODIFY" : "INSERT", entry: prev }];
  });
}

function sortedMatch(e: PlannedEntry): unknown[] {
  return Object.keys(e.match).sort().map((k) => [k, e.match[k]]);
}

function formatValue(value: bigint, bitwidth: number): string | number {
  if (bitwidth === 32) return formatIpv4(Number(value));
  if (bitwidth === 48) {
    const bytes = new Uint8Array(6);
    for (let i = 5, v = value; i >= 0; i--, v >>= 8n) bytes[i] = Number(v & 0xffn);
    return formatMac(bytes);
  }
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
}

/** The view of an entry read from (or meant for) a switch. */
export function viewEntry(p4info: P4Info, switchName: string, entry: P4TableEntry): EntryView {
  // decodeTableEntry checks the table id and names the action; widths come from the P4Info.
  const decoded = decodeTableEntry(p4info, entry);
  const table = p4info.tables.byId(entry.table_id)!;
  const match: EntryView["match"] = {};
  for (const fm of entry.match ?? []) {
    const field = table.fieldIndex.byId(fm.field_id);
    const w = field?.bitwidth ?? 0;
    const v = (bytes: Uint8Array | undefined) => formatValue(decodeValue(bytes), w);
    const name = field?.name ?? `#${fm.field_id}`;
    if (fm.exact) match[name] = v(fm.exact.value);
    else if (fm.optional) match[name] = v(fm.optional.value);
    else if (fm.lpm) match[name] = `${v(fm.lpm.value)}/${fm.lpm.prefix_len ?? 0}`;
    else if (fm.ternary) match[name] = `${v(fm.ternary.value)}&&&${v(fm.ternary.mask)}`;
    else if (fm.range) match[name] = `${v(fm.range.low)}..${v(fm.range.high)}`;
  }
  const params: EntryView["params"] = {};
  const call = entry.action?.action;
  const action = call ? p4info.actions.byId(call.action_id) : undefined;
  for (const p of call?.params ?? []) {
    const info = action?.paramIndex.byId(p.param_id);
    params[info?.name ?? `#${p.param_id}`] = formatValue(decodeValue(p.value), info?.bitwidth ?? 0);
  }
  return { switch: switchName, table: decoded.table, match, action: decoded.action ?? "", params };
}

/** Views of planned entries, formatted exactly as entries read back from a switch. */
export function viewPlanned(p4info: P4Info, entries: readonly PlannedEntry[]): EntryView[] {
  return entries.map((e) => viewEntry(p4info, e.switch, encodeEntry(p4info, e)));
}

function actionKey(entry: P4TableEntry): string {
  const call = entry.action?.action;
  if (!call) return "";
  const params = [...(call.params ?? [])].sort((a, b) => a.param_id - b.param_id);
  return `${call.action_id}(${params.map((p) => `${p.param_id}=${decodeValue(p.value)}`)})`;
}

function rank(p4info: P4Info, entry: P4TableEntry): number {
  const i = INSERT_ORDER.indexOf(p4info.tables.byId(entry.table_id)?.name ?? "");
  return i < 0 ? INSERT_ORDER.length : i;
}

/**
 * Compares one switch's entries with the planned ones (those of other switches are ignored) and
 * plans the updates that make them equal: INSERTs in table order, MODIFYs, then DELETEs in
 * reverse table order, so a slot never names a backend the switch lacks.
 */
export function diffSwitchEntries(
  p4info: P4Info,
  switchName: string,
  planned: readonly PlannedEntry[],
  actual: readonly P4TableEntry[],
): EntryDiff {
  const want = new Map<string, P4TableEntry>();
  for (const e of planned) {
    if (e.switch !== switchName) continue;
    const encoded = encodeEntry(p4info, e);
    want.set(entryKey(encoded), encoded);
  }
  const have = new Map(actual.map((e) => [entryKey(e), e]));
  const diff: EntryDiff = { missing: [], unexpected: [], different: [], updates: [] };
  const inserts: P4TableEntry[] = [];
  const modifies: P4TableEntry[] = [];
  const deletes: P4TableEntry[] = [];
  for (const [key, entry] of want) {
    const there = have.get(key);
    if (!there) inserts.push(entry);
    else if (actionKey(there) !== actionKey(entry)) {
      modifies.push(entry);
      diff.different.push({
        actual: viewEntry(p4info, switchName, there),
        planned: viewEntry(p4info, switchName, entry),
      });
    }
  }
  for (const [key, entry] of have) if (!want.has(key)) deletes.push(entry);
  const byRank = (dir: number) => (a: P4TableEntry, b: P4TableEntry) =>
    dir * (rank(p4info, a) - rank(p4info, b));
  inserts.sort(byRank(1));
  deletes.sort(byRank(-1));
  diff.missing = inserts.map((e) => viewEntry(p4info, switchName, e));
  diff.unexpected = deletes.map((e) => viewEntry(p4info, switchName, e));
  const update = (type: UpdateType, table_entry: P4TableEntry): Update => ({
    type,
    entity: {
      table_entry: type === UpdateType.DELETE
        ? {
          table_id: table_entry.table_id,
          match: table_entry.match,
          priority: table_entry.priority,
        }
        : table_entry,
    },
  });
  diff.updates = [
    ...inserts.map((e) => update(UpdateType.INSERT, e)),
    ...modifies.map((e) => update(UpdateType.MODIFY, e)),
    ...deletes.map((e) => update(UpdateType.DELETE, e)),
  ];
  return diff;
}
