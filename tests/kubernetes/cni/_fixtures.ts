/**
 * Shared fixtures of the CNI plugin tests: the shipped Kubernetes lab with a temporary run root,
 * and a well-formed CNI call environment to vary.
 */
import { loadLab } from "../../../lib/lab/load.ts";
import type { Lab } from "../../../lib/lab/types.ts";

/** lab/kubernetes.yaml, resolved with a run root that is never created. */
export function kubernetesLab(): Promise<Lab> {
  return loadLab("kubernetes", { runRoot: "/nonexistent/p4t-cni-runs" });
}

/** The stdin config the conflist of `lab` gives the plugin. */
export function confText(lab: Lab, cniVersion = "1.0.0"): string {
  return JSON.stringify({
    cniVersion,
    name: `p4cf-${lab.id}`,
    type: "p4cf",
    labFile: lab.file,
    runRoot: lab.runDir!.replace(/\/[^/]+$/, ""),
  });
}

/** A CNI environment for `command` on pod `pod` (namespace default). */
export function cniEnv(
  command: string,
  pod: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: `cid-${pod}`,
    CNI_NETNS: `/var/run/netns/pod-${pod}`,
    CNI_IFNAME: "eth0",
    CNI_ARGS:
      `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${pod};K8S_POD_INFRA_CONTAINER_ID=cid-${pod}`,
    CNI_PATH: "/opt/cni/bin:/usr/libexec/cni",
    ...extra,
  };
}
