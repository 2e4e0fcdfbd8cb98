import assert from "node:assert/strict";
import { findProgram, lookupBinaries } from "../../../lib/kubernetes/cluster/binaries.ts";
import { nodeIdentity } from "../../../lib/kubernetes/cluster/config.ts";
import { mountsUnder } from "../../../lib/kubernetes/cluster/down.ts";
import { nodeDeviceArgv, sysctlChanges } from "../../../lib/kubernetes/cluster/host.ts";
import { commOf } from "../../../lib/kubernetes/cluster/processes.ts";

Deno.test("binaries: P4CF_KUBERNETES_BIN is searched before PATH", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/etcd`, "#!/bin/sh\n", { mode: 0o755 });
    await Deno.writeTextFile(`${dir}/crio`, "not executable\n", { mode: 0o644 });
    const env = { P4CF_KUBERNETES_BIN: `${dir}/`, PATH: "" };
    assert.equal(findProgram("etcd", env), `${dir}/etcd`);
    assert.equal(findProgram("crio", env), undefined);
    const { missing } = lookupBinaries(env);
    assert.ok(missing.includes("crio") && missing.includes("kubelet") && !missing.includes("etcd"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sysctls: only changed values are restored, absent ones skipped", () => {
  assert.deepEqual(
    sysctlChanges(
      { "kernel.panic": "1", "vm.overcommit_memory": "0", "net.bridge.x": "1" },
      { "kernel.panic": "10", "vm.overcommit_memory": "0" },
    ),
    [["kernel.panic", "1"]],
  );
});

Deno.test("the node address device is a port-less bridge with a /32", () => {
  const node = nodeIdentity("k8s");
  assert.deepEqual(nodeDeviceArgv(node), [
    ["ip", "link", "add", "k8s-node", "type", "bridge"],
    ["ip", "addr", "add", `${node.nodeIp}/32`, "dev", "k8s-node"],
    ["ip", "link", "set", "k8s-node", "up"],
  ]);
});

Deno.test("mounts under the cluster directory: deepest first, escapes decoded, no siblings", () => {
  const out = [
    "/",
    "/srv/lab/k8s",
    "/srv/lab/k8s/storage/overlay/abc/merged",
    "/srv/lab/k8s2/x",
    "/srv/lab/k8s/crio/ns/netns/with\\x20space",
    "",
  ].join("\n");
  assert.deepEqual(mountsUnder(out, "/srv/lab/k8s"), [
    "/srv/lab/k8s/storage/overlay/abc/merged",
    "/srv/lab/k8s/crio/ns/netns/with space",
    "/srv/lab/k8s",
  ]);
});

Deno.test("comm: the executable's file name cut to 15 characters, as the kernel does", () => {
  assert.equal(commOf("/usr/bin/kube-controller-manager"), "kube-controller");
  assert.equal(commOf("/opt/k8s/bin/etcd"), "etcd");
  assert.equal(commOf("crio"), "crio");
});
