import assert from "node:assert/strict";
import { UserError } from "../../lib/errors.ts";
import {
  exerciseFiles,
  exerciseLabIdentity,
  EXERCISES,
  findExercise,
} from "../../lib/exercises/catalog.ts";
import { LabFileError } from "../../lib/lab/issues.ts";
import { parseLabFile } from "../../lib/lab/parse.ts";

const exists = (path: string) => Deno.stat(path).then((s) => s.isFile, () => false);

Deno.test("every exercise has a README, a starter, a solution and a lab", async () => {
  assert.deepEqual(EXERCISES.map((e) => e.number), [1, 2, 3, 4, 5]);
  for (const ex of EXERCISES) {
    const starter = exerciseFiles(ex);
    const solution = exerciseFiles(ex, { useSolution: true });
    for (const path of [`${starter.dir}/README.md`, starter.student, solution.student]) {
      assert.ok(await exists(path), `${path} is missing`);
    }
    assert.match(starter.dir, new RegExp(`/lab/exercises/${ex.slug}$`));
    assert.ok(solution.student.includes(`/${ex.slug}/solution/`));
  }
});

Deno.test("exercise labs are valid and keep their own name, id and ports", async () => {
  for (const ex of EXERCISES) {
    const lab = await parseLabFile(exerciseFiles(ex, { useSolution: true }).lab);
    const want = exerciseLabIdentity(ex);
    assert.equal(lab.name, want.name);
    assert.equal(lab.id, want.id);
    assert.equal(lab.switches[0].grpcPort, want.grpcPort);
    assert.equal(lab.switches[0].thriftPort, want.thriftPort);
    // Away from the other labs' derived ports.
    assert.ok(want.grpcPort > 50070 && want.thriftPort > 9170);
  }
});

Deno.test("exercise 1's starter lab is incomplete; its solution is the lab", async () => {
  const ex = findExercise(1);
  await assert.rejects(() => parseLabFile(exerciseFiles(ex).lab), LabFileError);
  assert.equal(
    exerciseFiles(ex, { useSolution: true }).lab,
    exerciseFiles(ex, { useSolution: true }).student,
  );
  assert.equal(exerciseFiles(findExercise(3)).lab.endsWith("3-migrate-process/lab.yaml"), true);
});

Deno.test("an unknown exercise is a UserError listing the exercises", () => {
  assert.equal(findExercise("2").slug, "2-program-lb");
  assert.throws(() => findExercise("9"), (err: unknown) => {
    assert.ok(err instanceof UserError);
    assert.equal(err.message, 'There is no exercise "9"');
    assert.match(err.hint ?? "", /1 \(1-topology\).*5 \(5-add-backends\)/);
    return true;
  });
});
