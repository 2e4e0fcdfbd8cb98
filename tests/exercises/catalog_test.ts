import assert from "node:assert/strict";
import { UserError } from "../../lib/errors.ts";
import { exerciseFiles, EXERCISES, findExercise } from "../../lib/exercises/catalog.ts";
import { LabFileError } from "../../lib/lab/issues.ts";
import { parseLabFile } from "../../lib/lab/parse.ts";

const exists = (path: string) => Deno.stat(path).then((s) => s.isFile, () => false);

Deno.test("every exercise has a README, a starter, a solution and a lab", async () => {
  assert.deepEqual(EXERCISES.map((e) => e.number), [1, 2, 3, 4, 5, 6]);
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

Deno.test("exercise labs are valid and pin no switch ports (each student's check gets its own)", async () => {
  for (const ex of EXERCISES) {
    const file = exerciseFiles(ex, { useSolution: true }).lab;
    const lab = await parseLabFile(file);
    assert.equal(lab.name, `exercise-${ex.number}`);
    assert.equal(lab.id, `ex${ex.number}`);
    assert.doesNotMatch(await Deno.readTextFile(file), /grpc_port|thrift_port/);
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
  const other = exerciseFiles(findExercise(3), { studentFile: "/tmp/x/migrate.ts" });
  assert.equal(other.student, "/tmp/x/migrate.ts");
  assert.ok(other.lab.endsWith("3-migrate-process/lab.yaml"));
});

Deno.test("exercise 1's solution shares no host, address or service with a shipped lab", async () => {
  const solution = await parseLabFile(exerciseFiles(findExercise(1), { useSolution: true }).lab);
  for await (const e of Deno.readDir(new URL("../../lab/", import.meta.url))) {
    if (!e.name.endsWith(".yaml")) continue;
    const shipped = await parseLabFile(new URL(`../../lab/${e.name}`, import.meta.url).pathname);
    for (const h of solution.hosts) {
      assert.ok(
        !shipped.hosts.some((s) => s.name === h.name || s.ip === h.ip),
        `${e.name}: ${h.name}`,
      );
    }
    assert.notEqual(shipped.loadBalancer.vip, solution.loadBalancer.vip, e.name);
    assert.notEqual(shipped.loadBalancer.servicePort, solution.loadBalancer.servicePort, e.name);
  }
});

Deno.test("an unknown exercise is a UserError listing the exercises", () => {
  assert.equal(findExercise("2").slug, "2-program-lb");
  assert.throws(() => findExercise("9"), (err: unknown) => {
    assert.ok(err instanceof UserError);
    assert.equal(err.message, 'There is no exercise "9"');
    assert.match(err.hint ?? "", /1 \(1-topology\).*6 \(6-migrate-pod\)/);
    return true;
  });
});
