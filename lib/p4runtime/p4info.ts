/**
 * A P4Info index: names to ids and back for tables, actions, match fields, action parameters,
 * counters, direct counters, registers and digests, built from the JSON P4Info that p4c writes
 * with `--p4runtime-files prog.p4info.json` (protobuf JSON mapping: camelCase keys, ids as
 * numbers, int64 sizes as strings).
 *
 * A name may be given in full (`MyIngress.lb`), as its P4Info alias, or as any dotted suffix that
 * is unique among objects of its kind (`lb`). An ambiguous suffix is an error; an unknown name is
 * a {@link UserError} suggesting the closest known names.
 *
 * @module
 */
import { UserError } from "../errors.ts";

/** P4Info MatchField.MatchType as p4c's JSON spells it. */
export type MatchType = "EXACT" | "LPM" | "TERNARY" | "RANGE" | "OPTIONAL" | "UNSPECIFIED";

/** What every named P4Info object has. */
export interface Named {
  id: number;
  name: string;
  /** p4c's shortest unique name; equals `name` when there is none. */
  alias: string;
}

export interface MatchFieldInfo extends Named {
  bitwidth: number;
  matchType: MatchType;
}

export interface ParamInfo extends Named {
  bitwidth: number;
}

export interface ActionInfo extends Named {
  params: readonly ParamInfo[];
  /** Parameters by name (full or unique suffix). */
  paramIndex: NameIndex<ParamInfo>;
}

export interface TableInfo extends Named {
  matchFields: readonly MatchFieldInfo[];
  /** Match fields by name (`hdr.ipv4.dstAddr`, or a unique suffix like `dstAddr`). */
  fieldIndex: NameIndex<MatchFieldInfo>;
  /** Ids of the actions the table may use. */
  actionIds: ReadonlySet<number>;
  /** Ids of actions only usable as the default action. */
  defaultOnlyActionIds: ReadonlySet<number>;
  size: number;
  isConst: boolean;
  /** True when entries need a priority (a ternary, range or optional field). */
  needsPriority: boolean;
  directResourceIds: readonly number[];
}

export interface CounterInfo extends Named {
  unit: string;
  size: number;
}

export interface DirectCounterInfo extends Named {
  unit: string;
  tableId: number;
}

export interface RegisterInfo extends Named {
  /** Width of a cell when it is a bit<W>/int<W> (0 for other types). */
  bitwidth: number;
  size: number;
}

export interface DigestInfo extends Named {
  /** Name of the digested struct type, when p4c gives it. */
  typeName?: string;
}

/** Levenshtein distance (for "did you mean" suggestions). */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

/**
 * Names of one kind of object to the objects, with full names, aliases and unique dotted
 * suffixes, and ids back to objects.
 */
export class NameIndex<T extends Named> {
  readonly #byName = new Map<string, T>();
  readonly #ambiguous = new Map<string, string[]>();
  readonly #byId = new Map<number, T>();
  readonly all: readonly T[];

  /**
   * @param kind what the objects are, for messages ("table", "match field").
   * @param scope where they live, for messages (`of table "MyIngress.lb"`).
   */
  constructor(items: readonly T[], readonly kind: string, readonly scope = "") {
    this.all = items;
    const suffixOwners = new Map<string, Set<T>>();
    for (const item of items) {
      this.#byId.set(item.id, item);
      const parts = item.name.split(".");
      for (let i = 1; i < parts.length; i++) {
        const suffix = parts.slice(i).join(".");
        let owners = suffixOwners.get(suffix);
        if (!owners) suffixOwners.set(suffix, owners = new Set());
        owners.add(item);
      }
    }
    for (const [suffix, owners] of suffixOwners) {
      if (owners.size === 1) this.#byName.set(suffix, [...owners][0]);
      else this.#ambiguous.set(suffix, [...owners].map((o) => o.name).sort());
    }
    // Aliases and full names win over suffixes: p4c guarantees they are unique.
    for (const item of items) if (item.alias) this.#byName.set(item.alias, item);
    for (const item of items) this.#byName.set(item.name, item);
    for (const item of items) {
      this.#ambiguous.delete(item.name);
      if (item.alias) this.#ambiguous.delete(item.alias);
    }
  }

  /** The object with this name (full, alias or unique suffix); throws a UserError otherwise. */
  get(name: string): T {
    const hit = this.#byName.get(name);
    if (hit) return hit;
    throw this.#unknown(name);
  }

