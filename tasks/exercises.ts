/** `lab check <n> [--solution] [--keep]`: grades a course exercise (lab/exercises/). */
import { EXERCISES } from "../lib/exercises/catalog.ts";
import { checkExercise, formatCheckResult } from "../lib/exercises/check.ts";
import { UserError } from "../lib/errors.ts";
import { consoleProgress } from "../lib/progress.ts";
import type { OptionValues } from "./command.ts";

const INDENT = " ".repeat(28);

/** Words wrapped to lines of at most `width` characters after the usage's indentation. */
function wrap(text: string, width = 100 - INDENT.length): string {
  const lines: string[] = [];
  for (const word of text.split(" ")) {
    const last = lines.at(-1);
    if (last !== undefined && last.length + word.length + 1 <= width) {
      lines[lines.length - 1] = `${last} ${word}`;
    } else lines.push(word);
  }
  return lines.map((l) => INDENT + l).join("\n");
}

export const CHECK_USAGE = `  check <n> [--solution] [--keep]\n${
  wrap(
    "Grade exercise <n> of lab/exercises/ against the real lab: each criterion with a hint; " +
      "exit 1 when any fails. --solution checks the reference solution, --keep leaves the " +
      `exercise's lab up. Exercises: ${EXERCISES.map((e) => e.slug).join(", ")}`,
  )
}`;

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
