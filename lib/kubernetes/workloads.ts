/**
 * A Kubernetes lab's workloads as Kubernetes objects (pure): a server becomes a Deployment (so it
 * can be scaled; its pods take the workload's slots in order), a client a bare Pod. Each pod's
 * single container is named after the workload (the kubelet checkpoint API addresses it by that
 * name) and runs the same FROM-scratch image a Podman lab builds, stored in the cluster's own
 * image storage (`imagePullPolicy: Never`: there is no registry).
 *
 * @module
 */
import type { Lab, Workload } from "../lab/types.ts";
import { workloadImageSpec } from "../workloads/start.ts";
import { labNamespace } from "./namespace.ts";

/** Label naming the workload on every pod of it (the Deployment's selector). */
export const WORKLOAD_LABEL = "p4cf.workload";

/** Label naming the lab on every object. */
export const LAB_OBJECT_LABEL = "p4cf.lab";

/** Label selector of a workload's pods. */
export function workloadSelector(w: Pick<Workload, "name">): string {
  return `${WORKLOAD_LABEL}=${w.name}`;
}

/**
 * The container command: `{vip}` and `{port}` filled in; `{host_ip}` becomes `$(POD_IP)`, which
 * the kubelet expands from the pod's own address (the slot it took is known only then).
 */
export function podCommand(lab: Lab, w: Workload): string[] {
  const values: Record<string, string> = {
    vip: lab.loadBalancer.vip,
    port: String(lab.loadBalancer.servicePort),
    host_ip: "$(POD_IP)",
  };
  return w.command.map((a) => a.replace(/\{(vip|port|host_ip)\}/g, (_, k: string) => values[k]));
}

/** The pod spec of a workload, given the resolved program path (argv[0] on this machine). */
export function podSpec(lab: Lab, w: Workload, program: string): Record<string, unknown> {
  const command = podCommand(lab, w);
  const image = workloadImageSpec(w.image ?? w.name, [program, ...command.slice(1)]);
  return {
    // Nothing of the cluster's own is mounted: a checkpoint then holds only the workload.
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    // A frozen or dropped pod is deleted at once: its connections live on elsewhere.
    terminationGracePeriodSeconds: 0,
    containers: [{
      name: w.name,
      image: image.tag,
      imagePullPolicy: "Never",
      args: command.slice(1),
      env: [{ name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } }],
      // Burstable: without CAP_SYS_RESOURCE here, Guaranteed pods cannot be set up.
      resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "256Mi" } },
    }],
  };
}

/** The object that runs a workload: a Deployment for servers, a Pod for clients. */
export function workloadObject(lab: Lab, w: Workload, program: string): Record<string, unknown> {
  const labels = { [LAB_OBJECT_LABEL]: lab.name, [WORKLOAD_LABEL]: w.name };
  const namespace = labNamespace(lab);
  if (w.role === "client") {
    return {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: w.name, namespace, labels },
      spec: { ...podSpec(lab, w, program), restartPolicy: "Never" },
    };
  }
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: w.name, namespace, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: { [WORKLOAD_LABEL]: w.name } },
      // A new pod template is not a rollout here: migration replaces pods itself.
      strategy: { type: "Recreate" },
      template: { metadata: { labels }, spec: podSpec(lab, w, program) },
    },
  };
}

/** API path of a workload's object. */
export function workloadObjectPath(lab: Lab, w: Workload): string {
  const ns = labNamespace(lab);
  return w.role === "client"
    ? `/api/v1/namespaces/${ns}/pods/${w.name}`
    : `/apis/apps/v1/namespaces/${ns}/deployments/${w.name}`;
}