  /** Like {@link get} but returns undefined for unknown (still throws when ambiguous). */
  find(name: string): T | undefined {
    const hit = this.#byName.get(name);
    if (hit || !this.#ambiguous.has(name)) return hit;
    throw this.#unknown(name);
  }

  /** The object with this id, or undefined. */
  byId(id: number): T | undefined {
    return this.#byId.get(id);
  }

  /** True when `name` resolves to an object. */
  has(name: string): boolean {
    return this.#byName.has(name);
  }

  #unknown(name: string): UserError {
    const where = this.scope ? ` ${this.scope}` : "";
    const ambiguous = this.#ambiguous.get(name);
    if (ambiguous) {
      return new UserError(
        `Ambiguous ${this.kind} "${name}"${where}: it matches ${quoteList(ambiguous)}`,
        { hint: `use the full name, e.g. "${ambiguous[0]}"` },
      );
    }
    const suggestions = this.suggest(name);
    if (suggestions.length) {
      return new UserError(
        `Unknown ${this.kind} "${name}"${where}: did you mean ${quoteList(suggestions, "or")}?`,
        { hint: this.#known() },
      );
    }
    return new UserError(`Unknown ${this.kind} "${name}"${where}`, { hint: this.#known() });
  }

  #known(): string {
    if (!this.all.length) return `there are no ${this.kind}s${this.scope ? ` ${this.scope}` : ""}`;
    const names = this.all.map((i) => i.name);
    const shown = names.slice(0, 12);
    const more = names.length > shown.length ? ` and ${names.length - shown.length} more` : "";
    return `known ${this.kind}s: ${shown.join(", ")}${more}`;
  }

  /**
   * Full names of the objects closest to `name` (at most 3): those at the smallest edit distance
   * within a limit growing with the name's length, or whose name contains it.
   */
  suggest(name: string): string[] {
    const query = name.toLowerCase();
    const limit = Math.min(query.length - 1, Math.max(3, Math.ceil(query.length / 2)));
    const best = new Map<string, number>();
    for (const [key, item] of this.#byName) {
      const k = key.toLowerCase();
      let d = editDistance(query, k);
      if (query.length >= 3 && k.includes(query)) d = Math.min(d, 1);
      if (d <= limit && d < (best.get(item.name) ?? Infinity)) best.set(item.name, d);
    }
    const min = Math.min(...best.values());
    return [...best].filter(([, d]) => d === min).map(([n]) => n).sort().slice(0, 3);
  }
}

function quoteList(names: readonly string[], last = "and"): string {
  const q = names.map((n) => `"${n}"`);
  return q.length <= 1 ? q.join("") : `${q.slice(0, -1).join(", ")} ${last} ${q[q.length - 1]}`;
}

// ---- JSON shape (p4c's protobuf JSON mapping) --------------------------------------------------

interface JsonPreamble {
  id?: number;
  name?: string;
  alias?: string;
}
interface JsonNamed {
  preamble?: JsonPreamble;
}
interface JsonTable extends JsonNamed {
  matchFields?: { id?: number; name?: string; bitwidth?: number; matchType?: string }[];
  actionRefs?: { id?: number; scope?: string }[];
  size?: string | number;
  isConstTable?: boolean;
  directResourceIds?: number[];
}
interface JsonAction extends JsonNamed {
  params?: { id?: number; name?: string; bitwidth?: number }[];
}
interface JsonCounter extends JsonNamed {
  spec?: { unit?: string };
  size?: string | number;
  directTableId?: number;
}
interface JsonRegister extends JsonNamed {
  typeSpec?: { bitstring?: { bit?: { bitwidth?: number }; int?: { bitwidth?: number } } };
  size?: string | number;
}
interface JsonDigest extends JsonNamed {
  typeSpec?: { struct?: { name?: string } };
}
/** The parts of p4c's JSON P4Info this index reads. */
export interface P4InfoJson {
  pkgInfo?: { arch?: string; name?: string };
  tables?: JsonTable[];
  actions?: JsonAction[];
  counters?: JsonCounter[];
  directCounters?: JsonCounter[];
  registers?: JsonRegister[];
  digests?: JsonDigest[];
}

const P4INFO_HINT = "pass the JSON P4Info p4c writes with `--p4runtime-files <prog>.p4info.json`";

function named(obj: JsonNamed, what: string): Named {
  const p = obj.preamble;
  if (!p || typeof p.id !== "number" || typeof p.name !== "string") {
    throw new UserError(`P4Info ${what} has no preamble with id and name`, { hint: P4INFO_HINT });
  }
  return { id: p.id, name: p.name, alias: p.alias ?? p.name };
}

function num(v: string | number | undefined): number {
  return v === undefined ? 0 : Number(v);
}

function parseTable(t: JsonTable): TableInfo {
  const base = named(t, "table");
  const matchFields = (t.matchFields ?? []).map((f): MatchFieldInfo => {
    if (typeof f.id !== "number" || typeof f.name !== "string") {
      throw new UserError(`P4Info table "${base.name}" has a match field without id or name`, {
        hint: P4INFO_HINT,
      });
    }
    return {
      id: f.id,
      name: f.name,
      alias: f.name,
      bitwidth: f.bitwidth ?? 0,
      matchType: (f.matchType ?? "UNSPECIFIED") as MatchType,
    };
  });
  const refs = t.actionRefs ?? [];
  return {
    ...base,
    matchFields,
    fieldIndex: new NameIndex(matchFields, "match field", `of table "${base.name}"`),
    actionIds: new Set(refs.filter((r) => r.scope !== "DEFAULT_ONLY").map((r) => r.id ?? 0)),
    defaultOnlyActionIds: new Set(
      refs.filter((r) => r.scope === "DEFAULT_ONLY").map((r) => r.id ?? 0),
    ),
    size: num(t.size),
    isConst: t.isConstTable ?? false,
    needsPriority: matchFields.some((f) =>
      f.matchType === "TERNARY" || f.matchType === "RANGE" || f.matchType === "OPTIONAL"
    ),
    directResourceIds: t.directResourceIds ?? [],
  };
}

function parseAction(a: JsonAction): ActionInfo {
  const base = named(a, "action");
  const params = (a.params ?? []).map((p): ParamInfo => ({
    id: p.id ?? 0,
    name: p.name ?? "",
    alias: p.name ?? "",
    bitwidth: p.bitwidth ?? 0,
  }));
  return {
    ...base,
    params,
    paramIndex: new NameIndex(params, "parameter", `of action "${base.name}"`),
  };
}

/** An indexed P4Info: see the module documentation. */
export class P4Info {
  readonly tables: NameIndex<TableInfo>;
  readonly actions: NameIndex<ActionInfo>;
  readonly counters: NameIndex<CounterInfo>;
  readonly directCounters: NameIndex<DirectCounterInfo>;
  readonly registers: NameIndex<RegisterInfo>;
  readonly digests: NameIndex<DigestInfo>;
  /** The architecture p4c compiled for (e.g. "v1model"), when given. */
  readonly arch?: string;

  constructor(json: P4InfoJson) {
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      throw new UserError("P4Info JSON is not an object", { hint: P4INFO_HINT });
    }
    this.arch = json.pkgInfo?.arch;
    this.tables = new NameIndex((json.tables ?? []).map(parseTable), "table");
    this.actions = new NameIndex((json.actions ?? []).map(parseAction), "action");
    this.counters = new NameIndex(
      (json.counters ?? []).map((c) => ({
        ...named(c, "counter"),
        unit: c.spec?.unit ?? "UNSPECIFIED",
        size: num(c.size),
      })),
      "counter",
    );
    this.directCounters = new NameIndex(
      (json.directCounters ?? []).map((c) => ({
        ...named(c, "direct counter"),
        unit: c.spec?.unit ?? "UNSPECIFIED",
        tableId: c.directTableId ?? 0,
      })),
      "direct counter",
    );
    this.registers = new NameIndex(
      (json.registers ?? []).map((r) => ({
        ...named(r, "register"),
        bitwidth: r.typeSpec?.bitstring?.bit?.bitwidth ?? r.typeSpec?.bitstring?.int?.bitwidth ?? 0,
        size: num(r.size),
      })),
      "register",
    );
    this.digests = new NameIndex(
      (json.digests ?? []).map((d) => ({
        ...named(d, "digest"),
        typeName: d.typeSpec?.struct?.name,
      })),
      "digest",
    );
  }

  /** Parses JSON P4Info text. */
  static parse(text: string, source = "P4Info"): P4Info {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new UserError(`${source} is not valid JSON: ${(err as Error).message}`, {
        hint: P4INFO_HINT,
        cause: err,
      });
    }
    return new P4Info(json as P4InfoJson);
  }

