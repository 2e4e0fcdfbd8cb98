/**
 * The grader against the real labs, with wrong solutions: for each exercise the untouched starter
 * fails every criterion, each plausible wrong solution in `mutants/<exercise>/` fails (at least
 * the criterion its header names after `Fails:`, each failure saying what was seen), and the
 * reference solution passes. Exercise 2's checks share one lab, as a student's repeated checks
 * with `--keep` would, and so do exercise 6's (one Kubernetes cluster for all of them, its pods
 * made anew before each check); the others need a fresh lab each.
 *
 * Every check prints one line, `verdict <exercise>/<file>: PASS|FAIL [failed criteria]`, so
 * that runs can be compared.
 */
import assert from "node:assert/strict";
import { type Exercise, exerciseFiles, EXERCISES } from "../../lib/exercises/catalog.ts";
import { checkExercise, type CheckResult } from "../../lib/exercises/check.ts";
import { exerciseLabsDir } from "../../lib/exercises/exercise_lab.ts";
import { claimSeat, exerciseIdentity, type Student } from "../../lib/exercises/student.ts";
import { labRunDir } from "../../lib/lab/paths.ts";
import { labDown } from "../../lib/runtime/session.ts";
import { capTest } from "../_caps.ts";

const MUTANTS = new URL("./mutants/", import.meta.url).pathname;

/** The wrong solutions of an exercise, with the criterion each must fail. */
export async function mutantsOf(ex: Exercise): Promise<{ file: string; fails: string }[]> {
  const dir = `${MUTANTS}${ex.slug}`;
  const found: { file: string; fails: string }[] = [];
  for await (const e of Deno.readDir(dir)) {
    const file = `${dir}/${e.name}`;
    const fails = /Fails: (.+)$/m.exec(await Deno.readTextFile(file))?.[1].trim();
    assert.ok(fails, `${file} has no "Fails:" line`);
    found.push({ file, fails });
  }
  return found.sort((a, b) => a.file.localeCompare(b.file));
}

function verdictLine(ex: Exercise, file: string, r: CheckResult): string {
  const failed = r.criteria.filter((c) => c.status !== "pass").map((c) => c.title);
  const name = file.slice(file.lastIndexOf("/") + 1);
  const first = r.criteria.find((c) => c.status === "fail");
  return `verdict ${ex.number}/${name}: ${r.passed ? "PASS" : "FAIL"}` +
    (failed.length ? ` [${failed.join(" | ")}]` : "") + ` (${(r.totalMs / 1000).toFixed(1)} s)` +
    (first ? `\n    first: ${first.detail?.split("\n")[0]}` : "");
}

function show(result: CheckResult): string {
  return JSON.stringify(result.criteria, null, 2);
}

async function assertNothingLeft(id: string): Promise<void> {
  const out = async (cmd: string, ...args: string[]) =>
    new TextDecoder().decode((await new Deno.Command(cmd, { args }).output()).stdout);
  const netns = await out("ip", "netns", "list");
  assert.ok(!netns.split("\n").some((l) => l.startsWith(`${id}-`)), `netns left: ${netns}`);
  assert.ok(!(await out("ip", "-o", "link")).includes(` ${id}-`), "switch ports left");
  assert.ok(!(await out("nft", "list", "tables")).includes(`p4cf_${id}`), "nft table left");
}

function mutationTest(ex: Exercise) {
  capTest({
    name: `exercise ${ex.number}: the starter and every wrong solution fail, the solution passes`,
    needs: ex.needs,
    // BMv2, CRIU and Podman keep descriptors and processes the sanitizers would flag.
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const seats = await Deno.makeTempDir({ prefix: "p4t-seats-" });
      const key = `p4t-mut-${crypto.randomUUID().slice(0, 6)}`;
      const student: Student = await claimSeat(key, { dir: seats });
      const identity = exerciseIdentity(ex, student);
      const shared = ex.reusesLab === true;
      const run = (file: string | undefined, keep: boolean) =>
        checkExercise(ex.number, {
          student,
          ...(file ? { studentFile: file } : {}),
          useSolution: file === undefined,
          skipTypeCheck: true,
          keepLab: keep,
          reuseLab: shared,
        });
      try {
        const starterFile = exerciseFiles(ex).student;
        const starter = await run(starterFile, shared);
        console.log(verdictLine(ex, "starter", starter));
        assert.equal(starter.passed, false, show(starter));
        const passing = starter.criteria.filter((c) => c.status === "pass").map((c) => c.title);
        assert.deepEqual(passing, [], "the untouched starter passes no criterion");

        for (const { file, fails } of await mutantsOf(ex)) {
          const r = await run(file, shared);
          console.log(verdictLine(ex, file, r));
          assert.equal(r.passed, false, `${file} passed:\n${show(r)}`);
          const failed = r.criteria.filter((c) => c.status === "fail");
          assert.ok(
            failed.some((c) => c.title.includes(fails)),
            `${file} should fail "${fails}":\n${show(r)}`,
          );
          for (const c of failed) assert.ok(c.detail, `"${c.title}" failed without a detail`);
          assert.ok(failed[0].hint, `${file}: the first failure gives no hint:\n${show(r)}`);
        }

        const solution = await run(undefined, false);
        console.log(verdictLine(ex, "solution", solution));
        assert.equal(solution.passed, true, show(solution));
      } finally {
        const file = `${exerciseLabsDir()}/${identity.name}.yaml`;
        if (await Deno.stat(file).then(() => true, () => false)) {
          await labDown(file).catch(() => {});
          await Deno.remove(file).catch(() => {});
        }
        await Deno.remove(labRunDir(identity.name), { recursive: true }).catch(() => {});
        await Deno.remove(seats, { recursive: true });
      }
      await assertNothingLeft(identity.id);
    },
  });
}

for (const ex of EXERCISES) mutationTest(ex);
