/**
 * Grading another checkout's work with this checkout's grader (`lab check --from <dir>`): an
 * instructor grades each student's files with their own, untouched copy of the grader and the
 * library. The student's file is copied into `.run/grading/`, its imports of the library pointed
 * at this checkout's `lib/`; a lab file (exercise 1) is read where it is.
 *
 * @module
 */
import { UserError } from "../errors.ts";
import { repoRoot } from "../lab/paths.ts";
import type { Exercise } from "./catalog.ts";
import { studentSlug } from "./student.ts";

/**
 * Rewrites the relative import specifiers of a module at `fromFile` that lead into `fromRoot/lib/`
 * so that they lead into `toRoot/lib/` (as absolute paths); other relative imports are made
 * absolute, so they keep meaning the same file.
 */
export function retargetImports(
  text: string,
  fromFile: string,
  fromRoot: string,
  toRoot: string,
): string {
  const dir = fromFile.slice(0, fromFile.lastIndexOf("/") + 1);
  const rewrite = (spec: string): string => {
    if (!spec.startsWith("./") && !spec.startsWith("../")) return spec;
    const resolved = new URL(spec, `file://${dir}`).pathname;
    const lib = `${fromRoot.replace(/\/+$/, "")}/lib/`;
    return resolved.startsWith(lib)
      ? `${toRoot.replace(/\/+$/, "")}/lib/${resolved.slice(lib.length)}`
      : resolved;
  };
  return text
    .replace(
      /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])([^"'\n]+)\2/g,
      (_m, lead: string, q: string, spec: string) => `${lead}${q}${rewrite(spec)}${q}`,
    );
}

/** The student's file, and what to check in its place. */
export interface ForeignFile {
  /** The file in the student's checkout. */
  original: string;
  /** What is checked: a retargeted copy, or the original itself. */
  file: string;
}

/**
 * The file to check for exercise `ex` of the checkout at `fromDir`: a copy with its library
 * imports retargeted (TypeScript), or the file itself (a lab file).
 *
 * @throws {UserError} when the checkout has no such file.
 */
export async function studentFileFrom(
  ex: Exercise,
  fromDir: string,
  student: string,
  root: string = repoRoot(),
): Promise<ForeignFile> {
  const from = fromDir.replace(/\/+$/, "");
  const original = `${from}/lab/exercises/${ex.slug}/${ex.studentFile}`;
  let text: string;
  try {
    text = await Deno.readTextFile(original);
  } catch (err) {
    throw new UserError(`Cannot read ${original}: ${(err as Error).message}`, {
      hint: "--from takes the root of a checkout of this project (the directory holding lab/)",
    });
  }
  if (!original.endsWith(".ts")) return { original, file: original };
  const dir = `${root}/.run/grading/${studentSlug(student)}/${ex.slug}`;
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const copy = `${dir}/${ex.studentFile}`;
  await Deno.writeTextFile(copy, retargetImports(text, original, from, root));
  return { original, file: copy };
}
