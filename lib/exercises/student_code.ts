/**
 * Loading and running the student's code: a dynamic import of their module, the function it must
 * export, and a call bounded in time whose failure becomes a verdict instead of ending the check.
 *
 * @module
 */
import { UserError } from "../errors.ts";
import { displayPath } from "./catalog.ts";
import { failFromError, type Grader, pass, type Verdict } from "./grading.ts";

/**
 * Imports `path` and returns its export `name`, which must be a function.
 *
 * @throws {UserError} when the module does not load or lacks the function.
 */
// deno-lint-ignore ban-types
export async function importFunction<F extends Function>(path: string, name: string): Promise<F> {
  let mod: Record<string, unknown>;
  try {
    mod = await import(new URL(`file://${path}`).href);
  } catch (err) {
    throw new UserError(
      `${displayPath(path)} does not load: ${(err as Error).message ?? err}`,
      { hint: "fix the syntax or type error it names (`deno check " + displayPath(path) + "`)" },
    );
  }
  const fn = mod[name];
  if (typeof fn !== "function") {
    throw new UserError(`${displayPath(path)} does not export a function "${name}"`, {
      hint: `keep \`export async function ${name}(...)\` from the starter file`,
    });
  }
  return fn as F;
}

/** The outcome of a run of student code. */
export interface StudentRun<T> {
  verdict: Verdict;
  value?: T;
  ms: number;
}

/**
 * Runs student code with a deadline. Errors (and the deadline) become a failing verdict; the
 * UserError hints of the library are passed on.
 */
export async function runStudent<T>(
  what: string,
  fn: () => Promise<T>,
  timeoutMs: number,
  hint?: string,
): Promise<StudentRun<T>> {
  const t0 = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new UserError(`${what} did not finish within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
  });
  try {
    const value = await Promise.race([fn(), deadline]);
    const ms = performance.now() - t0;
    return { verdict: pass(`finished in ${ms.toFixed(0)} ms`), value, ms };
  } catch (err) {
    const verdict = failFromError(err, hint);
    return {
      verdict: { ...verdict, detail: `${what} failed: ${verdict.detail}` },
      ms: performance.now() - t0,
    };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * {@link importFunction}, recording a failed criterion `title` when the module does not load or
 * lacks the function; returns undefined then.
 */
// deno-lint-ignore ban-types
export async function importOrFail<F extends Function>(
  grader: Grader,
  title: string,
  path: string,
  name: string,
): Promise<F | undefined> {
  try {
    return await importFunction<F>(path, name);
  } catch (err) {
    await grader.check(title, () => failFromError(err));
    return undefined;
  }
}
