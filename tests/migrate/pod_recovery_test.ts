import assert from "node:assert/strict";
import { podFacts } from "../../lib/migrate/pod_recovery.ts";
import { planRecovery } from "../../lib/migrate/recovery.ts";

Deno.test("pod recovery: a Ready restored pod is finished, anything less rolled back", () => {
  const plan = (source: boolean, target: "absent" | "created" | "ready", rollback = false) =>
    planRecovery(podFacts({ source, target }, rollback)).action;
  // Killed after the restored pod became Ready (switch moved or not): finish there.
  assert.equal(plan(true, "ready"), "finish-on-target");
  // Killed before: the source never stopped, it is heard again.
  assert.equal(plan(true, "absent"), "resume-source");
  assert.equal(plan(true, "created"), "resume-source");
  // The migration had begun its rollback: finish the rollback even if the new pod is Ready.
  assert.equal(plan(true, "ready", true), "resume-source");
  // The source already deleted (killed in the cleanup): only the target is left.
  assert.equal(plan(false, "ready"), "finish-on-target");
  assert.equal(plan(false, "ready", true), "finish-on-target");
  assert.equal(plan(false, "created"), "lost");
});
