import assert from "node:assert/strict";
import { loadLab } from "../../lib/lab/load.ts";
import type { Pod } from "../../lib/kubernetes/api.ts";
import type { Allocations } from "../../lib/kubernetes/cni/allocate.ts";
import { backendChanges } from "../../lib/kubernetes/follow.ts";

const lab = await loadLab("kubernetes");

function pod(name: string, workload: string, ready = true): Pod {
  return {
    metadata: { name, labels: { "p4cf.workload": workload } },
    status: { conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
  };
}

function held(entries: [string, string][]): Allocations {
  return Object.fromEntries(
    entries.map(([host, p]) => [host, {
      pod: p,
      namespace: "p4cf-k8s",
      containerId: `c-${p}`,
      netns: `/run/netns/${p}`,
      ifname: "eth0",
    }]),
  );
}

Deno.test("backends follow the Ready server pods' slots: scale up, scale down", () => {
  const slots = held([["h1", "client"], ["h2", "server-a"], ["h3", "server-b"], [
    "h4",
    "server-c",
  ]]);
  const three = [
    pod("client", "client"),
    pod("server-a", "server"),
    pod("server-b", "server"),
    pod("server-c", "server", false),
  ];
  assert.deepEqual(backendChanges(lab, three, slots, ["h2"]), { add: ["h3"], remove: [] });
  const one = [pod("client", "client"), pod("server-a", "server")];
  assert.deepEqual(backendChanges(lab, one, slots, ["h2", "h3", "h4"]), {
    add: [],
    remove: ["h3", "h4"],
  });
});

Deno.test("a pod without a slot, a client, or no Ready server at all changes nothing harmful", () => {
  const slots = held([["h1", "client"]]);
  assert.deepEqual(backendChanges(lab, [pod("server-z", "server")], slots, ["h2"]), {
    add: [],
    remove: [],
  });
  assert.deepEqual(backendChanges(lab, [pod("client", "client")], slots, []), {
    add: [],
    remove: [],
  });
});
