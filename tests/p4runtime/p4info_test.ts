import assert from "node:assert/strict";
import { UserError } from "../../lib/errors.ts";
import { editDistance, P4Info, type P4InfoJson } from "../../lib/p4runtime/p4info.ts";
import { FIXTURE_JSON_PATH, fixtureP4Info } from "./_fixture.ts";

const raw = JSON.parse(Deno.readTextFileSync(FIXTURE_JSON_PATH)) as Required<P4InfoJson>;
const idOf = (list: { preamble?: { id?: number; name?: string } }[], name: string) =>
  list.find((x) => x.preamble?.name === name)!.preamble!.id!;

Deno.test("tables resolve by full name, alias and unique suffix, and back by id", () => {
  const info = fixtureP4Info();
  const id = idOf(raw.tables, "MyIngress.ipv4_lpm");
  assert.equal(info.table("MyIngress.ipv4_lpm").id, id);
  assert.equal(info.table("ipv4_lpm").id, id);
  assert.equal(info.tables.byId(id)?.name, "MyIngress.ipv4_lpm");
  assert.equal(info.table("MyEgress.rewrite_mac").id, idOf(raw.tables, "MyEgress.rewrite_mac"));
  assert.equal(info.table("vip").size, 65536);
  assert.equal(info.arch, "v1model");
});

Deno.test("an ambiguous short name is an error naming every candidate", () => {
  const info = fixtureP4Info();
  assert.throws(() => info.table("rewrite_mac"), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.equal(
      e.message,
      'Ambiguous table "rewrite_mac": it matches "MyEgress.rewrite_mac" and "MyIngress.rewrite_mac"',
    );
    assert.match(e.hint ?? "", /full name/);
    return true;
  });
  assert.throws(() => info.action("set_smac"), /Ambiguous action "set_smac"/);
  assert.throws(() => info.tables.find("rewrite_mac"), /Ambiguous/);
  assert.equal(info.tables.find("nope"), undefined);
});

Deno.test("an unknown name suggests the closest names", () => {
  const info = fixtureP4Info();
  assert.throws(() => info.table("MyIngress.ipv4_lmp"), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.equal(
      e.message,
      'Unknown table "MyIngress.ipv4_lmp": did you mean "MyIngress.ipv4_lpm"?',
    );
    assert.match(e.hint ?? "", /known tables: .*MyIngress.vip/);
    return true;
  });
  assert.throws(() => info.table("vpi"), /did you mean "MyIngress.vip"\?/);
  assert.throws(
    () => info.action("ipv4_fwd"),
    /Unknown action "ipv4_fwd": did you mean "MyIngress.ipv4_forward"/,
  );
  assert.throws(() => info.table("completely_different"), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.equal(e.message, 'Unknown table "completely_different"');
    return true;
  });
});

Deno.test("match fields and parameters resolve within their table and action", () => {
  const info = fixtureP4Info();
  const vip = info.table("vip");
  assert.equal(vip.fieldIndex.get("hdr.ipv4.dstAddr").id, 1);
  assert.equal(vip.fieldIndex.get("dstAddr").id, 1);
  assert.equal(vip.fieldIndex.get("ipv4.dstAddr").id, 1);
  assert.equal(vip.fieldIndex.get("srcPort").bitwidth, 16);
  assert.equal(vip.fieldIndex.byId(2)?.name, "hdr.tcp.srcPort");
  assert.throws(
    () => vip.fieldIndex.get("dstPort"),
    /Unknown match field "dstPort" of table "MyIngress.vip": did you mean "hdr.tcp.srcPort"\?/,
  );
  const fwd = info.action("ipv4_forward");
  assert.equal(fwd.paramIndex.get("port").bitwidth, 9);
  assert.throws(
    () => fwd.paramIndex.get("prot"),
    /Unknown parameter "prot" of action "MyIngress.ipv4_forward": did you mean "port"\?/,
  );
  assert.equal(info.table("acl").needsPriority, true);
  assert.equal(info.table("vip").needsPriority, false);
});

Deno.test("counters, direct counters, registers and digests are indexed", () => {
  const info = fixtureP4Info();
  assert.equal(info.counter("port_counter").size, 16);
  assert.equal(info.counter("port_counter").unit, "BOTH");
  assert.equal(info.directCounter("lpm_counter").tableId, info.table("ipv4_lpm").id);
  assert.equal(info.register("flow_reg").bitwidth, 32);
  assert.equal(info.register("MyIngress.flow_reg").size, 16);
  assert.equal(info.digest("learn_t").typeName, "learn_t");
  assert.throws(
    () => info.register("flow"),
    /Unknown register "flow": did you mean "MyIngress.flow_reg"/,
  );
});

Deno.test("actions are checked against the table's action list", () => {
  const info = fixtureP4Info();
  const vip = info.table("vip");
  assert.equal(info.tableAction(vip, "set_backend").name, "MyIngress.set_backend");
  assert.equal(info.tableAction(vip, "NoAction").name, "NoAction");
  assert.throws(
    () => info.tableAction(vip, "drop"),
    /Action "MyIngress.drop" is not an action of table "MyIngress.vip"/,
  );
});

Deno.test("bad P4Info JSON gives a UserError with a hint", () => {
  assert.throws(() => P4Info.parse("{", "x.json"), /x.json is not valid JSON/);
  assert.throws(() => P4Info.parse("[]"), /not an object/);
  assert.throws(() => P4Info.parse('{"tables":[{"preamble":{}}]}'), /no preamble with id and name/);
  const empty = P4Info.parse("{}");
  assert.throws(() => empty.table("x"), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.equal(e.hint, "there are no tables");
    return true;
  });
});

Deno.test("edit distance", () => {
  assert.equal(editDistance("", ""), 0);
  assert.equal(editDistance("abc", ""), 3);
  assert.equal(editDistance("kitten", "sitting"), 3);
  assert.equal(editDistance("lpm", "lmp"), 2);
});
