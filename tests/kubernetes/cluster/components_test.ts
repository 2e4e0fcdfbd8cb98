import assert from "node:assert/strict";
import type { ClusterBinaries } from "../../../lib/kubernetes/cluster/binaries.ts";
import {
  apiServerArgv,
  clusterPorts,
  type ClusterSpec,
  controllerManagerArgv,
  crioArgv,
  etcdArgv,
  kubeletArgv,
  NODE_NS_SCRIPT,
  nodeNamespaceArgv,
  schedulerArgv,
} from "../../../lib/kubernetes/cluster/components.ts";
import { nodeIdentity } from "../../../lib/kubernetes/cluster/config.ts";
import { clusterPaths } from "../../../lib/kubernetes/cluster/paths.ts";
import { CGROUP_RMDIR_SCRIPT } from "../../../lib/kubernetes/cluster/down.ts";

const binaries = new Proxy({}, { get: (_t, name) => `/bin/${String(name)}` }) as ClusterBinaries;
const spec: ClusterSpec = {
  paths: clusterPaths("/srv/.run/labs/kubernetes"),
  binaries,
  node: nodeIdentity("k8s"),
};

/** The value after `flag` in argv. */
function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i < 0 ? undefined : argv[i + 1];
}

Deno.test("etcd listens on loopback only (clients with TLS and client certificates)", () => {
  const argv = etcdArgv(spec);
  assert.equal(argv[0], "/bin/etcd");
  for (const f of ["--listen-client-urls", "--listen-peer-urls", "--listen-metrics-urls"]) {
    assert.match(flag(argv, f)!, /^https?:\/\/127\.0\.0\.1:\d+$/, f);
  }
  assert.ok(argv.includes("--client-cert-auth"));
  assert.ok(!argv.includes("--unsafe-no-fsync"));
  assert.ok(etcdArgv({ ...spec, etcdNoFsync: true }).includes("--unsafe-no-fsync"));
});

Deno.test("API server: bound to 127.0.0.1, advertises and reaches the kubelet at the node address", () => {
  const argv = apiServerArgv(spec);
  assert.equal(flag(argv, "--bind-address"), "127.0.0.1");
  assert.equal(flag(argv, "--secure-port"), String(spec.node.ports.api));
  assert.equal(flag(argv, "--advertise-address"), spec.node.nodeIp);
  assert.equal(flag(argv, "--kubelet-preferred-address-types"), "InternalIP");
  assert.equal(flag(argv, "--etcd-servers"), `https://127.0.0.1:${spec.node.ports.etcdClient}`);
  assert.equal(flag(argv, "--authorization-mode"), "Node,RBAC");
  assert.ok(argv.includes("--anonymous-auth=false"));
});

Deno.test("controller manager and scheduler: loopback, healthz with the cluster's certificates", () => {
  for (const argv of [controllerManagerArgv(spec), schedulerArgv(spec)]) {
    assert.equal(flag(argv, "--bind-address"), "127.0.0.1");
    assert.match(flag(argv, "--tls-cert-file")!, /\/pki\/(controller-manager|scheduler)\.crt$/);
    assert.ok(argv.includes("--leader-elect=false"));
  }
});

Deno.test("the node namespace: a new mount namespace, made a slave by its script", () => {
  const argv = nodeNamespaceArgv(spec);
  assert.deepEqual(argv.slice(0, 6), [
    "/bin/unshare",
    "--mount",
    "--propagation",
    "unchanged",
    "bash",
    "-c",
  ]);
  assert.equal(argv[6], NODE_NS_SCRIPT);
  assert.deepEqual(argv.slice(8), [
    spec.paths.cgroupfsDir,
    spec.paths.nodeNsReady,
    spec.node.cgroupRoot,
    spec.paths.crioNamespacesDir,
  ]);
  // Slaves all but the two directories shared with the machine.
  assert.match(
    NODE_NS_SCRIPT,
    /case "\$m" in \/run\/netns\|"\$podns"\) ;; \*\) mount --make-slave/,
  );
});

Deno.test("CRI-O and the kubelet run in the node namespace, on their own configuration", () => {
  const crio = crioArgv(spec, 4242);
  assert.deepEqual(crio.slice(0, 3), ["/bin/nsenter", "--mount=/proc/4242/ns/mnt", "--"]);
  assert.deepEqual(crio.slice(3), [
    "/bin/crio",
    "--config",
    spec.paths.crioConf,
    "--config-dir",
    "",
  ]);
  const kubelet = kubeletArgv(spec, 4242);
  assert.equal(kubelet[3], "/bin/kubelet");
  assert.equal(flag(kubelet, "--node-ip"), spec.node.nodeIp);
  assert.equal(flag(kubelet, "--hostname-override"), "k8s-node");
  assert.equal(flag(kubelet, "--root-dir"), spec.paths.kubeletDir);
});

Deno.test("a cluster's ports are a block of the lab's own below the ephemeral range, each once", () => {
  const ports = clusterPorts(spec.node);
  assert.equal(new Set(ports).size, ports.length);
  assert.ok(ports.includes(10250), "the kubelet's API port, on the lab's own node address");
  for (const p of ports.filter((p) => p !== 10250)) assert.ok(p >= 30000 && p < 32768, `${p}`);
  // Two labs' clusters can run side by side (the shipped lab and test labs' ids).
  const a = clusterPorts(nodeIdentity("k8s")).filter((p) => p !== 10250);
  const b = clusterPorts(nodeIdentity("t1a2b")).filter((p) => p !== 10250);
  assert.ok(!a.some((p) => b.includes(p)));
});

Deno.test("the shell scripts parse (bash -n)", async () => {
  for (const script of [NODE_NS_SCRIPT, CGROUP_RMDIR_SCRIPT]) {
    const out = await new Deno.Command("bash", { args: ["-n", "-c", script], stderr: "piped" })
      .output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  }
  // The moves and mounts only happen on cgroup v1 without hugetlb; nothing outside the namespace.
  assert.match(NODE_NS_SCRIPT, /mount --move "\$cgfs" \$cg/);
  assert.match(NODE_NS_SCRIPT, /exec sleep infinity\n$/);
});
