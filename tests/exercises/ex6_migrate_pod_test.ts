import assert from "node:assert/strict";
import { exerciseFiles, findExercise } from "../../lib/exercises/catalog.ts";
import { podMigrationTitles } from "../../lib/exercises/ex6_migrate_pod.ts";
import { HINTS } from "../../lib/exercises/hints.ts";
import { parseLabFile } from "../../lib/lab/parse.ts";

Deno.test("exercise 6 needs a Kubernetes cluster, reuses a kept one, and has its hints", () => {
  const ex = findExercise(6);
  assert.equal(ex.slug, "6-migrate-pod");
  assert.ok(ex.needs.includes("kubernetes") && ex.needs.includes("criu"));
  assert.equal(ex.reusesLab, true);
  assert.ok(HINTS[6].concept.includes("Ready") && HINTS[6].tools.includes("reserveSlot"));
});

Deno.test("exercise 6's lab: the target slot is not the one an unreserved pod takes", async () => {
  const lab = await parseLabFile(exerciseFiles(findExercise(6)).lab);
  assert.equal(lab.runtime, "kubernetes");
  const server = lab.workloads.find((w) => w.name === "server")!;
  // The Deployment's pod takes h2; an unreserved new pod takes h4; the check's target is h3.
  assert.deepEqual(server.hosts, ["h2", "h4", "h3"]);
  assert.match(await Deno.readTextFile(exerciseFiles(findExercise(6)).lab), /-c, "4"/);
});

Deno.test("exercise 6's criteria name the slots", () => {
  const titles = podMigrationTitles(
    { name: "h2", ip: "10.0.2.2" },
    { name: "h3", ip: "10.0.3.3" },
  );
  assert.equal(Object.keys(titles).length, 10);
  assert.match(titles.moved, /h3 at 10\.0\.3\.3/);
  assert.match(titles.silent, /old pod on h2/);
  // Every title differs (the mutation suite matches them by substring).
  assert.equal(new Set(Object.values(titles)).size, 10);
});

Deno.test("exercise 6's starter lists the moves but does none", async () => {
  const starter = await Deno.readTextFile(exerciseFiles(findExercise(6)).student);
  assert.match(starter, /in no particular order/);
  assert.match(starter, /throw new Error\("migratePod\(\) is not written yet/);
  for (const call of ["reserveSlot(", "checkpointContainer(", "migrateBackend("]) {
    assert.ok(!starter.includes(call), `the starter calls ${call}`);
  }
});
