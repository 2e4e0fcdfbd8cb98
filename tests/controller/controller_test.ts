/** The Controller class against in-process fake P4Runtime switches (no root, no BMv2). */
import assert from "node:assert/strict";
import { Controller } from "../../lib/controller/controller.ts";
import { UserError } from "../../lib/errors.ts";
import { planLabEntries, planMigrateBackend } from "../../lib/lb/entries.ts";
import type { Lab } from "../../lib/lab/types.ts";
import { ACTIONS, TABLES } from "../../lib/p4/lb_program.ts";
import { P4RuntimeClient } from "../../lib/p4runtime/client.ts";
import { P4RuntimeError } from "../../lib/p4runtime/errors.ts";
import { viewPlanned } from "../../lib/controller/switch_entries.ts";
import type { PipelinePaths } from "../../lib/controller/pipeline.ts";
import { type FakeSwitches, sortViews, startFakes } from "./_fake.ts";
import { oneSwitchLab, twoSwitchLab } from "./_lab.ts";
import { pipelineTest } from "./_pipeline.ts";

async function withOneSwitch(
  paths: PipelinePaths,
  fn: (ctx: { lab: Lab; fakes: FakeSwitches; runDir: string }) => Promise<void>,
): Promise<void> {
  const runDir = await Deno.makeTempDir({ prefix: "p4t-ctl-" });
  const fakes = await startFakes(paths, [0]);
  try {
    await fn({ lab: oneSwitchLab(runDir, fakes.ports[0]), fakes, runDir });
  } finally {
    await fakes.stop();
    await Deno.remove(runDir, { recursive: true });
  }
}

function backendIp(fakes: FakeSwitches, i = 0, id = 1): string | number | undefined {
  return fakes.entries(i, "s1").find((e) =>
    e.table === TABLES.backends && e.match.backend_id === id
  )?.params.backend_ip;
}

await pipelineTest("start programs the switch with exactly the planned entries", async (paths) => {
  await withOneSwitch(paths, async ({ lab, fakes, runDir }) => {
    await using c = new Controller(lab, { pipeline: paths, verifySwitchOwner: false });
    await c.start();
    const planned = planLabEntries(lab, c.state());
    assert.deepEqual(fakes.entries(0, "s1"), sortViews(viewPlanned(fakes.p4info, planned)));
    assert.equal(fakes.entries(0, "s1").length, planned.length);
    assert.equal(backendIp(fakes), "10.0.2.10");
    assert.deepEqual(sortViews(await c.readEntries()), fakes.entries(0, "s1"));
    assert.deepEqual(sortViews(c.plannedEntries("s1")), fakes.entries(0, "s1"));
    const h = c.health();
    assert.equal(h.ok, true);
    assert.deepEqual(
      h.switches.map((s) => [s.name, s.connected, s.primary, s.pipeline, s.entries, s.inSync]),
      [["s1", true, true, "pushed", planned.length, true]],
    );
    assert.equal(h.stateFile, `${runDir}/lb_state.json`);
    const saved = JSON.parse(await Deno.readTextFile(`${runDir}/lb_state.json`));
    assert.deepEqual(saved.state, c.state());
    assert.deepEqual(c.listBackends().backends, [{
      id: 1,
      host: "h2",
      ip: "10.0.2.10",
      slots: 16,
    }]);
  });
});

await pipelineTest("migrate is one Write RPC with the planned updates", async (paths) => {
  await withOneSwitch(paths, async ({ lab, fakes, runDir }) => {
    await using c = new Controller(lab, { pipeline: paths, verifySwitchOwner: false });
    await c.start();
    const rpcs = fakes.writeRpcs();
    const updates = fakes.servers[0].updatesReceived;
    const h3 = lab.hosts.find((h) => h.name === "h3")!;
    const plan = planMigrateBackend(c.state(), 1, h3).updates;
    assert.ok(plan.some((u) => u.type === "MODIFY" && u.entry.table === TABLES.backends));
    const res = await c.migrateBackend("h2", "h3");
    assert.equal(fakes.writeRpcs() - rpcs, 1);
    assert.equal(fakes.servers[0].updatesReceived - updates, plan.length);
    assert.equal(res.updates, plan.length);
    assert.deepEqual(res.backend, { id: 1, host: "h3", ip: "10.0.3.10", slots: 16 });
    assert.deepEqual(res.from, { host: "h2", ip: "10.0.2.10" });
    assert.ok(res.writeMs >= 0 && res.totalMs >= res.writeMs);
    assert.equal(backendIp(fakes), "10.0.3.10");
    const sources = fakes.entries(0, "s1").filter((e) => e.table === TABLES.backendSources);
    assert.ok(sources.some((e) => e.match.src_addr === "10.0.3.10"));
    assert.deepEqual(
      fakes.entries(0, "s1"),
      sortViews(viewPlanned(fakes.p4info, planLabEntries(lab, c.state()))),
    );
    const saved = JSON.parse(await Deno.readTextFile(`${runDir}/lb_state.json`));
    assert.equal(saved.state.backends[0].host, "h3");
    // By id, and back.
    await c.migrateBackend(1, "h2");
    assert.equal(backendIp(fakes), "10.0.2.10");
  });
});

