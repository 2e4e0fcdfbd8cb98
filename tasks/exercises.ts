/**
 * `lab check <n>|--all [--solution] [--keep] [--hint] [--verbose] [--student <id>] [--from <dir>]
 * [--json]`: grades the course exercises (lab/exercises/).
 */
import type { ParseArgsOptionsConfig } from "node:util";
import { EXERCISES, findExercise } from "../lib/exercises/catalog.ts";
import {
  checkExercise,
  type CheckResult,
  formatCheckResult,
  missingFor,
} from "../lib/exercises/check.ts";
import { studentFileFrom } from "../lib/exercises/foreign_checkout.ts";
import { nextHint, rememberResult } from "../lib/exercises/hints.ts";
import { claimSeat, studentKey } from "../lib/exercises/student.ts";
import { UserError } from "../lib/errors.ts";
import { consoleProgress, silentProgress } from "../lib/progress.ts";
import type { OptionValues } from "./command.ts";

/** The options of `lab check`, for the `lab` command's parser. */
export const CHECK_OPTIONS: ParseArgsOptionsConfig = {
  solution: { type: "boolean" },
  keep: { type: "boolean" },
  hint: { type: "boolean" },
  verbose: { type: "boolean" },
  student: { type: "string" },
  from: { type: "string" },
  all: { type: "boolean" },
  json: { type: "boolean" },
};

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

export const CHECK_USAGE = `  check <n> | --all [options]\n${
  wrap(
    "Grade exercise <n> of lab/exercises/ (or all five) against the real lab, in a lab of " +
      "your own: each criterion with what was seen; exit 1 when any fails. --hint reveals the " +
      "next of three hints instead (the idea, the tools, what your last check got wrong). " +
      "--verbose shows the lab's bring-up and what the check read; --keep leaves the lab up; " +
      "--solution checks the reference solution; --student <id> grades as that student (default: " +
      "the user behind sudo); --from <checkout> grades that checkout's files with this grader " +
      "(as its owner, unless --student says otherwise); " +
      `--json prints the results as JSON. Exercises: ${EXERCISES.map((e) => e.slug).join(", ")}`,
  )
}`;

function notice(message: string): void {
  const [first, ...rest] = message.split("\n");
  console.error([`note: ${first}`, ...rest.map((l) => `      ${l}`)].join("\n"));
}

/** A result for an exercise this machine cannot check (in `--all`). */
function cannotCheck(n: number, reasons: string[], student: string): CheckResult {
  const ex = findExercise(n);
  return {
    exercise: n,
    title: ex.title,
    file: `lab/exercises/${ex.slug}/${ex.studentFile}`,
    solution: false,
    student,
    criteria: [{
      title: "this machine can run the check",
      status: "fail",
      detail: reasons.join("; "),
      hint: "the checks run the real lab: use the provisioned machine or the Vagrant VM, as root",
      ms: 0,
    }],
    passed: false,
    totalMs: 0,
  };
}

/** The login name owning `dir` (the student whose checkout it is), if /etc/passwd knows it. */
async function ownerOf(dir: string): Promise<string | undefined> {
  const uid = (await Deno.stat(dir).catch(() => undefined))?.uid;
  if (uid === undefined || uid === null) return undefined;
  const passwd = await Deno.readTextFile("/etc/passwd").catch(() => "");
  return passwd.split("\n").map((l) => l.split(":")).find((f) => f[2] === String(uid))?.[0];
}

/** Runs the check(s), or reveals a hint; prints the verdicts last. Returns the exit code. */
export async function verbCheck(ref: string | undefined, values: OptionValues): Promise<number> {
  const from = typeof values.from === "string" ? values.from : undefined;
  const key = studentKey({
    option: typeof values.student === "string"
      ? values.student
      : from
      ? await ownerOf(from)
      : undefined,
  });
  if (values.hint === true) {
    if (!ref) {
      throw new UserError("lab check --hint: for which exercise?", {
        hint: "e.g. `lab check 2 --hint`",
      });
    }
    console.log(await nextHint(findExercise(ref).number, key));
    return 0;
  }
  const numbers = values.all === true
    ? EXERCISES.map((e) => e.number)
    : ref
    ? [findExercise(ref).number]
    : undefined;
  if (!numbers) {
    throw new UserError("lab check: which exercise?", {
      hint: `give its number: ${EXERCISES.map((e) => `${e.number} (${e.title})`).join("; ")}, ` +
        "or --all",
    });
  }
  const student = await claimSeat(key);
  const verbose = values.verbose === true;
  const results: CheckResult[] = [];
  for (const n of numbers) {
    const ex = findExercise(n);
    const missing = missingFor(ex);
    if (missing.length && numbers.length > 1) {
      results.push(cannotCheck(n, missing, key));
      continue;
    }
    const foreign = from ? await studentFileFrom(ex, from, key) : undefined;
    const result = await checkExercise(n, {
      useSolution: values.solution === true,
      studentFile: foreign?.file,
      shownAs: foreign?.original,
      student,
      keepLab: values.keep === true,
      verbose,
      progress: consoleProgress(),
      labProgress: verbose ? consoleProgress() : silentProgress,
      notice,
    });
    if (!from) await rememberResult(result);
    results.push(result);
  }
  if (values.json === true) {
    console.log(JSON.stringify(numbers.length > 1 ? results : results[0], null, 2));
  } else {
    console.log(`\n${results.map(formatCheckResult).join("\n\n")}`);
    if (results.length > 1) {
      const ok = results.filter((r) => r.passed).map((r) => r.exercise);
      const not = results.filter((r) => !r.passed).map((r) => r.exercise);
      console.log(
        `\n${key}: passed ${ok.join(", ") || "none"}; not yet ${not.join(", ") || "none"}.`,
      );
    }
  }
  return results.every((r) => r.passed) ? 0 : 1;
}
