// deno-lint-ignore-file no-explicit-any -- manifests are checked field by field
import assert from "node:assert/strict";
import { labNamespace } from "../../lib/kubernetes/namespace.ts";
import { loadLab } from "../../lib/lab/load.ts";
import {
  podCommand,
  WORKLOAD_LABEL,
  workloadObject,
  workloadObjectPath,
} from "../../lib/kubernetes/workloads.ts";

const lab = await loadLab("kubernetes");
const server = lab.workloads.find((w) => w.name === "server")!;
const client = lab.workloads.find((w) => w.name === "client")!;

Deno.test("a server is a Deployment whose pods take the workload's label; a client is a Pod", () => {
  const dep = workloadObject(lab, server, "/repo/.run/bin/counter_server") as any;
  assert.equal(dep.kind, "Deployment");
  assert.equal(dep.metadata.namespace, labNamespace(lab));
  assert.deepEqual(dep.spec.selector.matchLabels, { [WORKLOAD_LABEL]: "server" });
  assert.equal(dep.spec.template.metadata.labels[WORKLOAD_LABEL], "server");
  const c = dep.spec.template.spec.containers[0];
  assert.equal(
    c.name,
    "server",
    "the checkpoint API addresses the container by the workload's name",
  );
  assert.equal(c.image, "localhost/p4cf-counter-server:latest");
  assert.equal(c.imagePullPolicy, "Never");
  assert.deepEqual(c.args, ["12345"]);
  assert.equal(dep.spec.template.spec.automountServiceAccountToken, false);
  assert.equal(c.resources.limits.cpu, undefined, "Burstable, never Guaranteed");
  const pod = workloadObject(lab, client, "/repo/.run/bin/counter_client") as any;
  assert.equal(pod.kind, "Pod");
  assert.equal(pod.metadata.name, "client");
  assert.deepEqual(pod.spec.containers[0].args, ["-H", "10.0.0.100", "-p", "12345"]);
  assert.equal(
    workloadObjectPath(lab, server),
    `/apis/apps/v1/namespaces/p4cf-k8s/deployments/server`,
  );
  assert.equal(workloadObjectPath(lab, client), `/api/v1/namespaces/p4cf-k8s/pods/client`);
});

Deno.test("{host_ip} becomes the pod's own address, expanded by the kubelet", () => {
  const w = { ...server, command: ["srv", "--bind", "{host_ip}", "{port}"] };
  assert.deepEqual(podCommand(lab, w), ["srv", "--bind", "$(POD_IP)", "12345"]);
});
