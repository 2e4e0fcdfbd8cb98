import assert from "node:assert/strict";
import { UserError } from "../../lib/errors.ts";
import { RecordingProgress } from "../../lib/progress.ts";
import { up } from "../../lib/topology/apply.ts";
import { planLab } from "../../lib/topology/plan.ts";
import { readState, statePath } from "../../lib/topology/state.ts";
import type { SwitchStartContext } from "../../lib/topology/switch_start.ts";
import { down } from "../../lib/topology/teardown.ts";
import { FakeSystem } from "./_fake_system.ts";
import { testLab } from "./_lab.ts";

const quiet = { skipPreflight: true };

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("up creates the topology, records it, and a second up verifies and does nothing", async () => {
  const { lab, runRoot } = await testLab("host-containers");
  const sys = new FakeSystem();
  try {
    const progress = new RecordingProgress();
    const result = await up(lab, { ...quiet, shell: sys, progress });
    assert.equal(result.alreadyUp, false);
    assert.deepEqual([...sys.netns].sort(), lab.hosts.map((h) => h.netns).sort());
    assert.deepEqual([...sys.pods.keys()].sort(), lab.hosts.map((h) => h.pod).sort());
    assert.deepEqual(
      [...sys.links.keys()].sort(),
      lab.switches[0].ports.map((p) => p.iface).sort(),
    );
    assert.deepEqual(result.skipped, planLab(lab).steps.slice(-2).map((s) => s.title));
    assert.ok(
      progress.events.some((e) => /^warn \[17\/17\] switch s1: .*skipped/.test(e)),
      progress.events.join("\n"),
    );
    assert.ok(progress.events.includes(`step [1/17] host h1: pod ${lab.id}-h1`));
    const state = (await readState(lab.runDir!))!;
    assert.equal(state.phase, "up");
    assert.equal(state.objects.length, 9);
    assert.deepEqual(state.objects[0], { kind: "pod", name: `${lab.id}-h1` });
    // The pod's attach step resolved the infra container's pid.
    assert.ok(sys.calls.includes(`ip netns attach ${lab.id}-h1 4242`));

    const before = sys.calls.length;
    const again = await up(lab, { ...quiet, shell: sys });
    assert.equal(again.alreadyUp, true);
    const created = sys.calls.slice(before).filter((c) => / (add|create|start|attach) /.test(c));
    assert.deepEqual(created, []);

    const gone = await down(lab, { shell: sys });
    assert.equal(gone.failed.length, 0);
    assert.ok(sys.isEmpty(), sys.describe());
    assert.equal(await exists(statePath(lab.runDir!)), false);
  } finally {
    await Deno.remove(runRoot, { recursive: true });
  }
});

Deno.test("every object is in the state file before the step that creates it runs", async () => {
  const { lab, runRoot } = await testLab("process-migration-4sw");
  const sys = new FakeSystem();
  try {
    let checked = 0;
    await up(lab, {
      ...quiet,
      shell: sys,
      beforeStep: async (step) => {
        const state = (await readState(lab.runDir!))!;
        for (const obj of step.creates) {
          assert.deepEqual(state.objects.at(-step.creates.length + step.creates.indexOf(obj)), obj);
        }
        checked += step.creates.length;
      },
    });
    assert.equal(checked, (await readState(lab.runDir!))!.objects.length);
    assert.ok(checked >= 4 + 7);
    await down(lab, { shell: sys });
    assert.ok(sys.isEmpty(), sys.describe());
  } finally {
    await Deno.remove(runRoot, { recursive: true });
  }
});

Deno.test("a failing step removes what up created and rethrows", async () => {
  const { lab, runRoot } = await testLab("host-containers");
  const sys = new FakeSystem();
  sys.failOn = /ip link add \S+-s1-eth2 /;
  try {
    const progress = new RecordingProgress();
    await assert.rejects(up(lab, { ...quiet, shell: sys, progress }), /injected failure/);
    assert.ok(sys.isEmpty(), sys.describe());
    assert.ok(sys.calls.includes(`podman pod rm --force --time 0 ${lab.id}-h1`));
    assert.equal(await readState(lab.runDir!), undefined);
    assert.ok(progress.events.some((e) => e.startsWith(`warn bringing up lab ${lab.name} failed`)));
  } finally {
    await Deno.remove(runRoot, { recursive: true });
  }
});

Deno.test("an aborted up (kept on failure) is removed by down, and by the next up", async () => {
  const { lab, runRoot } = await testLab("process-migration");
  const sys = new FakeSystem();
  try {
    const abort = (at: number) => (_s: unknown, i: number) => {
      if (i === at) throw new Error("killed");
    };
    await assert.rejects(
      up(lab, { ...quiet, shell: sys, keepOnFailure: true, beforeStep: abort(6) }),
      /killed/,
    );
    assert.equal((await readState(lab.runDir!))!.phase, "creating");
    assert.equal(sys.netns.size, 2);
    const first = await down(lab.name, { shell: sys, runRoot });
    assert.ok(sys.isEmpty(), sys.describe());
    assert.deepEqual(first.failed, []);
    const second = await down(lab.file, { shell: sys, runRoot });
    assert.deepEqual([second.removed, second.failed], [[], []]);

    await assert.rejects(
      up(lab, { ...quiet, shell: sys, keepOnFailure: true, beforeStep: abort(9) }),
      /killed/,
    );
    const progress = new RecordingProgress();
    const result = await up(lab, { ...quiet, shell: sys, progress });
    assert.equal(result.alreadyUp, false);
    assert.ok(progress.events.some((e) => /was left half-created; removing it first/.test(e)));
    assert.equal(sys.netns.size, 3);
    await down(lab, { shell: sys });
    assert.ok(sys.isEmpty(), sys.describe());
  } finally {
    await Deno.remove(runRoot, { recursive: true });
  }
});