await pipelineTest("add and remove backends", async (paths) => {
  await withOneSwitch(paths, async ({ lab, fakes }) => {
    await using c = new Controller(lab, { pipeline: paths, verifySwitchOwner: false });
    await c.start();
    const added = await c.addBackend("h3");
    assert.deepEqual(added.backend, { id: 2, host: "h3", ip: "10.0.3.10", slots: 8 });
    assert.deepEqual(c.listBackends().backends.map((b) => [b.host, b.slots]), [["h2", 8], [
      "h3",
      8,
    ]]);
    const want = () => sortViews(viewPlanned(fakes.p4info, planLabEntries(lab, c.state())));
    assert.deepEqual(fakes.entries(0, "s1"), want());
    const removed = await c.removeBackend("h2");
    assert.deepEqual(removed.backend, { id: 1, host: "h2", ip: "10.0.2.10", slots: 8 });
    assert.deepEqual(c.listBackends().backends.map((b) => [b.host, b.slots]), [["h3", 16]]);
    assert.deepEqual(fakes.entries(0, "s1"), want());
    assert.equal(backendIp(fakes, 0, 1), undefined);
    assert.equal(c.health().switches[0].entries, fakes.entries(0, "s1").length);
  });
});

await pipelineTest(
  "bad input is refused with a hint and leaves the switch as it was",
  async (paths) => {
    await withOneSwitch(paths, async ({ lab, fakes, runDir }) => {
      await using c = new Controller(lab, { pipeline: paths, verifySwitchOwner: false });
      await c.start();
      await c.addBackend("h3");
      const before = fakes.entries(0, "s1");
      const rpcs = fakes.writeRpcs();
      const stateBefore = await Deno.readTextFile(`${runDir}/lb_state.json`);
      const cases: [string, () => Promise<unknown>, RegExp, RegExp][] = [
        ["unknown host", () => c.addBackend("h9"), /no host "h9"/, /h1|did you mean/],
        ["already a backend", () => c.addBackend("h3"), /already serves backend 2/, /h1, h4/],
        ["unknown backend", () => c.removeBackend("h4"), /No backend "h4"/, /h2 \(id 1\)/],
        ["unknown id", () => c.migrateBackend(7, "h4"), /No backend 7/, /h3 \(id 2\)/],
        ["to itself", () => c.migrateBackend("h2", "h2"), /already runs on "h2"/, /another host/],
        ["onto a backend", () => c.migrateBackend("h2", "h3"), /already serves/, /h4/],
        ["to unknown host", () => c.migrateBackend("h2", "hh4"), /no host "hh4"/, /did you mean/],
        ["unknown switch", () => c.readEntries("s7"), /no switch "s7"/, /s1/],
      ];
      for (const [what, op, message, hint] of cases) {
        await assert.rejects(op, (err: unknown) => {
          assert.ok(err instanceof UserError, what);
          assert.ok(!(err instanceof P4RuntimeError), what);
          assert.match(err.message, message, what);
          assert.match(err.hint ?? "", hint, what);
          return true;
        });
      }
      assert.equal(fakes.writeRpcs(), rpcs);
      assert.deepEqual(fakes.entries(0, "s1"), before);
      assert.equal(await Deno.readTextFile(`${runDir}/lb_state.json`), stateBefore);
    });
  },
);

