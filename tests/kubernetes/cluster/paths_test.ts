import assert from "node:assert/strict";
import {
  clusterPaths,
  COMPONENTS,
  exitFile,
  logFile,
  pidFile,
  podmanStorageArgs,
  SHORT_ROOT,
} from "../../../lib/kubernetes/cluster/paths.ts";

const RUN = "/home/student/p4containerflow/.run/labs/kubernetes";

/** Every string leaf of an object. */
function leaves(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (typeof value === "object" && value !== null) return Object.values(value).flatMap(leaves);
  return [];
}

Deno.test("every cluster path is under <runDir>/k8s except the short directory's", () => {
  const p = clusterPaths(`${RUN}/`);
  assert.equal(p.root, `${RUN}/k8s`);
  const outside = leaves(p).filter((x) => !x.startsWith(`${p.root}/`) && x !== p.root);
  assert.deepEqual(outside.sort(), [p.podmanTmp, p.shortDir, p.storageRunroot].sort());
  for (const x of outside) assert.ok(x.startsWith(`${p.shortDir}`), x);
  assert.ok(p.shortDir.startsWith(`${SHORT_ROOT}/k8s-`));
});

Deno.test("the storage run root stays within podman's 50 characters whatever the run directory", () => {
  const long = `/home/${"x".repeat(120)}/.run/labs/some-long-lab-name`;
  assert.ok(clusterPaths(long).storageRunroot.length <= 50);
});

Deno.test("two run directories never share a short directory; one run directory always the same", () => {
  assert.notEqual(clusterPaths("/a/labs/x").shortDir, clusterPaths("/b/labs/x").shortDir);
  assert.equal(clusterPaths("/a/labs/x").shortDir, clusterPaths("/a/labs/x/").shortDir);
});

Deno.test("CNI directories, checkpoints and kubeconfigs are where the lab and CRI-O look", () => {
  const p = clusterPaths(RUN);
  assert.equal(p.cniBinDir, `${RUN}/k8s/cni/bin`);
  assert.equal(p.cniConfDir, `${RUN}/k8s/cni/net.d`);
  assert.equal(p.checkpointsDir, `${p.kubeletDir}/checkpoints`);
  assert.equal(p.kubeconfigs.migrator, `${RUN}/k8s/migrator.kubeconfig`);
  assert.equal(new Set(Object.values(p.kubeconfigs)).size, 5);
});

Deno.test("each component has its own pid, exit and log file in the run directory", () => {
  const p = clusterPaths(RUN);
  const files = COMPONENTS.flatMap((c) => [pidFile(p, c), exitFile(p, c), logFile(p, c)]);
  assert.equal(new Set(files).size, COMPONENTS.length * 3);
  for (const f of files) assert.ok(f.startsWith(`${RUN}/k8s/`), f);
  assert.equal(pidFile(p, "kube-apiserver"), `${RUN}/k8s/pids/kube-apiserver.pid`);
});

Deno.test("podmanStorageArgs point podman at CRI-O's storage, driver and run root", () => {
  const p = clusterPaths(RUN);
  assert.deepEqual(podmanStorageArgs(p), [
    "--root",
    p.storageRoot,
    "--runroot",
    p.storageRunroot,
    "--storage-driver",
    "overlay",
    "--tmpdir",
    p.podmanTmp,
  ]);
});