Deno.test("down tolerates objects that are already gone, and sweeps unrecorded leftovers", async () => {
  const { lab, runRoot } = await testLab("host-containers");
  const sys = new FakeSystem();
  try {
    await up(lab, { ...quiet, shell: sys });
    // Someone removed a pod and a link by hand; an unrecorded link with the prefix appeared.
    await sys.run(["podman", "pod", "rm", "--force", "--time", "0", `${lab.id}-h2`]);
    await sys.run(["ip", "link", "del", "dev", `${lab.id}-s1-eth3`]);
    await sys.run(["ip", "link", "add", `${lab.id}-s9-eth1`, "type", "veth", "peer", "name", "x"]);
    const result = await down(lab, { shell: sys });
    assert.ok(result.alreadyGone.includes(`pod ${lab.id}-h2`), JSON.stringify(result));
    assert.ok(result.alreadyGone.includes(`link ${lab.id}-s1-eth3`));
    assert.ok(result.removed.includes(`link ${lab.id}-s9-eth1`));
    assert.deepEqual(result.failed, []);
    assert.ok(sys.isEmpty(), sys.describe());
  } finally {
    await Deno.remove(runRoot, { recursive: true });
  }
});

Deno.test("up refuses to clobber existing objects, other definitions and other labs' ids", async () => {
  const { lab, runRoot, text } = await testLab("process-migration");
  const sys = new FakeSystem();
  try {
    sys.netns.add(`${lab.id}-h2`);
    await assert.rejects(up(lab, { ...quiet, shell: sys }), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, new RegExp(`netns ${lab.id}-h2 already exist`));
      assert.match(err.hint ?? "", /lab down/);
      return true;
    });
    sys.netns.clear();
    await up(lab, { ...quiet, shell: sys });
    const { parseLabText } = await import("../../lib/lab/parse.ts");
    const changed = parseLabText(text.replace("10.0.3.3/24", "10.0.3.4/24"), lab.file, { runRoot });
    await assert.rejects(
      up(changed, { ...quiet, shell: sys }),
      /already up with a different definition/,
    );
    const twin = parseLabText(text.replace(/^name: .*$/m, `name: ${lab.name}-twin`), lab.file, {
      runRoot,
    });
    await assert.rejects(
      up(twin, { ...quiet, shell: sys }),
      new RegExp(`uses id "${lab.id}", like lab ${lab.name}`),
    );
    sys.netns.delete(`${lab.id}-h1`);
    await assert.rejects(
      up(lab, { ...quiet, shell: sys }),
      new RegExp(`up but broken: netns ${lab.id}-h1 is missing`),
    );
    await down(lab, { shell: sys });
    assert.ok(sys.isEmpty(), sys.describe());
  } finally {
    await Deno.remove(runRoot, { recursive: true });
  }
});

Deno.test("the switch hook gets its context; skipped switches start on a later up", async () => {
  const { lab, runRoot } = await testLab("process-migration-4sw");
  const sys = new FakeSystem();
  try {
    await up(lab, { ...quiet, shell: sys });
    // Four switches and the guard of their ports.
    assert.equal((await readState(lab.runDir!))!.skipped.length, 5);
    const seen: SwitchStartContext[] = [];
    const result = await up(lab, {
      ...quiet,
      shell: sys,
      startSwitch: (ctx) => Promise.resolve(void seen.push(ctx)),
    });
    assert.equal(result.alreadyUp, true);
    assert.deepEqual(seen.map((c) => c.switch.name), ["s1", "s2", "s3", "s4"]);
    assert.equal(seen[0].pidFile, `${lab.runDir}/s1.pid`);
    assert.equal(seen[0].logFile, `${lab.runDir}/s1.log`);
    assert.equal(seen[0].pcapDir, `${lab.runDir}/pcaps`);
    assert.deepEqual(seen[0].labels, { "p4cf.lab": lab.name });
    assert.ok(await exists(seen[0].pcapDir));
    const state = (await readState(lab.runDir!))!;
    assert.deepEqual(state.skipped, []);
    assert.deepEqual(state.objects.filter((o) => o.kind === "process").map((o) => o.name), [
      "s1",
      "s2",
      "s3",
      "s4",
    ]);
    await down(lab, { shell: sys });
    assert.ok(sys.isEmpty(), sys.describe());
  } finally {
    await Deno.remove(runRoot, { recursive: true });
  }
});

Deno.test("down of an unknown lab without state is a UserError", async () => {
  const runRoot = await Deno.makeTempDir({ prefix: "p4t-runs-" });
  try {
    await assert.rejects(
      down("p4t-no-such-lab", { shell: new FakeSystem(), runRoot }),
      /has no state file and its definition cannot be loaded/,
    );
  } finally {
    await Deno.remove(runRoot, { recursive: true });
  }
});