await pipelineTest(
  "a restarted controller reloads its state and keeps the pipeline",
  async (paths) => {
    await withOneSwitch(paths, async ({ lab, fakes, runDir }) => {
      const first = new Controller(lab, { pipeline: paths, verifySwitchOwner: false });
      await first.start();
      await first.migrateBackend("h2", "h3");
      await first.addBackend("h4");
      const state = first.state();
      first.close();
      const entries = fakes.entries(0, "s1");
      const rpcs = fakes.writeRpcs();

      await using second = new Controller(lab, { pipeline: paths, verifySwitchOwner: false });
      await second.start();
      assert.deepEqual(second.state(), state);
      assert.equal(second.health().switches[0].pipeline, "kept");
      assert.equal(fakes.writeRpcs(), rpcs, "nothing to write: the switch already matches");
      assert.deepEqual(fakes.entries(0, "s1"), entries);
      assert.equal(backendIp(fakes), "10.0.3.10");
      second.close();

      // A fresh switch (e.g. after `lab down`/`up` kept the run directory): same state programmed.
      const fresh = await startFakes(paths, [0]);
      try {
        const lab2 = { ...lab, switches: [{ ...lab.switches[0], grpcPort: fresh.ports[0] }] };
        await using third = new Controller(lab2, {
          pipeline: paths,
          verifySwitchOwner: false,
          stateFile: `${runDir}/lb_state.json`,
        });
        await third.start();
        assert.equal(third.health().switches[0].pipeline, "pushed");
        assert.deepEqual(fresh.entries(0, "s1"), entries);
      } finally {
        await fresh.stop();
      }
    });
  },
);

await pipelineTest("start reconciles a switch that drifted from the state", async (paths) => {
  await withOneSwitch(paths, async ({ lab, fakes }) => {
    const first = new Controller(lab, { pipeline: paths, verifySwitchOwner: false });
    await first.start();
    const entries = fakes.entries(0, "s1");
    first.close();
    // Someone else changes the switch while no controller runs.
    const other = await P4RuntimeClient.connect({
      address: fakes.servers[0].address,
      p4info: fakes.p4info,
      electionId: 5n,
    });
    try {
      await other.modifyEntry({
        table: TABLES.backends,
        match: { backend_id: 1 },
        action: ACTIONS.setBackend,
        params: { backend_ip: "10.9.9.9" },
      });
      await other.deleteEntry({ table: TABLES.slots, match: { slot: 3 } });
      await other.insertEntry({
        table: TABLES.backends,
        match: { backend_id: 9 },
        action: ACTIONS.setBackend,
        params: { backend_ip: "10.9.9.8" },
      });
    } finally {
      other.close();
    }
    await using second = new Controller(lab, { pipeline: paths, verifySwitchOwner: false });
    await second.start();
    assert.equal(second.health().switches[0].pipeline, "kept");
    assert.deepEqual(fakes.entries(0, "s1"), entries);
    const [v] = await second.verify();
    assert.deepEqual([v.switch, v.inSync, v.missing, v.unexpected, v.different], [
      "s1",
      true,
      [],
      [],
      [],
    ]);
  });
});

await pipelineTest(
  "verify reports drift; a rejected change is undone and keeps the state",
  async (paths) => {
    await withOneSwitch(paths, async ({ lab, fakes, runDir }) => {
      await using c = new Controller(lab, { pipeline: paths, verifySwitchOwner: false });
      await c.start();
      const entries = fakes.entries(0, "s1");
      const saved = async () =>
        JSON.parse(await Deno.readTextFile(`${runDir}/lb_state.json`)).state;
      const stateBefore = await saved();
      // Another client briefly takes over and deletes slot 15 behind our back. Adding h3 moves
      // slots 8..15 to it: the MODIFY of slot 15 fails (NOT_FOUND) after the backend's INSERT
      // and the other MODIFYs were applied, so those must be undone.
      const other = await P4RuntimeClient.connect({
        address: fakes.servers[0].address,
        p4info: fakes.p4info,
        electionId: 5n,
      });
      try {
        await other.deleteEntry({ table: TABLES.slots, match: { slot: 15 } });
      } finally {
        other.close();
      }
      await until(() => c.health().switches[0].primary);
      const [drift] = await c.verify("s1");
      assert.equal(drift.inSync, false);
      assert.deepEqual(drift.missing.map((e) => [e.table, e.match]), [[TABLES.slots, {
        slot: 15,
      }]]);
      const tampered = fakes.entries(0, "s1");
      assert.equal(tampered.length, entries.length - 1);

      const rpcs = fakes.writeRpcs();
      await assert.rejects(() => c.addBackend("h3"), (err: unknown) => {
        assert.ok(err instanceof P4RuntimeError);
        assert.match(err.message, /Switch "s1" rejected the change: .*NOT_FOUND/);
        assert.match(err.hint ?? "", /nothing was changed/);
        return true;
      });
      assert.equal(fakes.writeRpcs() - rpcs, 2, "the change, then its undo");
      assert.deepEqual(c.listBackends().backends.map((b) => b.host), ["h2"]);
      assert.deepEqual(fakes.entries(0, "s1"), tampered);
      assert.deepEqual(await saved(), stateBefore);
      const h = c.health().switches[0];
      assert.equal(h.inSync, true);
      assert.match(h.lastError ?? "", /NOT_FOUND/);
    });
  },
);

