/** lib/vm/apply.ts: steps run through the shell seam; failures skip to the cleanup. */
import assert from "node:assert/strict";
import { RecordingProgress } from "../../lib/progress.ts";
import { RecordingShell } from "../../lib/shell.ts";
import { applyVmCheck } from "../../lib/vm/apply.ts";
import { planVmCheck, type VmFacts } from "../../lib/vm/plan.ts";
import { vmCheckSettings } from "../../lib/vm/settings.ts";

const FACTS: VmFacts = {
  boxFile: true,
  boxAdded: true,
  virtlogd: true,
  libvirtd: true,
  mirror: { archive: "http://m.example/debian" },
  caFiles: [],
  aptSettings: [],
  repo: "/src/p4cf",
};

async function withCache(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "p4cf-vmcheck-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("every step runs with its output in its own log, in order", () =>
  withCache(async (dir) => {
    const s = vmCheckSettings({}, { P4CF_VM_DIR: dir });
    const shell = new RecordingShell([{ match: /virsh .* domstate/, result: { code: 1 } }]);
    const progress = new RecordingProgress();
    const results = await applyVmCheck(s, planVmCheck(s, FACTS), { shell, progress });
    assert.deepEqual(results.map((r) => [r.id, r.status]), [
      ["up", "ok"],
      ["provision", "ok"],
      ["test", "ok"],
      ["destroy", "ok"],
    ]);
    const up = shell.calls[0];
    assert.deepEqual(up.slice(0, 4), ["bash", "-c", 'exec "$@" >>"$0" 2>&1', `${s.logDir}/up.log`]);
    assert.deepEqual(up.slice(4), ["vagrant", "up", "--provider", "libvirt", "--no-provision"]);
    // After destroy: is the domain still there? (no: nothing more)
    assert.match(shell.lines().at(-1)!, /virsh -c qemu:\/\/\/system domstate p4cf-vmcheck-default/);
    assert.ok(progress.events.includes("step vagrant up (libvirt, qemu, 2 vCPUs, 5120 MB)"));
  }));

Deno.test("a failed vagrant up skips provisioning and tests, and the VM is still destroyed", () =>
  withCache(async (dir) => {
    const s = vmCheckSettings({}, { P4CF_VM_DIR: dir });
    const shell = new RecordingShell([
      { match: /vagrant up/, result: { code: 1 } },
      { match: /virsh .* domstate/, result: { code: 0, stdout: "running\n" } },
    ]);
    const progress = new RecordingProgress();
    const results = await applyVmCheck(s, planVmCheck(s, FACTS), { shell, progress });
    assert.deepEqual(results.map((r) => [r.id, r.status]), [
      ["up", "failed"],
      ["provision", "skipped"],
      ["test", "skipped"],
      ["destroy", "ok"],
    ]);
    // The domain vagrant destroy left is removed with virsh, with its storage.
    const lines = shell.lines();
    assert.ok(lines.includes("virsh -c qemu:///system destroy p4cf-vmcheck-default"));
    assert.ok(
      lines.includes(
        "virsh -c qemu:///system undefine p4cf-vmcheck-default --remove-all-storage",
      ),
    );
    assert.ok(progress.events.some((e) => /^warn failed \(exit 1\)/.test(e)));
  }));

Deno.test("failed provisioning is reported and the tests still run", () =>
  withCache(async (dir) => {
    const s = vmCheckSettings({ keep: true }, { P4CF_VM_DIR: dir });
    const shell = new RecordingShell([{ match: /vagrant provision/, result: { code: 1 } }]);
    const results = await applyVmCheck(s, planVmCheck(s, FACTS), {
      shell,
      progress: new RecordingProgress(),
    });
    assert.deepEqual(results.map((r) => [r.id, r.status]), [
      ["up", "ok"],
      ["provision", "failed"],
      ["test", "ok"],
    ]);
  }));
