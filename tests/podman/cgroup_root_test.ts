/** lib/podman/cgroup_root.ts: the restored container's cgroup for CRIU's `cgroup-root`. */
import assert from "node:assert/strict";
import { podCgroup, restoredCgroupRoot, unifiedCgroups } from "../../lib/podman/cgroup_root.ts";
import { criuConfigText } from "../../lib/podman/criu_config.ts";

const ID = "0123456789abcdef".repeat(4);

Deno.test("systemd's pod slice holds a libpod scope; cgroupfs's pod cgroup a libpod directory", () => {
  assert.equal(
    restoredCgroupRoot("machine.slice/machine-libpod_pod_ab12.slice", ID),
    `/machine.slice/machine-libpod_pod_ab12.slice/libpod-${ID}.scope`,
  );
  assert.equal(
    restoredCgroupRoot("/libpod_parent/ab12/\n", ID),
    `/libpod_parent/ab12/libpod-${ID}`,
  );
  assert.throws(() => restoredCgroupRoot("", ID), /empty/);
  assert.throws(() => restoredCgroupRoot("/machine.slice", "abc"), /64-hex/);
});

Deno.test("the root goes into the restore's CRIU configuration only when given", () => {
  const root = `/machine.slice/machine-libpod_pod_ab12.slice/libpod-${ID}.scope`;
  const lines = criuConfigText({ actionScript: "/h.sh", leaveStopped: true, cgroupRoot: root })
    .split("\n");
  // No controller before the path: CRIU applies it to every hierarchy, the unified one too.
  assert.ok(lines.includes(`cgroup-root ${root}`));
  assert.ok(!criuConfigText({ actionScript: "/h.sh" }).includes("cgroup-root"));
});

Deno.test("a unified hierarchy is told by its cgroup.controllers file", () => {
  const dir = Deno.makeTempDirSync();
  try {
    assert.equal(unifiedCgroups(dir), false);
    Deno.writeTextFileSync(`${dir}/cgroup.controllers`, "cpu memory pids\n");
    assert.equal(unifiedCgroups(dir), true);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a pod's cgroup is found where Podman's systemd or cgroupfs manager puts it", () => {
  const dir = Deno.makeTempDirSync();
  try {
    assert.equal(podCgroup("ab12", dir), undefined, "a pod with its own --cgroup-parent");
    Deno.mkdirSync(`${dir}/machine.slice/machine-libpod_pod_ab12.slice`, { recursive: true });
    Deno.mkdirSync(`${dir}/libpod_parent/cd34`, { recursive: true });
    assert.equal(podCgroup("ab12", dir), "/machine.slice/machine-libpod_pod_ab12.slice");
    assert.equal(podCgroup("cd34", dir), "/libpod_parent/cd34");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
