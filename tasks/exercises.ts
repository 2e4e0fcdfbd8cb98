/** `lab check <n> [--solution] [--keep]`: grades a course exercise (lab/exercises/). */
import { EXERCISES } from "../lib/exercises/catalog.ts";
import { checkExercise, formatCheckResult } from "../lib/exercises/check.ts";
import { UserError } from "../lib/errors.ts";
import { consoleProgress } from "../lib/progress.ts";
import type { OptionValues } from "./command.ts";

export const CHECK_USAGE = `  check <n> [--solution] [--keep]
                            Grade exercise <n> of lab/exercises/ against the real lab: each
                            criterion with a hint; exit 1 when any fails. --solution checks the
                            reference solution, --keep leaves the exercise's lab up
                            (${EXERCISES.map((e) => `${e.number} ${e.slug}`).join(", ")})`;

/** Runs the check and prints its criteria; returns the exit code. */
export async function verbCheck(ref: string | undefined, values: OptionValues): Promise<number> {
  if (!ref) {
    throw new UserError("lab check: which exercise?", {
      hint: `give its number: ${EXERCISES.map((e) => `${e.number} (${e.title})`).join("; ")}`,
    });
  }
  const result = await checkExercise(ref, {
    useSolution: values.solution === true,
    keepLab: values.keep === true,
    progress: consoleProgress(),
  });
  console.log(`\n${formatCheckResult(result)}`);
  return result.passed ? 0 : 1;
}
