import assert from "node:assert/strict";
import { exerciseFiles, findExercise } from "../../lib/exercises/catalog.ts";
import { migrationHosts } from "../../lib/exercises/ex3_migrate_process.ts";
import { parseLabFile } from "../../lib/lab/parse.ts";

Deno.test("the migration goes from the server's host to the free one, with netns and pod", async () => {
  const processes = await parseLabFile(exerciseFiles(findExercise(3)).lab);
  assert.deepEqual(migrationHosts(processes, "h2"), [
    { name: "h2", ip: "10.0.2.2", netns: "ex3-h2" },
    { name: "h3", ip: "10.0.3.3", netns: "ex3-h3" },
  ]);
  const pods = await parseLabFile(exerciseFiles(findExercise(4)).lab);
  assert.deepEqual(migrationHosts(pods, "h2").map((h) => h.pod), ["ex4-h2", "ex4-h3"]);
  // Back again: the client's host is never a target.
  assert.equal(migrationHosts(processes, "h3")[1].name, "h2");
});
