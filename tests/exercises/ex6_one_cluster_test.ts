import assert from "node:assert/strict";
import type { CheckResult } from "../../lib/exercises/grading.ts";
import { loadStudentState, rememberResult } from "../../lib/exercises/hints.ts";
import {
  BUSY_TITLE,
  busyVerdict,
  isTurn,
  labOfNodeCommand,
  studentOfLab,
  takeClusterTurn,
} from "../../lib/exercises/ex6_one_cluster.ts";
import type { LabIdentity } from "../../lib/exercises/lab_identity.ts";

const identity = (name: string): LabIdentity => ({
  name,
  id: "e6001",
  grpcPort: 12010,
  thriftPort: 12011,
});

Deno.test("a kubelet's or CRI-O's command line names its lab", () => {
  assert.deepEqual(
    labOfNodeCommand([
      "/usr/local/bin/kubelet",
      "--config",
      "/home/bob/p4cf/.run/labs/exercise-6-bob/k8s/kubelet.yaml",
      "--v=1",
    ]),
    { runDir: "/home/bob/p4cf/.run/labs/exercise-6-bob", lab: "exercise-6-bob" },
  );
  assert.deepEqual(
    labOfNodeCommand(["crio", "--config", "/w/.run/labs/kubernetes/k8s/crio/crio.conf"]),
    { runDir: "/w/.run/labs/kubernetes", lab: "kubernetes" },
  );
  // The machine's own kubelet: no lab.
  assert.deepEqual(labOfNodeCommand(["kubelet", "--config", "/var/lib/kubelet/config.yaml"]), {});
  assert.deepEqual(labOfNodeCommand(["kubelet"]), {});
  assert.equal(studentOfLab("exercise-6-bob"), "bob");
  assert.equal(studentOfLab("kubernetes"), undefined);
});

Deno.test("the busy verdict says whose lab is up and what to do", () => {
  const student = busyVerdict({
    comm: "kubelet",
    pid: 42,
    lab: "exercise-6-bob",
    runDir: "/x/.run/labs/exercise-6-bob",
  });
  assert.equal(student.ok, false);
  assert.match(student.detail!, /bob's lab exercise-6-bob is up .*kubelet pid 42/);
  assert.match(student.hint!, /wait for bob's lab to go down.*or ask your instructor/);
  const lab = busyVerdict({ comm: "crio", pid: 7, lab: "kubernetes", runDir: "/x" });
  assert.match(lab.detail!, /the Kubernetes lab kubernetes is up/);
  assert.match(lab.hint!, /lab down kubernetes/);
  const machine = busyVerdict({ comm: "kubelet", pid: 9 });
  assert.match(machine.detail!, /a kubelet that no lab started/);
  assert.match(machine.hint!, /ask your instructor/);
});

Deno.test("one exercise-6 check at a time: the second is told whose check runs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-turn-" });
  const nobody = () => undefined;
  try {
    const alice = await takeClusterTurn(identity("exercise-6-alice"), "alice", {
      dir,
      holder: nobody,
    });
    assert.ok(isTurn(alice));
    const bob = await takeClusterTurn(identity("exercise-6-bob"), "bob", { dir, holder: nobody });
    assert.ok(!isTurn(bob));
    assert.match(bob.detail!, /alice's check of exercise 6 is running/);
    assert.match(bob.hint!, /wait for alice's check to end/);
    await alice.release();
    const again = await takeClusterTurn(identity("exercise-6-bob"), "bob", {
      dir,
      holder: nobody,
    });
    assert.ok(isTurn(again));
    await again.release();
    assert.deepEqual([...Deno.readDirSync(dir)], [], "the lock and its note are gone");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a Kubernetes lab other than the student's own refuses the turn; their kept one does not", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-turn-" });
  const bobs = () => ({ comm: "kubelet", pid: 1, lab: "exercise-6-bob", runDir: "/x" });
  try {
    const alice = await takeClusterTurn(identity("exercise-6-alice"), "alice", {
      dir,
      holder: bobs,
    });
    assert.ok(!isTurn(alice));
    assert.match(alice.detail!, /bob's lab/);
    // Refused: the lock was given back at once.
    const bob = await takeClusterTurn(identity("exercise-6-bob"), "bob", { dir, holder: bobs });
    assert.ok(isTurn(bob), "bob's own kept lab is brought down and up by his check");
    await bob.release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a check refused for a taken cluster is not remembered for the hints", async () => {
  const root = await Deno.makeTempDir({ prefix: "p4t-hints-" });
  try {
    const refused: CheckResult = {
      exercise: 6,
      title: "Migrate a Kubernetes pod",
      file: "lab/exercises/6-migrate-pod/migrate_pod.ts",
      solution: false,
      student: "alice",
      criteria: [{ title: BUSY_TITLE, status: "fail", detail: "bob's lab", ms: 0 }],
      passed: false,
      totalMs: 1,
    };
    await rememberResult(refused, root);
    assert.deepEqual((await loadStudentState("alice", root)).last, {});
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
