/**
 * A tiny JSON Schema (draft 2020-12) checker for the subset lab/lab.schema.json uses: type,
 * properties, required, additionalProperties, propertyNames, minProperties, items, minItems,
 * maxItems, enum, pattern, minLength, maxLength, minimum, maximum, anyOf and local $ref.
 * Unknown keywords make it throw, so the schema cannot silently outgrow the checker.
 */

export type Schema = Record<string, unknown>;

const KNOWN = new Set([
  "$schema",
  "$defs",
  "$ref",
  "title",
  "description",
  "type",
  "properties",
  "required",
  "additionalProperties",
  "propertyNames",
  "minProperties",
  "items",
  "minItems",
  "maxItems",
  "enum",
  "pattern",
  "minLength",
  "maxLength",
  "minimum",
  "maximum",
  "anyOf",
]);

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function resolveRef(root: Schema, ref: string): Schema {
  if (!ref.startsWith("#/")) throw new Error(`unsupported $ref ${ref}`);
  let node: unknown = root;
  for (const part of ref.slice(2).split("/")) node = (node as Schema)[part];
  if (!node) throw new Error(`dangling $ref ${ref}`);
  return node as Schema;
}

/** Errors of `value` against `schema` (empty when valid), each prefixed with its JSON path. */
export function checkSchema(
  root: Schema,
  value: unknown,
  schema: Schema = root,
  path = "$",
): string[] {
  for (const key of Object.keys(schema)) {
    if (!KNOWN.has(key)) {
      throw new Error(`schema keyword ${key} at ${path} is not supported by the checker`);
    }
  }
  const errors: string[] = [];
  if (schema.$ref) {
    errors.push(...checkSchema(root, value, resolveRef(root, schema.$ref as string), path));
  }
  if (schema.anyOf) {
    const branches = (schema.anyOf as Schema[]).map((s) => checkSchema(root, value, s, path));
    if (!branches.some((b) => b.length === 0)) {
      errors.push(`${path}: matches none of anyOf (${branches.flat().join("; ")})`);
    }
  }
  const t = typeOf(value);
  if (schema.type) {
    const ok = schema.type === t || (schema.type === "number" && t === "integer");
    if (!ok) return [...errors, `${path}: is ${t}, not ${schema.type}`];
  }
  if (schema.enum && !(schema.enum as unknown[]).includes(value)) {
    errors.push(`${path}: not in enum`);
  }
  if (t === "string") {
    const s = value as string;
    if (schema.pattern && !new RegExp(schema.pattern as string, "u").test(s)) {
      errors.push(`${path}: does not match ${schema.pattern}`);
    }
    if (typeof schema.minLength === "number" && s.length < schema.minLength) {
      errors.push(`${path}: too short`);
    }
    if (typeof schema.maxLength === "number" && s.length > schema.maxLength) {
      errors.push(`${path}: too long`);
    }
  }
  if (t === "integer" || t === "number") {
    const n = value as number;
    if (typeof schema.minimum === "number" && n < schema.minimum) {
      errors.push(`${path}: below minimum`);
    }
    if (typeof schema.maximum === "number" && n > schema.maximum) {
      errors.push(`${path}: above maximum`);
    }
  }
  if (t === "array") {
    const a = value as unknown[];
    if (typeof schema.minItems === "number" && a.length < schema.minItems) {
      errors.push(`${path}: too few items`);
    }
    if (typeof schema.maxItems === "number" && a.length > schema.maxItems) {
      errors.push(`${path}: too many items`);
    }
    if (schema.items) {
      a.forEach((item, i) =>
        errors.push(...checkSchema(root, item, schema.items as Schema, `${path}[${i}]`))
      );
    }
  }
  if (t === "object") {
    const o = value as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const req of (schema.required ?? []) as string[]) {
      if (!(req in o)) errors.push(`${path}: missing ${req}`);
    }
    if (typeof schema.minProperties === "number" && Object.keys(o).length < schema.minProperties) {
      errors.push(`${path}: too few properties`);
    }
    for (const [k, v] of Object.entries(o)) {
      if (schema.propertyNames) {
        errors.push(...checkSchema(root, k, schema.propertyNames as Schema, `${path}.${k} (name)`));
      }
      if (props[k]) errors.push(...checkSchema(root, v, props[k], `${path}.${k}`));
      else if (schema.additionalProperties === false) errors.push(`${path}: unknown property ${k}`);
      else if (typeof schema.additionalProperties === "object") {
        errors.push(...checkSchema(root, v, schema.additionalProperties as Schema, `${path}.${k}`));
      }
    }
  }
  return errors;
}
