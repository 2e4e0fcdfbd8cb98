import assert from "node:assert/strict";
import { parse } from "yaml";
import { LAB_KEYS } from "../../lib/lab/format.ts";
import { listLabs } from "../../lib/lab/find.ts";
import { parseLabFile } from "../../lib/lab/parse.ts";
import { labDefinitionsDir } from "../../lib/lab/paths.ts";
import { checkSchema, type Schema } from "./_schema_check.ts";

const dir = labDefinitionsDir();
const schema = JSON.parse(Deno.readTextFileSync(`${dir}/lab.schema.json`)) as Schema;
const defs = schema.$defs as Record<string, Schema>;
const props = (s: Schema) => Object.keys(s.properties as Record<string, unknown>).sort();

Deno.test("there are the five labs the project documents", () => {
  for (
    const name of [
      "process-migration",
      "process-migration-4sw",
      "host-containers",
      "switch-container",
      "redis",
    ]
  ) {
    assert.ok(listLabs(dir).includes(name), `lab/${name}.yaml is missing`);
  }
});

for (const name of listLabs(dir)) {
  Deno.test(`lab ${name} validates against lab.schema.json and the TypeScript validator`, async () => {
    const path = `${dir}/${name}.yaml`;
    const text = await Deno.readTextFile(path);
    assert.match(text.split("\n")[0], /^# yaml-language-server: \$schema=\.\/lab\.schema\.json$/);
    assert.deepEqual(checkSchema(schema, parse(text)), []);
    const lab = await parseLabFile(path);
    assert.equal(lab.name, name);
  });
}

Deno.test("the schema checker rejects what the schema forbids", () => {
  const bad = {
    hosts: { H1: { ip: "10.0.1.1/24", colour: "red" } },
    switches: { s1: { device_id: -1 } },
    links: [["h1"]],
    load_balancer: { vip: "x", port: 0, backends: [] },
    workloads: { w: { host: "h1", command: [] } },
  };
  const errors = checkSchema(schema, bad);
  for (
    const expected of [
      "H1 (name)",
      "unknown property colour",
      "device_id: below minimum",
      "links[0]: too few items",
      "vip: does not match",
      "port: below minimum",
      "backends: too few items",
      "command: matches none",
    ]
  ) {
    assert.ok(
      errors.some((e) => e.includes(expected)),
      `no error about ${expected}: ${errors.join("\n")}`,
    );
  }
});

Deno.test("the schema and the validator accept the same keys in every section", () => {
  assert.deepEqual(props(schema), [...LAB_KEYS.root].sort());
  assert.deepEqual(
    props((schema.properties as Record<string, Schema>).defaults),
    [...LAB_KEYS.defaults].sort(),
  );
  assert.deepEqual(props(defs.host), [...LAB_KEYS.host].sort());
  assert.deepEqual(props(defs.switch), [...LAB_KEYS.switch].sort());
  assert.deepEqual(
    props((schema.properties as Record<string, Schema>).load_balancer),
    [...LAB_KEYS.load_balancer].sort(),
  );
  assert.deepEqual(props(defs.workload), [...LAB_KEYS.workload].sort());
});

Deno.test("every schema property has a description", () => {
  const missing: string[] = [];
  const walk = (s: Schema, path: string) => {
    for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, Schema>)) {
      if (!v.description) missing.push(`${path}.${k}`);
      walk(v, `${path}.${k}`);
    }
  };
  walk(schema, "$");
  for (const [k, v] of Object.entries(defs)) walk(v, `$defs.${k}`);
  assert.deepEqual(missing, []);
});
