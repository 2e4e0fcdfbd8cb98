/** Encoding planned updates, entry views, switch-vs-plan diffs and undo updates (pure). */
import assert from "node:assert/strict";
import {
  diffSwitchEntries,
  encodeEntry,
  encodeUpdates,
  inverseUpdates,
  viewPlanned,
} from "../../lib/controller/switch_entries.ts";
import {
  initialLbState,
  type LbState,
  planLabEntries,
  planLbEntries,
  planMigrateBackend,
} from "../../lib/lb/entries.ts";
import { TABLES } from "../../lib/p4/lb_program.ts";
import { P4Info } from "../../lib/p4runtime/p4info.ts";
import { UpdateType } from "../../lib/p4runtime/messages.ts";
import { oneSwitchLab, twoSwitchLab } from "./_lab.ts";
import { pipelineTest } from "./_pipeline.ts";

/** Backend 1 on h2 with every slot; reverse rewrites only for backends (no standby hosts). */
function bareState(): LbState {
  return {
    switch: "s1",
    vip: "10.0.0.100",
    servicePort: 7000,
    backends: [{ id: 1, host: "h2", ip: "10.0.2.10" }],
    slots: Array(16).fill(1),
  };
}

await pipelineTest("views show addresses as text and match what the plan says", async (paths) => {
  const p4info = await P4Info.load(paths.p4infoJson);
  const lab = oneSwitchLab("/nonexistent", 1);
  const views = viewPlanned(p4info, planLabEntries(lab, initialLbState(lab)));
  const route = views.find((v) => v.table === TABLES.routes && v.match.dst_addr === "10.0.2.10/32");
  assert.deepEqual(route?.params, { port: 2, dst_mac: "02:00:00:00:02:10" });
  const backend = views.find((v) => v.table === TABLES.backends);
  assert.deepEqual(backend?.match, { backend_id: 1 });
  assert.deepEqual(backend?.params, { backend_ip: "10.0.2.10" });
  assert.ok(views.every((v) => v.switch === "s1" && v.action.includes(".")));
});

await pipelineTest(
  "diff: nothing to do when equal; fixes missing, changed and extra entries",
  async (paths) => {
    const p4info = await P4Info.load(paths.p4infoJson);
    const lab = twoSwitchLab("/nonexistent", [1, 2]);
    const state = bareState();
    const planned = planLabEntries(lab, state);
    const onS1 = planned.filter((e) => e.switch === "s1").map((e) => encodeEntry(p4info, e));
    assert.deepEqual(diffSwitchEntries(p4info, "s1", planned, onS1).updates, []);

    // The switch still has the backend on h2; the plan moved it to h3.
    const h3 = lab.hosts.find((h) => h.name === "h3")!;
    const moved = planLabEntries(lab, planMigrateBackend(state, 1, h3).state);
    const diff = diffSwitchEntries(p4info, "s1", moved, onS1);
    assert.deepEqual(diff.updates.map((u) => u.type), [
      UpdateType.INSERT,
      UpdateType.MODIFY,
      UpdateType.DELETE,
    ]);
    assert.deepEqual(diff.missing.map((v) => v.match), [{ src_addr: "10.0.3.10", src_port: 7000 }]);
    assert.deepEqual(diff.different.map((d) => [d.actual.params, d.planned.params]), [
      [{ backend_ip: "10.0.2.10" }, { backend_ip: "10.0.3.10" }],
    ]);
    assert.deepEqual(diff.unexpected.map((v) => v.match), [{
      src_addr: "10.0.2.10",
      src_port: 7000,
    }]);
    assert.equal(diff.updates[2].entity.table_entry?.action, undefined, "DELETE carries no action");

    // An empty switch gets every entry, filled in table order (slots last).
    const fresh = diffSwitchEntries(p4info, "s2", planned, []);
    assert.equal(fresh.updates.length, planned.filter((e) => e.switch === "s2").length);
    const all = diffSwitchEntries(p4info, "s1", planned, []);
    const tables = all.missing.map((v) => v.table);
    assert.equal(tables.at(-1), TABLES.slots);
    assert.ok(tables.indexOf(TABLES.backends) < tables.indexOf(TABLES.vip));
  },
);

await pipelineTest("encode and undo a migration", async (paths) => {
  const p4info = await P4Info.load(paths.p4infoJson);
  const lab = oneSwitchLab("/nonexistent", 1);
  const state = bareState();
  const change = planMigrateBackend(state, 1, lab.hosts.find((h) => h.name === "h3")!);
  const encoded = encodeUpdates(p4info, change.updates);
  assert.deepEqual(encoded.map((u) => u.type), [
    UpdateType.INSERT,
    UpdateType.MODIFY,
    UpdateType.DELETE,
  ]);
  assert.equal(encoded[2].entity.table_entry?.action, undefined);
  // Undo of MODIFY + DELETE (the INSERT failed): INSERT the old rewrite back, MODIFY back.
  const undo = inverseUpdates(change.updates.slice(1), planLbEntries(state));
  assert.deepEqual(undo.map((u) => [u.type, u.entry.table]), [
    ["INSERT", TABLES.backendSources],
    ["MODIFY", TABLES.backends],
  ]);
  assert.equal(undo[1].entry.params.backend_ip, "10.0.2.10");
  assert.deepEqual(inverseUpdates(change.updates.slice(0, 1), []).map((u) => u.type), ["DELETE"]);
});
