import assert from "node:assert/strict";
import { namespaceObject } from "../../../lib/kubernetes/namespace.ts";
import { parse, parseAllDocuments } from "yaml";
import {
  crioConf,
  kubeconfigs,
  kubeletConfig,
  manifest,
  MIGRATOR_ROLE,
  nodeIdentity,
  objectPath,
  PAUSE_IMAGE,
  rbacObjects,
} from "../../../lib/kubernetes/cluster/config.ts";
import { clusterPaths } from "../../../lib/kubernetes/cluster/paths.ts";
import { MIGRATOR_USER } from "../../../lib/kubernetes/cluster/pki.ts";

const paths = clusterPaths("/srv/p4cf/.run/labs/kubernetes");
const node = nodeIdentity("k8s");
const binaries = { pinns: "/usr/bin/pinns", runc: "/usr/sbin/runc", conmon: "/usr/bin/conmon" };
const conf = crioConf({ paths, binaries, pauseImage: PAUSE_IMAGE });

/** `key = value` of a TOML text, for the keys we check (values as written). */
function tomlValue(text: string, key: string): string | undefined {
  return new RegExp(`^${key} = (.*)$`, "m").exec(text)?.[1];
}

Deno.test("node identity: names with the lab's prefix, a 10.254.x.1 address stable per id", () => {
  assert.deepEqual(
    { ...node, nodeIp: "", ports: undefined },
    {
      labId: "k8s",
      nodeName: "k8s-node",
      device: "k8s-node",
      nodeIp: "",
      cgroupRoot: "/p4cf-k8s",
      namespace: "p4cf-k8s",
      ports: undefined,
    },
  );
  assert.match(node.nodeIp, /^10\.254\.(\d+)\.1$/);
  const octet = Number(node.nodeIp.split(".")[2]);
  assert.ok(octet >= 1 && octet <= 254);
  assert.equal(nodeIdentity("k8s").nodeIp, node.nodeIp);
  const ips = new Set(
    ["pm", "hc", "sc", "redis", "k8s", "t1a2", "t9z9"].map((id) => nodeIdentity(id).nodeIp),
  );
  assert.ok(ips.size >= 6, "ids of shipped labs mostly get distinct addresses");
  assert.ok(nodeIdentity("abcde").device.length <= 15);
});

Deno.test("crio.conf: CRIU on, no infra process, cgroupfs, local pause image", () => {
  assert.equal(tomlValue(conf, "enable_criu_support"), "true");
  assert.equal(tomlValue(conf, "drop_infra_ctr"), "true");
  assert.equal(tomlValue(conf, "cgroup_manager"), '"cgroupfs"');
  assert.equal(tomlValue(conf, "pause_image"), JSON.stringify(PAUSE_IMAGE));
  assert.equal(tomlValue(conf, "runtime_path"), '"/usr/sbin/runc"');
  assert.equal(tomlValue(conf, "monitor_path"), '"/usr/bin/conmon"');
  assert.equal(tomlValue(conf, "pinns_path"), '"/usr/bin/pinns"');
  assert.equal(tomlValue(conf, "stream_address"), '"127.0.0.1"');
});

Deno.test("crio.conf: no signature_policy (an explicit one breaks checkpoint restore)", () => {
  assert.doesNotMatch(conf, /^\s*signature_policy\s*=/m);
});

Deno.test("crio.conf: CNI from the lab's directories first, then the system's", () => {
  assert.equal(tomlValue(conf, "network_dir"), JSON.stringify(paths.cniConfDir));
  assert.equal(
    tomlValue(conf, "plugin_dirs"),
    `[${JSON.stringify(paths.cniBinDir)}, "/usr/lib/cni", "/opt/cni/bin"]`,
  );
  const only = crioConf({
    paths,
    binaries,
    pauseImage: PAUSE_IMAGE,
    systemCniDirs: ["/usr/lib/cni"],
  });
  assert.equal(
    tomlValue(only, "plugin_dirs"),
    `[${JSON.stringify(paths.cniBinDir)}, "/usr/lib/cni"]`,
  );
});

