/**
 * The exercise grader behind `deno task lab check <n> [--solution]`: runs one exercise's
 * criteria against the real lab (BMv2, CRIU, Podman as the exercise needs), on the student's
 * file or on the reference solution, and returns each criterion's verdict. Every lab it brings
 * up is brought down again before it returns (unless `keepLab`).
 *
 * ```ts
 * const result = await checkExercise(2, { progress: consoleProgress() });
 * console.log(formatCheckResult(result));
 * ```
 *
 * @module
 */
import { probeCapability } from "../capabilities.ts";
import { MissingCapabilityError } from "../errors.ts";
import { type Progress, silentProgress } from "../progress.ts";
import { defaultShell, type Shell } from "../shell.ts";
import { displayPath, type Exercise, exerciseFiles, findExercise } from "./catalog.ts";
import type { CheckContext } from "./check_context.ts";
import { checkTopology } from "./ex1_topology.ts";
import { checkProgramLb } from "./ex2_program_lb.ts";
import { checkMigrateProcess } from "./ex3_migrate_process.ts";
import { checkMigrateContainer } from "./ex4_migrate_container.ts";
import { checkAddBackends } from "./ex5_add_backends.ts";
import { type CheckResult, Grader } from "./grading.ts";
import type { LabIdentity } from "./lab_identity.ts";

export type { CheckResult, Criterion, Verdict } from "./grading.ts";
export { formatCheckResult } from "./grading.ts";

export interface CheckOptions {
  /** Check the reference solution (`solution/` of the exercise) instead of the student's file. */
  useSolution?: boolean;
  /** Lab up/down steps and the student code's log lines. */
  progress?: Progress;
  /** Leave the lab up afterwards, to look around (`deno task lab down <lab file>` removes it). */
  keepLab?: boolean;
  /** Run the lab under another name, id and ports (tests). */
  labIdentity?: LabIdentity;
  /** Repository root holding lab/exercises/ (default: this repository). */
  root?: string;
  shell?: Shell;
}

const CHECKS: Record<number, (ctx: CheckContext) => Promise<void>> = {
  1: checkTopology,
  2: checkProgramLb,
  3: checkMigrateProcess,
  4: checkMigrateContainer,
  5: checkAddBackends,
};

/** Throws {@link MissingCapabilityError} naming what the exercise's check needs. */
export function assertCanCheck(ex: Exercise): void {
  const missing = ex.needs.map(probeCapability).filter((r): r is string => r !== undefined);
  if (missing.length) {
    throw new MissingCapabilityError(
      `Exercise ${ex.number} cannot be checked on this machine: ${missing.join("; ")}`,
      {
        hint: "the checks run the real lab: use the provisioned machine or the Vagrant VM, as root",
      },
    );
  }
}

/**
 * Checks exercise `ref` (its number). Criteria failures are in the result; it throws only for
 * an unknown exercise, a missing capability, or a broken lab outside the student's file.
 */
export async function checkExercise(
  ref: number | string,
  options: CheckOptions = {},
): Promise<CheckResult> {
  const exercise = findExercise(ref);
  assertCanCheck(exercise);
  const t0 = performance.now();
  const progress = options.progress ?? silentProgress;
  const shell = options.shell ?? defaultShell;
  const files = exerciseFiles(exercise, { useSolution: options.useSolution, root: options.root });
  const grader = new Grader();
  await CHECKS[exercise.number]({
    exercise,
    files,
    grader,
    labOptions: {
      identity: options.labIdentity,
      keep: options.keepLab,
      shell,
      progress,
    },
    shell,
    progress,
  });
  return {
    exercise: exercise.number,
    title: exercise.title,
    file: displayPath(files.student, options.root),
    solution: options.useSolution ?? false,
    criteria: grader.criteria,
    passed: grader.passed,
    totalMs: performance.now() - t0,
  };
}