  /** Reads and indexes a JSON P4Info file. */
  static async load(path: string): Promise<P4Info> {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      throw new UserError(`Cannot read P4Info ${path}: ${(err as Error).message}`, {
        hint: "build the P4 program first (`deno task build`)",
        cause: err,
      });
    }
    return P4Info.parse(text, path);
  }

  /** The table with this name. */
  table(name: string): TableInfo {
    return this.tables.get(name);
  }

  /** The action with this name. */
  action(name: string): ActionInfo {
    return this.actions.get(name);
  }

  counter(name: string): CounterInfo {
    return this.counters.get(name);
  }

  directCounter(name: string): DirectCounterInfo {
    return this.directCounters.get(name);
  }

  register(name: string): RegisterInfo {
    return this.registers.get(name);
  }

  digest(name: string): DigestInfo {
    return this.digests.get(name);
  }

  /** The action `name` checked to be usable in `table` (as an entry, or as default). */
  tableAction(table: TableInfo, name: string, asDefault = false): ActionInfo {
    const action = this.actions.get(name);
    if (table.actionIds.has(action.id)) return action;
    if (asDefault && table.defaultOnlyActionIds.has(action.id)) return action;
    const allowed = [...table.actionIds, ...(asDefault ? table.defaultOnlyActionIds : [])]
      .map((id) => this.actions.byId(id)?.name ?? String(id));
    const onlyDefault = table.defaultOnlyActionIds.has(action.id);
    throw new UserError(
      `Action "${action.name}" ${
        onlyDefault ? "may only be the default action" : "is not an action"
      } of table "${table.name}"`,
      { hint: `actions of "${table.name}": ${allowed.join(", ") || "(none)"}` },
    );
  }
}
