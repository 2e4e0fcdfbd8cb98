import assert from "node:assert/strict";
import {
  type FaultRunRecord,
  faultyAddress,
  judgeFailedMigration,
  judgeHandover,
  judgeNewPod,
  judgeNothingLeft,
  judgeRollback,
  judgeSilence,
  judgeSwitchAfterReady,
  type PodRunRecord,
} from "../../lib/exercises/ex6_judges.ts";
import type { KubeCall, PodLook, PodView } from "../../lib/exercises/ex6_pod_watch.ts";
import type { SwitchCall } from "../../lib/exercises/migration_watch.ts";

const T0 = 1_000_000;

function pod(name: string, extra: Partial<PodView> = {}): PodView {
  return { name, ready: true, workload: "server", owners: [], deleting: false, ...extra };
}

function look(extra: Partial<PodLook> = {}): PodLook {
  return {
    at: T0,
    pods: [pod("client", { workload: "client" }), pod("new", { ip: "10.0.3.3" })],
    slots: { h1: "client", h3: "new" },
    reservations: {},
    target: [{
      pid: 9,
      state: "S",
      startedAt: T0,
      listening: true,
      clientConnections: 4,
    }],
    ...extra,
  };
}

/** A correct migration's record; tests change one thing at a time. */
function record(extra: Partial<PodRunRecord> = {}): PodRunRecord {
  const calls: KubeCall[] = [
    { kind: "checkpoint", pod: "old", at: T0 + 10, sourceTx: 100 },
    { kind: "create-pod", pod: "new", at: T0 + 900 },
    { kind: "delete-pod", pod: "old", at: T0 + 2100, sourceTx: 100 },
  ];
  const switchCall: SwitchCall<PodLook> = {
    call: 'migrateBackend("h2", "h3")',
    at: T0 + 2000,
    doneAt: T0 + 2005,
    before: look({ pods: [...look().pods, pod("old")], slots: { h2: "old", h3: "new" } }),
  };
  return {
    source: { name: "h2", ip: "10.0.2.2" },
    target: { name: "h3", ip: "10.0.3.3" },
    oldPod: "old",
    workload: "server",
    clientPod: "client",
    startedAt: T0,
    endedAt: T0 + 2200,
    kubeCalls: calls,
    switchCalls: [switchCall],
    endTx: undefined,
    after: look(),
    ...extra,
  };
}

Deno.test("a correct migration passes every judge", () => {
  const r = record();
  for (const verdict of [judgeSilence(r), judgeSwitchAfterReady(r), judgeNewPod(r, "new")]) {
    assert.equal(verdict.ok, true, verdict.detail ?? "");
  }
  assert.equal(judgeHandover(r, "new").ok, true);
  assert.equal(judgeNothingLeft(r, "new", []).ok, true);
});

Deno.test("silence: packets after the checkpoint request fail, and no checkpoint fails", () => {
  const loud = record({
    kubeCalls: [
      { kind: "checkpoint", pod: "old", at: T0 + 10, sourceTx: 100 },
      { kind: "delete-pod", pod: "old", at: T0 + 2100, sourceTx: 463 },
    ],
  });
  const v = judgeSilence(loud);
  assert.equal(v.ok, false);
  assert.match(v.detail!, /sent 363 TCP packet\(s\).*\+10 ms.*its deletion \(\+2100 ms\)/);
  assert.match(v.hint!, /leaves the container running/);
  // Never deleted: the count when the function ended.
  const kept = record({
    kubeCalls: [{ kind: "checkpoint", pod: "old", at: T0, sourceTx: 5 }],
    endTx: 9,
  });
  assert.match(judgeSilence(kept).detail!, /4 TCP packet\(s\).*the end of migratePod\(\)/);
  assert.match(judgeSilence(record({ kubeCalls: [] })).detail!, /never asked the kubelet/);
});

Deno.test("the switch before the new pod is Ready fails, saying what the pod was doing", () => {
  const early = record();
  const call = {
    ...early.switchCalls[0],
    before: look({
      pods: [pod("new", { ready: false, phase: "Pending" })],
      target: [],
    }),
  };
  const v = judgeSwitchAfterReady({ ...early, switchCalls: [call] });
  assert.equal(v.ok, false);
  assert.match(v.detail!, /pod new on h3 was not Ready \(Pending\)/);
  const none = judgeSwitchAfterReady({
    ...early,
    switchCalls: [{ ...call, before: look({ slots: {}, pods: [] }) }],
  });
  assert.match(none.detail!, /no pod held h3 yet/);
  assert.match(judgeSwitchAfterReady(record({ switchCalls: [] })).detail!, /never asked/);
});