Deno.test("crio.conf: every state path in the cluster's directories", () => {
  const keys = [
    "root",
    "runroot",
    "log_dir",
    "version_file",
    "version_file_persist",
    "clean_shutdown_file",
    "listen",
    "namespaces_dir",
    "container_exits_dir",
    "container_attach_socket_dir",
    "runtime_root",
  ];
  for (const key of keys) {
    const value = JSON.parse(tomlValue(conf, key)!);
    assert.ok(value.startsWith(`${paths.root}/`) || value.startsWith(`${paths.shortDir}/`), key);
  }
  assert.equal(JSON.parse(tomlValue(conf, "listen")!), paths.crioSocket);
});

Deno.test("kubelet: cgroup v1 allowed, API on the node address only, the rest on loopback", () => {
  const k = parse(kubeletConfig(paths, node));
  assert.equal(k.kind, "KubeletConfiguration");
  assert.equal(k.failCgroupV1, false);
  assert.equal(k.cgroupDriver, "cgroupfs");
  assert.equal(k.cgroupRoot, "/p4cf-k8s");
  assert.equal(k.address, node.nodeIp);
  assert.equal(k.healthzBindAddress, "127.0.0.1");
  assert.equal(k.readOnlyPort, 0);
  assert.equal(k.containerRuntimeEndpoint, `unix://${paths.crioSocket}`);
  assert.equal(k.authentication.anonymous.enabled, false);
  assert.equal(k.authorization.mode, "Webhook");
  assert.equal(k.makeIPTablesUtilChains, false);
  assert.equal(k.featureGates.ContainerCheckpoint, true);
  assert.equal(k.podLogsDir, paths.podLogsDir);
  assert.equal(k.tlsCertFile, `${paths.pkiDir}/kubelet-serving.crt`);
});

Deno.test("kubeconfigs: loopback API server, the cluster CA, one certificate each", () => {
  const all = kubeconfigs(paths, node);
  assert.deepEqual([...all.keys()].sort(), Object.values(paths.kubeconfigs).sort());
  const m = parse(all.get(paths.kubeconfigs.migrator)!);
  assert.equal(m.clusters[0].cluster.server, `https://127.0.0.1:${node.ports.api}`);
  assert.equal(m.clusters[0].cluster["certificate-authority"], `${paths.pkiDir}/ca.crt`);
  assert.equal(m.users[0].name, MIGRATOR_USER);
  assert.equal(m.users[0].user["client-certificate"], `${paths.pkiDir}/migrator.crt`);
  assert.equal(m.users[0].user["client-key"], `${paths.pkiDir}/migrator.key`);
  assert.equal(m["current-context"], m.contexts[0].name);
  const kubelet = parse(all.get(paths.kubeconfigs.kubelet)!);
  assert.equal(kubelet.users[0].name, "system:node:k8s-node");
});

Deno.test("RBAC: the migrator may create/get nodes/proxy and nothing else", () => {
  const [role, binding] = rbacObjects();
  assert.equal(role.kind, "ClusterRole");
  assert.deepEqual(role.rules, [{
    apiGroups: [""],
    resources: ["nodes/proxy"],
    verbs: ["create", "get"],
  }]);
  assert.equal(binding.kind, "ClusterRoleBinding");
  assert.deepEqual(binding.roleRef, {
    apiGroup: "rbac.authorization.k8s.io",
    kind: "ClusterRole",
    name: MIGRATOR_ROLE,
  });
  assert.deepEqual(binding.subjects, [{
    apiGroup: "rbac.authorization.k8s.io",
    kind: "User",
    name: MIGRATOR_USER,
  }]);
});

Deno.test("manifest: one YAML document per object; API paths for server-side apply", () => {
  const objects = [...rbacObjects(), namespaceObject("p4cf-k8s")];
  const docs = parseAllDocuments(manifest(objects)).map((d) => d.toJSON());
  assert.deepEqual(docs, objects);
  assert.deepEqual(objects.map(objectPath), [
    "/apis/rbac.authorization.k8s.io/v1/clusterroles/p4cf-migrator",
    "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/p4cf-migrator",
    "/api/v1/namespaces/p4cf-k8s",
  ]);
});
