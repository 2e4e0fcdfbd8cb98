/**
 * One machine, many students: three students' checkouts are graded at the same time, each with
 * `lab check --all --json --student <id> --from <checkout>` in a process of its own, so all
 * fifteen labs of exercises 1-5 run side by side (exercise 6's cluster is one per machine: the
 * students take turns, and those who find it taken are told whose it is). One student hands in
 * the reference solutions, one the untouched starters, one a mix with wrong solutions; every
 * verdict must be the expected one.
 */
import assert from "node:assert/strict";
import { EXERCISES } from "../../lib/exercises/catalog.ts";
import { BUSY_TITLE } from "../../lib/exercises/ex6_one_cluster.ts";
import type { CheckResult } from "../../lib/exercises/grading.ts";
import { exerciseLabsDir } from "../../lib/exercises/exercise_lab.ts";
import { releaseSeat, studentSlug } from "../../lib/exercises/student.ts";
import { labRunDir, repoRoot } from "../../lib/lab/paths.ts";
import { capTest, missing } from "../_caps.ts";

const ROOT = repoRoot();
const CLI = new URL("./_lab_check.ts", import.meta.url).pathname;
const MUTANTS = new URL("./mutants/", import.meta.url).pathname;

type Source = "solution" | "starter" | { mutant: string };

interface Hand {
  key: string;
  files: Source[];
  /** Expected verdict per exercise. */
  expect: boolean[];
}

/** A checkout holding only the student's six files. */
async function checkout(files: Source[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "p4t-checkout-" });
  for (const [i, ex] of EXERCISES.entries()) {
    const source = files[i];
    const from = source === "solution"
      ? `${ROOT}/lab/exercises/${ex.slug}/solution/${ex.studentFile}`
      : source === "starter"
      ? `${ROOT}/lab/exercises/${ex.slug}/${ex.studentFile}`
      : `${MUTANTS}${ex.slug}/${source.mutant}`;
    // Placed where a checkout has it; solutions and mutants import the library from one level
    // deeper, which the copy's retargeting does not care about once rewritten to this level.
    const depth = source === "starter" ? "../../../lib/" : "../../../../lib/";
    const text = (await Deno.readTextFile(from)).replaceAll(depth, "../../../lib/");
    await Deno.mkdir(`${dir}/lab/exercises/${ex.slug}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/lab/exercises/${ex.slug}/${ex.studentFile}`, text);
  }
  return dir;
}

async function grade(key: string, dir: string): Promise<{ results: CheckResult[]; ms: number }> {
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "--all", "--json", "--student", key, "--from", dir],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.code === 0 || out.code === 1, `${key}: exit ${out.code}\n${stderr}`);
  assert.doesNotMatch(stderr, /Ignored build scripts|nodeModulesDir/, "no spurious Deno warning");
  return { results: JSON.parse(stdout), ms: performance.now() - t0 };
}

/**
 * How a student's exercise 6 went: `ran`, `waited` (another student's check had the machine's
 * cluster, and the result names that student) or `cannot` (no Kubernetes here).
 */
function kubernetesTurn(r: CheckResult, hands: readonly Hand[]): "ran" | "waited" | "cannot" {
  assert.equal(r.exercise, 6);
  const [first] = r.criteria;
  if (first?.title === "this machine can run the check") return "cannot";
  if (first?.title !== BUSY_TITLE) return "ran";
  assert.equal(first.status, "fail");
  const others = hands.map((h) => studentSlug(h.key)).filter((s) => s !== studentSlug(r.student!));
  assert.ok(
    others.some((o) => first.detail?.includes(`${o}'s`)),
    `the refusal names another student: ${first.detail}`,
  );
  assert.match(first.hint ?? "", /wait for .* or ask your instructor/);
  return "waited";
}

capTest({
  name: "three students' checkouts are graded at the same time, every verdict right",
  needs: ["root", "netns", "bmv2", "criu", "podman"],
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const tag = crypto.randomUUID().slice(0, 4);
    const hands: Hand[] = [
      {
        key: `p4t-a-${tag}`,
        files: ["solution", "solution", "solution", "solution", "solution", "solution"],
        expect: [true, true, true, true, true, true],
      },
      {
        key: `p4t-b-${tag}`,
        files: ["starter", "starter", "starter", "starter", "starter", "starter"],
        expect: [false, false, false, false, false, false],
      },
      {
        key: `p4t-c-${tag}`,
        files: [
          { mutant: "client_bypasses_switch.yaml" },
          "solution",
          { mutant: "switch_before_restore.ts" },
          { mutant: "returns_old_pid.ts" },
          "solution",
          { mutant: "no_silence.ts" },
        ],
        expect: [false, true, false, false, true, false],
      },
    ];
    const dirs = await Promise.all(hands.map((h) => checkout(h.files)));
    try {
      const graded = await Promise.all(hands.map((h, i) => grade(h.key, dirs[i])));
      // Exercise 6's cluster is one per machine: the students take turns, and a check that
      // finds another's running says whose, instead of grading.
      const turns = graded.map(({ results }) => kubernetesTurn(results.at(-1)!, hands));
      if (!missing(["kubernetes"]).length) {
        assert.ok(turns.includes("ran"), `nobody's exercise 6 ran: ${turns}`);
      }
      for (const [i, h] of hands.entries()) {
        const { results, ms } = graded[i];
        const verdicts = results.map((r, n) =>
          n === 5 && turns[i] !== "ran" ? h.expect[5] : r.passed
        );
        console.log(
          `${h.key}: ${
            results.map((r) =>
              `${r.exercise} ${
                r.passed ? "PASS" : r.exercise === 6 && turns[i] !== "ran" ? turns[i] : "FAIL"
              }`
            ).join(", ")
          } (${(ms / 1000).toFixed(1)} s)`,
        );
        assert.deepEqual(verdicts, h.expect, `${h.key}: ${JSON.stringify(results, null, 2)}`);
        assert.ok(results.every((r) => r.student === h.key));
        if (h.files.every((f) => f === "starter") && turns[i] === "ran") {
          for (const r of results) {
            assert.deepEqual(r.criteria.filter((c) => c.status === "pass"), [], `${r.exercise}`);
          }
        }
      }
    } finally {
      for (const [i, h] of hands.entries()) {
        await Deno.remove(dirs[i], { recursive: true }).catch(() => {});
        await Deno.remove(`${ROOT}/.run/grading/${studentSlug(h.key)}`, { recursive: true })
          .catch(() => {});
        for (const ex of EXERCISES) {
          const name = `exercise-${ex.number}-${studentSlug(h.key)}`;
          await Deno.remove(labRunDir(name), { recursive: true }).catch(() => {});
          await Deno.remove(`${exerciseLabsDir()}/${name}.yaml`).catch(() => {});
        }
        await releaseSeat(h.key);
      }
    }
  },
});
