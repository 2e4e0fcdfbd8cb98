/**
 * The exercise grader behind `deno task lab check <n>`: type-checks the student's file, then runs
 * one exercise's criteria against the real lab (BMv2, CRIU, Podman as the exercise needs), under
 * the student's own lab identity (see student.ts), and returns each criterion's verdict. Every lab
 * it brings up is brought down again before it returns, unless `keepLab`.
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
import { repoRoot } from "../lab/paths.ts";
import { type Progress, silentProgress } from "../progress.ts";
import { defaultShell, type Shell } from "../shell.ts";
import { displayPath, type Exercise, exerciseFiles, findExercise } from "./catalog.ts";
import type { CheckContext } from "./check_context.ts";
import { checkTopology } from "./ex1_topology.ts";
import { checkProgramLb } from "./ex2_program_lb.ts";
import { checkMigrateProcess } from "./ex3_migrate_process.ts";
import { checkMigrateContainer } from "./ex4_migrate_container.ts";
import { checkAddBackends } from "./ex5_add_backends.ts";
import { checkMigratePod } from "./ex6_migrate_pod.ts";
import { type CheckResult, fail, Grader } from "./grading.ts";
import type { LabIdentity } from "./lab_identity.ts";
import { claimSeat, exerciseIdentity, type Student, studentKey } from "./student.ts";
import { formatDiagnostics, typeCheck } from "./typecheck.ts";

export type { CheckResult, Criterion, Verdict } from "./grading.ts";
export { formatCheckResult } from "./grading.ts";

export interface CheckOptions {
  /** Check the reference solution (`solution/` of the exercise) instead of the student's file. */
  useSolution?: boolean;
  /** Check this file instead (absolute path; an instructor's copy, a test's wrong solution). */
  studentFile?: string;
  /** How to name the checked file in the result (a copy's original, for `--from`). */
  shownAs?: string;
  /** Whose lab it is (default: the student of {@link studentKey}, seated on this machine). */
  student?: Student;
  /** Run the lab under this name, id and ports instead of the student's. */
  labIdentity?: LabIdentity;
  /** The check's own steps and the student code's log lines. */
  progress?: Progress;
  /** Lab up and down step by step (default: nothing). */
  labProgress?: Progress;
  /** What the student must know: a lab of theirs brought down, kept, or reused. */
  notice?: (message: string) => void;
  /** Show more of what the check saw. */
  verbose?: boolean;
  /** Leave the lab up afterwards (`deno task lab down <its file>` removes it). */
  keepLab?: boolean;
  /** Reuse a lab kept by an earlier check when the exercise allows it (default true). */
  reuseLab?: boolean;
  /** Skip `deno check` of the student's file (tests that check many files). */
  skipTypeCheck?: boolean;
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
  6: checkMigratePod,
};

/** What the exercise's check needs and this machine lacks (empty: it can be checked). */
export function missingFor(ex: Exercise): string[] {
  return ex.needs.map(probeCapability).filter((r): r is string => r !== undefined);
}

/** Throws {@link MissingCapabilityError} naming what the exercise's check needs. */
export function assertCanCheck(ex: Exercise): void {
  const missing = missingFor(ex);
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
  const root = options.root ?? repoRoot();
  const progress = options.progress ?? silentProgress;
  const shell = options.shell ?? defaultShell;
  const files = exerciseFiles(exercise, {
    useSolution: options.useSolution,
    root,
    studentFile: options.studentFile,
  });
  const student = options.student ?? await claimSeat(studentKey());
  const identity = options.labIdentity ?? exerciseIdentity(exercise, student);
  const grader = new Grader();
  const shown = options.shownAs ?? displayPath(files.student, root);
  const result = (): CheckResult => ({
    exercise: exercise.number,
    title: exercise.title,
    file: shown,
    solution: options.useSolution ?? false,
    student: student.key,
    lab: identity.name,
    criteria: grader.criteria,
    passed: grader.passed,
    totalMs: performance.now() - t0,
  });

  if (!options.skipTypeCheck && files.student.endsWith(".ts")) {
    const done = progress.step(`type-check ${shown}`);
    const checked = await typeCheck(files.student, root);
    done(checked.ok ? undefined : "it has errors");
    if (!checked.ok) {
      const copy = displayPath(files.student, root);
      const diagnostics = checked.diagnostics.map((d) =>
        d.file === copy ? { ...d, file: shown } : d
      );
      await grader.check(`${shown} type-checks`, () =>
        fail(
          diagnostics.length
            ? formatDiagnostics(diagnostics)
            : (checked.other ?? "deno check failed").replaceAll(copy, shown),
          "fix these first: nothing else was checked (your editor shows them too, as does " +
            `\`deno check ${shown}\`)`,
        ));
      return result();
    }
  }

  await CHECKS[exercise.number]({
    exercise,
    files,
    grader,
    labOptions: {
      identity,
      keep: options.keepLab,
      reuse: (options.reuseLab ?? true) && exercise.reusesLab === true,
      shell,
      progress: options.labProgress ?? silentProgress,
      notice: options.notice,
      root,
    },
    shell,
    progress,
    verbose: options.verbose,
  });
  return result();
}
