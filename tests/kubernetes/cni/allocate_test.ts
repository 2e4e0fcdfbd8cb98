import assert from "node:assert/strict";
import {
  allocate,
  type Allocation,
  type Allocations,
  allocationsPath,
  chooseSlot,
  cniDir,
  cniLockPath,
  cniLogPath,
  release,
  reservationsPath,
  slotOf,
  workloadOfPod,
} from "../../../lib/kubernetes/cni/allocate.ts";
import { CNI_CODES, CniError, type PodRef } from "../../../lib/kubernetes/cni/args.ts";
import type { Lab } from "../../../lib/lab/types.ts";
import { kubernetesLab } from "./_fixtures.ts";

const pod = (name: string): PodRef => ({ name, namespace: "default" });

function held(podName: string, containerId = `cid-${podName}`): Allocation {
  return {
    pod: podName,
    namespace: "default",
    containerId,
    netns: `/var/run/netns/${podName}`,
    ifname: "eth0",
  };
}

function slot(lab: Lab, a: Allocations, r: Record<string, string>, name: string): string {
  return chooseSlot(lab, a, r, pod(name), `cid-${name}`).host.name;
}

function errorOf(fn: () => unknown): CniError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CniError) return err;
    throw err;
  }
  throw new Error("did not throw");
}

Deno.test("paths: everything lives in <runDir>/cni/", () => {
  assert.equal(cniDir("/r/lab"), "/r/lab/cni");
  assert.equal(allocationsPath("/r/lab"), "/r/lab/cni/allocations.json");
  assert.equal(reservationsPath("/r/lab"), "/r/lab/cni/reservations.json");
  assert.equal(cniLockPath("/r/lab"), "/r/lab/cni/lock");
  assert.equal(cniLogPath("/r/lab"), "/r/lab/cni/cni.log");
});

Deno.test("workloadOfPod: exact name or <name>-..., the longest name wins", async () => {
  const lab = await kubernetesLab();
  assert.equal(workloadOfPod(lab, "server")?.name, "server");
  assert.equal(workloadOfPod(lab, "server-7d9f8-abcde")?.name, "server");
  assert.equal(workloadOfPod(lab, "client-0")?.name, "client");
  assert.equal(workloadOfPod(lab, "serverless"), undefined);
  assert.equal(workloadOfPod(lab, "nginx"), undefined);
  const wider: Lab = {
    ...lab,
    workloads: [...lab.workloads, { ...lab.workloads[0], name: "server-b", hosts: ["h5"] }],
  };
  assert.equal(workloadOfPod(wider, "server-b-55f-xyz")?.name, "server-b");
  assert.equal(workloadOfPod(wider, "server-bb")?.name, "server");
  assert.equal(slot(wider, {}, {}, "server-b-55f-xyz"), "h5");
});

Deno.test("chooseSlot: a workload's pods take its pool in order", async () => {
  const lab = await kubernetesLab();
  let a: Allocations = {};
  const got: string[] = [];
  for (const p of ["server-a", "server-b", "server-c", "server-d"]) {
    const choice = chooseSlot(lab, a, {}, pod(p), `cid-${p}`);
    assert.equal(choice.reason, "pool");
    assert.equal(choice.workload, "server");
    got.push(choice.host.name);
    a = allocate(a, choice.host.name, held(p));
  }
  assert.deepEqual(got, ["h2", "h3", "h4", "h5"]);
  assert.equal(slot(lab, a, {}, "client-x"), "h1", "the client's pool is its own");
  // A freed slot is taken again first.
  const { allocations, host } = release(a, "cid-server-b");
  assert.equal(host, "h3");
  assert.equal(slot(lab, allocations, {}, "server-e"), "h3");
});

Deno.test("chooseSlot: a repeated ADD of the same container gets the same slot", async () => {
  const lab = await kubernetesLab();
  const a = { h2: held("server-a"), h3: held("server-b") };
  const choice = chooseSlot(lab, a, {}, pod("server-b"), "cid-server-b");
  assert.deepEqual([choice.host.name, choice.reason], ["h3", "existing"]);
  // The same pod name in a new sandbox is a new container: it gets a free slot.
  assert.equal(chooseSlot(lab, a, {}, pod("server-b"), "cid-other").host.name, "h4");
});

Deno.test("chooseSlot: a reservation wins, and pools skip slots reserved for others", async () => {
  const lab = await kubernetesLab();
  const reservations = { "server-restored": "h4", "anything": "h3" };
  const choice = chooseSlot(lab, {}, reservations, pod("server-restored"), "cid-r");
  assert.deepEqual([choice.host.name, choice.reason], ["h4", "reservation"]);
  assert.equal(slot(lab, {}, reservations, "anything"), "h3", "a reservation needs no workload");
  // A Deployment pod skips h3 and h4, reserved for other pods.
  assert.equal(slot(lab, { h2: held("server-a") }, reservations, "server-new"), "h5");
});

Deno.test("chooseSlot: a bad reservation is error 102 naming the problem", async () => {
  const lab = await kubernetesLab();
  let err = errorOf(() => slot(lab, {}, { "p": "h9" }, "p"));
  assert.equal(err.code, CNI_CODES.badReservation);
  assert.match(err.message, /reserved slot h9, which is not a slot of lab kubernetes/);
  err = errorOf(() => slot(lab, { h3: held("server-a") }, { "server-r": "h3" }, "server-r"));
  assert.equal(err.code, CNI_CODES.badReservation);
  assert.match(err.message, /but pod default\/server-a holds it/);
  assert.match(err.details, /delete pod server-a first/);
});

Deno.test("chooseSlot: a full pool is error 100 saying who holds what and what to do", async () => {
  const lab = await kubernetesLab();
  const a = {
    h2: held("server-a"),
    h3: held("server-b"),
    h4: held("server-c"),
  };
  const err = errorOf(() => slot(lab, a, { "server-mig": "h5" }, "server-d"));
  assert.equal(err.code, CNI_CODES.noFreeSlot);
  assert.notEqual(err.code, 11, "not 'try again later': a full pool does not free itself");
  assert.match(err.message, /No free slot for pod default\/server-d/);
  assert.match(
    err.message,
    /h2 by default\/server-a, h3 by default\/server-b, h4 by default\/server-c, h5 reserved for server-mig/,
  );
  assert.match(err.details, /scale it down.*workloads\.server\.hosts.*lab up/);
});

Deno.test("chooseSlot: a pod of no workload is error 101 listing the workloads", async () => {
  const lab = await kubernetesLab();
  const err = errorOf(() => slot(lab, {}, {}, "nginx-abc"));
  assert.equal(err.code, CNI_CODES.noWorkload);
  assert.match(err.message, /nginx-abc belongs to no workload.*workloads: server, client/);
  assert.match(err.details, /reserveSlot/);
});

Deno.test("allocate/release/slotOf: pure updates", () => {
  const a0: Allocations = {};
  const a1 = allocate(a0, "h2", held("server-a"));
  assert.deepEqual(a0, {}, "the input is unchanged");
  assert.equal(slotOf(a1, "cid-server-a"), "h2");
  assert.equal(slotOf(a1, "cid-none"), undefined);
  assert.deepEqual(release(a1, "cid-none"), { allocations: a1 });
  assert.deepEqual(release(a1, "cid-server-a"), { allocations: {}, host: "h2" });
});