Deno.test("the new pod must hold the reserved slot and the connections", () => {
  const elsewhere = record({
    after: look({
      pods: [pod("new", { ip: "10.0.4.4" })],
      slots: { h4: "new" },
    }),
  });
  const v = judgeNewPod(elsewhere, "new");
  assert.match(v.detail!, /holds h4 \(10\.0\.4\.4\), not h3/);
  assert.match(v.hint!, /reserved/);
  const empty = record({
    after: look({ target: [{ ...look().target[0], clientConnections: 0 }] }),
  });
  assert.match(judgeNewPod(empty, "new").detail!, /holds none of the client's connections/);
  assert.match(judgeNewPod(record(), undefined).detail!, /not a pod's name/);
});

Deno.test("handover: the old pod left, or the Deployment's replacement, fail", () => {
  const left = record({ after: look({ pods: [...look().pods, pod("old")] }) });
  assert.match(judgeHandover(left, "new").detail!, /old pod old \(Ready\) still exists/);
  const replaced = record({
    after: look({
      pods: [pod("client", { workload: "client" }), pod("new", { workload: undefined }), pod("rs")],
    }),
  });
  const v = judgeHandover(replaced, "new");
  assert.match(v.detail!, /made rs to replace the old pod/);
  assert.match(v.hint!, /label/);
});

Deno.test("leftovers: a reservation, an extra pod, the kubelet's archive", () => {
  assert.match(
    judgeNothingLeft(record({ after: look({ reservations: { "new": "h3" } }) }), "new", [])
      .detail!,
    /h3 is still reserved for pod new/,
  );
  assert.match(
    judgeNothingLeft(record(), "new", ["/k/checkpoints/checkpoint-old.tar"]).detail!,
    /checkpoint-old\.tar is left/,
  );
});

function fault(extra: Partial<FaultRunRecord> = {}): FaultRunRecord {
  return {
    ...record({
      kubeCalls: [
        { kind: "checkpoint", pod: "old", at: T0 + 10, sourceTx: 1 },
        { kind: "create-pod", pod: "bad", at: T0 + 900 },
        { kind: "delete-pod", pod: "bad", at: T0 + 2000 },
      ],
      switchCalls: [],
      target: { name: "h3", ip: faultyAddress("10.0.3.3") },
      after: look({ pods: [pod("client"), pod("old")], slots: { h2: "old" }, target: [] }),
    }),
    error: "Restoring bad failed: server: RunContainerError: restore failed",
    backends: ["h2"],
    answeredAgain: { kept: 4, total: 4, worstMs: 300 },
    ...extra,
  };
}

Deno.test("rollback: thrown, undone, switch untouched, old pod heard again", () => {
  assert.equal(faultyAddress("10.0.3.3"), "10.0.3.77");
  assert.equal(faultyAddress("10.0.3.77"), "10.0.3.78");
  const ok = judgeRollback(fault());
  assert.equal(ok.ok, true, ok.detail ?? "");
  assert.match(ok.detail!, /pod bad removed.*all 4 connections again within 300 ms/);

  const starter = judgeRollback(fault({ kubeCalls: [], error: "not written yet" }));
  assert.match(starter.detail!, /threw before it created the restored pod: not written yet/);
  const returned = judgeRollback(fault({ error: undefined, returned: "bad" }));
  assert.match(returned.detail!, /returned "bad", but the restored pod bad could not run/);
  const left = judgeRollback(fault({
    after: look({ pods: [pod("client"), pod("old"), pod("bad", { ready: false })] }),
  }));
  assert.match(left.detail!, /left pod bad/);
  const reserved = judgeRollback(fault({
    after: look({ pods: [pod("client"), pod("old")], reservations: { bad: "h3" } }),
  }));
  assert.match(reserved.detail!, /slot h3 reserved for pod bad/);
  const unheard = judgeRollback(fault({ answeredAgain: { kept: 0, total: 4, worstMs: 0 } }));
  assert.match(unheard.detail!, /answered 0 of the client's 4 connections again/);
  const moved = judgeRollback(fault({ switchCalls: record().switchCalls }));
  assert.match(moved.detail!, /the switch was moved/);
});

Deno.test("a failed restore says which slot the new pod got, and where to look", () => {
  const created = record({ createdSlots: { new: "h4" } });
  const error = "Restoring new failed: server: RunContainerError: failed to restore\nlog...";
  const unreserved = judgeFailedMigration(created, error);
  assert.match(unreserved.detail!, /failed to restore \(pod new was given slot h4, not h3/);
  assert.doesNotMatch(unreserved.detail!, /log\.\.\./);
  assert.match(unreserved.hint!, /reserved for its name/);
  const unrewritten = judgeFailedMigration(record({ createdSlots: { new: "h3" } }), error);
  assert.match(unrewritten.detail!, /holds h3, 10\.0\.3\.3/);
  assert.match(unrewritten.hint!, /address the checkpoint says/);
  const early = judgeFailedMigration(record({ kubeCalls: [] }), "not written yet", "the hint");
  assert.deepEqual(early, {
    ok: false,
    detail: "migratePod() failed: not written yet",
    hint: "the hint",
  });
});
