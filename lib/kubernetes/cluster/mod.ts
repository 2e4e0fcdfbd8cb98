/**
 * A lab's own throwaway single-node Kubernetes cluster (etcd, API server, controller manager,
 * scheduler, kubelet, CRI-O with CRIU), started from the machine's binaries, with its own
 * certificates and its state under the lab's run directory (`<runDir>/k8s/`).
 *
 * ```ts
 * const reason = kubernetesMissing();           // undefined when this machine can run it
 * const info = await clusterUp(lab, {
 *   shell, progress, record,                    // record: the lab's state file (before creating)
 *   prepareNetwork: ({ cniBinDir, cniConfDir }) => installCniPlugin({ lab, binDir: cniBinDir, confDir: cniConfDir }),
 * });
 * // info.kubeconfig (admin), info.migratorKubeconfig (nodes/proxy only), info.podmanStorageArgs, ...
 * await clusterDown(runDirOf(lab), { shell, progress }); // from files alone, also after kill -9
 * ```
 *
 * @module
 */
export { BIN_ENV, findBinaries, kubernetesMissing } from "./binaries.ts";
export { nodeIdentity, PAUSE_IMAGE } from "./config.ts";
export type { NodeIdentity } from "./config.ts";
export { clusterDown } from "./down.ts";
export type { ClusterDownOptions, ClusterDownResult } from "./down.ts";
export { readClusterInfo } from "./info.ts";
export type { ClusterInfo } from "./info.ts";
export { clusterPaths, podmanStorageArgs } from "./paths.ts";
export type { ClusterPaths } from "./paths.ts";
export { clusterUp } from "./up.ts";
export type { ClusterUpContext } from "./up.ts";
