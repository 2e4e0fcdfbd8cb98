// deno-lint-ignore-file no-explicit-any -- manifests are checked field by field
import assert from "node:assert/strict";
import type { Pod } from "../../lib/kubernetes/api.ts";
import {
  CHECKPOINT_NAME_ANNOTATION,
  checkpointApiPath,
  checkpointImageArgv,
  MIGRATED_FROM_ANNOTATION,
  restoredPod,
} from "../../lib/kubernetes/checkpoint.ts";

Deno.test("the checkpoint API is reached through the node proxy", () => {
  assert.equal(
    checkpointApiPath("vm", "p4cf-k8s", "server-5d9-x2", "server"),
    "/api/v1/nodes/vm/proxy/checkpoint/p4cf-k8s/server-5d9-x2/server",
  );
});

Deno.test("a checkpoint image is annotated with the container it restores", () => {
  assert.deepEqual(
    checkpointImageArgv(["podman", "--root", "/r"], "/ctx", "localhost/ck:1", "server"),
    [
      "podman",
      "--root",
      "/r",
      "build",
      "--quiet",
      "--annotation",
      `${CHECKPOINT_NAME_ANNOTATION}=server`,
      "--tag",
      "localhost/ck:1",
      "/ctx",
    ],
  );
});

Deno.test("the restored pod copies the spec, swaps the image and withholds the selector label", () => {
  const source: Pod = {
    metadata: {
      name: "server-5d9-x2",
      namespace: "p4cf-k8s",
      uid: "u1",
      labels: { "p4cf.workload": "server", "pod-template-hash": "5d9", "p4cf.lab": "k" },
      ownerReferences: [{ kind: "ReplicaSet", name: "server-5d9" }],
    },
    spec: { nodeName: "vm", containers: [{ name: "server", image: "localhost/srv:latest" }] },
    status: { phase: "Running", podIP: "10.0.2.2" },
  };
  const pod = restoredPod(source, "server-mabc", "localhost/ck:1", ["p4cf.workload"]) as any;
  assert.equal(pod.metadata.name, "server-mabc");
  assert.deepEqual(pod.metadata.labels, { "pod-template-hash": "5d9", "p4cf.lab": "k" });
  assert.equal(pod.metadata.annotations[MIGRATED_FROM_ANNOTATION], "server-5d9-x2");
  assert.equal(pod.metadata.ownerReferences, undefined, "no owner until it is adopted");
  assert.equal(pod.metadata.uid, undefined);
  assert.equal(pod.status, undefined);
  assert.deepEqual(pod.spec.containers, [
    { name: "server", image: "localhost/ck:1", imagePullPolicy: "Never" },
  ]);
  assert.equal(source.spec!.containers[0].image, "localhost/srv:latest", "the source is untouched");
});