await pipelineTest(
  "two switches: routes everywhere, load balancer on its switch",
  async (paths) => {
    const runDir = await Deno.makeTempDir({ prefix: "p4t-ctl-" });
    const fakes = await startFakes(paths, [1, 2]);
    try {
      const lab = twoSwitchLab(runDir, [fakes.ports[0], fakes.ports[1]]);
      await using c = new Controller(lab, { pipeline: paths, verifySwitchOwner: false });
      await c.start();
      const plan = () => planLabEntries(lab, c.state());
      const want = (sw: string) =>
        sortViews(viewPlanned(fakes.p4info, plan().filter((e) => e.switch === sw)));
      assert.deepEqual(fakes.entries(0, "s1"), want("s1"));
      assert.deepEqual(fakes.entries(1, "s2"), want("s2"));
      assert.ok(
        fakes.entries(1, "s2").every((e) =>
          e.table === TABLES.routes || e.table === TABLES.portMacs
        ),
      );
      assert.equal(fakes.entries(1, "s2").filter((e) => e.table === TABLES.routes).length, 4);
      // h3 sits behind s2: the migration still only rewrites s1's load-balancer entries.
      const s2Rpcs = fakes.servers[1].writeRpcs;
      await c.migrateBackend("h2", "h3");
      assert.equal(fakes.servers[1].writeRpcs, s2Rpcs);
      assert.equal(backendIp(fakes), "10.0.3.10");
      assert.deepEqual(fakes.entries(0, "s1"), want("s1"));
      assert.deepEqual(sortViews(await c.readEntries("s2")), want("s2"));
      assert.deepEqual(sortViews(await c.readEntries()), sortViews([...want("s1"), ...want("s2")]));
      const h = c.health();
      assert.equal(h.ok, true);
      assert.deepEqual(h.switches.map((s) => [s.name, s.deviceId, s.primary, s.entries]), [
        ["s1", 1, true, want("s1").length],
        ["s2", 2, true, want("s2").length],
      ]);
      assert.deepEqual((await c.verify()).map((v) => v.inSync), [true, true]);
    } finally {
      await fakes.stop();
      await Deno.remove(runDir, { recursive: true });
    }
  },
);

await pipelineTest("start fails cleanly when a switch is missing", async (paths) => {
  const runDir = await Deno.makeTempDir({ prefix: "p4t-ctl-" });
  const fakes = await startFakes(paths, [1]);
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = (l.addr as Deno.NetAddr).port;
  l.close();
  try {
    const lab = twoSwitchLab(runDir, [fakes.ports[0], deadPort]);
    const c = new Controller(lab, {
      pipeline: paths,
      connectTimeoutMs: 300,
      verifySwitchOwner: false,
    });
    await assert.rejects(() => c.start(), (err: unknown) => {
      assert.ok(err instanceof P4RuntimeError);
      assert.match(err.message, new RegExp(`127.0.0.1:${deadPort} is unreachable`));
      return true;
    });
    assert.equal(c.health().ok, false);
    await until(() => fakes.servers[0].primaryElectionId === undefined);
  } finally {
    await fakes.stop();
    await Deno.remove(runDir, { recursive: true });
  }
});

async function until(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
