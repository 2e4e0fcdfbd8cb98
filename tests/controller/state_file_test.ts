/** Saving and reloading the controller's state, and refusing a state that does not fit the lab. */
import assert from "node:assert/strict";
import { lbStatePath, loadLbState, saveLbState } from "../../lib/controller/state_file.ts";
import { UserError } from "../../lib/errors.ts";
import { initialLbState, type LbState, planMigrateBackend } from "../../lib/lb/entries.ts";
import { oneSwitchLab } from "./_lab.ts";

Deno.test("state file: save, load, and refuse states that do not fit the lab", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "p4t-ctl-state-" });
  try {
    const lab = oneSwitchLab(runDir, 1);
    const path = lbStatePath(runDir);
    assert.equal(path, `${runDir}/lb_state.json`);
    assert.equal(await loadLbState(path, lab), undefined);
    const h3 = lab.hosts.find((h) => h.name === "h3")!;
    const state = planMigrateBackend(initialLbState(lab), 1, h3).state;
    await saveLbState(path, lab, state);
    assert.deepEqual(await loadLbState(path, lab), state);
    assert.deepEqual([...Deno.readDirSync(runDir)].map((e) => e.name), ["lb_state.json"]);

    const refused = async (edit: (s: LbState) => unknown, why: RegExp, other = lab) => {
      const s = structuredClone(state);
      edit(s);
      await saveLbState(path, lab, s);
      await assert.rejects(() => loadLbState(path, other), (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.match(err.message, why);
        assert.match(err.hint ?? "", /remove .*lb_state\.json/);
        return true;
      });
    };
    await refused((s) => s.vip = "10.0.0.99", /VIP 10\.0\.0\.99:7000 \(the lab has 10\.0\.0\.100/);
    await refused((s) => s.switch = "s9", /switch "s9"/);
    await refused((s) => s.backends[0].host = "h9", /host "h9", which the lab lacks/);
    await refused((s) => s.backends[0].ip = "10.0.9.9", /uses 10\.0\.9\.9, but host "h3"/);
    await refused((s) => s.slots[0] = 5, /unknown backend 5/);
    await refused((s) => s.backends.push({ ...s.backends[0] }), /duplicate backend id 1/);
    await refused((s) => s.standbyIps = ["10.0.8.8"], /standby address 10\.0\.8\.8/);
    await refused(() => {}, /belongs to lab/, { ...lab, name: "other" });
    await Deno.writeTextFile(path, "{not json");
    await assert.rejects(() => loadLbState(path, lab), /not JSON/);
  } finally {
    await Deno.remove(runDir, { recursive: true });
  }
});
