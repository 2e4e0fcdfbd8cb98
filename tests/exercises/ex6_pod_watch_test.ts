import assert from "node:assert/strict";
import {
  classifyKubeCall,
  parseSentCounter,
  sentCounterArgv,
  slotsFromCniLog,
  viewPod,
} from "../../lib/exercises/ex6_pod_watch.ts";

Deno.test("the student's API calls the grader notes: checkpoint, pod create, delete, patch", () => {
  const ns = "p4cf-e6001";
  assert.deepEqual(
    classifyKubeCall(
      "POST",
      `/api/v1/nodes/e6001-node/proxy/checkpoint/${ns}/server-abc/server?timeout=60`,
      ns,
    ),
    { kind: "checkpoint", pod: "server-abc" },
  );
  assert.deepEqual(
    classifyKubeCall("POST", `/api/v1/namespaces/${ns}/pods`, ns, { metadata: { name: "n" } }),
    { kind: "create-pod", pod: "n" },
  );
  assert.deepEqual(
    classifyKubeCall("DELETE", `/api/v1/namespaces/${ns}/pods/old?gracePeriodSeconds=0`, ns),
    { kind: "delete-pod", pod: "old" },
  );
  assert.deepEqual(classifyKubeCall("PATCH", `/api/v1/namespaces/${ns}/pods/new`, ns), {
    kind: "patch-pod",
    pod: "new",
  });
  // Reads, other namespaces and sub-resources are not noted.
  assert.equal(classifyKubeCall("GET", `/api/v1/namespaces/${ns}/pods/new`, ns), undefined);
  assert.equal(classifyKubeCall("DELETE", `/api/v1/namespaces/other/pods/x`, ns), undefined);
  assert.equal(classifyKubeCall("PATCH", `/api/v1/namespaces/${ns}/pods/x/status`, ns), undefined);
});

Deno.test("the sent counter counts the service port's TCP packets after every other rule", () => {
  const [nft, script] = sentCounterArgv(12345);
  assert.equal(nft, "nft");
  assert.match(script, /hook postrouting priority 500; policy accept;/);
  assert.match(script, /tcp sport 12345 counter/);
  const listing = JSON.stringify({
    nftables: [
      { metainfo: { version: "1.0.6" } },
      { table: { family: "inet", name: "p4cf_check_sent" } },
      {
        rule: {
          family: "inet",
          table: "p4cf_check_sent",
          chain: "sent",
          expr: [
            { match: { op: "==", left: { payload: { protocol: "tcp", field: "sport" } } } },
            { counter: { packets: 363, bytes: 20000 } },
          ],
        },
      },
    ],
  });
  assert.equal(parseSentCounter(listing), 363);
  assert.equal(parseSentCounter('{"nftables": []}'), undefined);
  assert.equal(parseSentCounter("Error: No such file or directory"), undefined);
});

Deno.test("a pod's view: Ready, failing, its workload and owners", () => {
  const view = viewPod({
    metadata: {
      name: "server-x",
      labels: { "p4cf.workload": "server" },
      ownerReferences: [{ kind: "ReplicaSet", name: "server-1" }],
    },
    status: {
      phase: "Pending",
      podIP: "10.0.3.3",
      conditions: [{ type: "Ready", status: "False" }],
      containerStatuses: [{
        name: "server",
        ready: false,
        restartCount: 0,
        state: { waiting: { reason: "RunContainerError", message: "restore failed" } },
      }],
    },
  });
  assert.deepEqual(view, {
    name: "server-x",
    ready: false,
    phase: "Pending",
    ip: "10.0.3.3",
    failure: "server: RunContainerError: restore failed",
    workload: "server",
    owners: ["ReplicaSet"],
    deleting: false,
  });
});

Deno.test("the slot each pod was given, from the CNI plugin's log", () => {
  const log = [
    "2026-12-06T09:42:06.847Z CHECK pod=p4cf-e6/server-a container=1cd927d4da80 slot=h2 ok 36ms",
    "2026-12-06T09:42:07.576Z ADD pod=p4cf-e6/client container=6296bed2d809 slot=h1 ok 151ms",
    "2026-12-06T09:42:10.669Z ADD pod=p4cf-e6/server-m1 container=91432db89ad3 slot=h4 ok 551ms",
    "2026-12-06T09:42:11.669Z ADD pod=other/server-m2 container=91432db89ad4 slot=h3 ok 51ms",
    "2026-12-06T09:42:12.669Z ADD pod=p4cf-e6/server-m3 container=91432db89ad5 failed 7ms",
  ].join("\n");
  assert.deepEqual(slotsFromCniLog(log, "p4cf-e6"), { client: "h1", "server-m1": "h4" });
});
