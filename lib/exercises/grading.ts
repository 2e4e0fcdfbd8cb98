/**
 * Criteria of an exercise check: each is passed, failed (with what was seen and a hint) or
 * skipped (because an earlier one failed). The {@link Grader} collects them; a criterion whose
 * check throws fails with the error's message instead of ending the check.
 *
 * @module
 */
import { UserError } from "../errors.ts";

/** The outcome of one criterion's check. */
export interface Verdict {
  ok: boolean;
  /** What was observed (shown under the criterion). */
  detail?: string;
  /** What to do about a failure. */
  hint?: string;
}

export type CriterionStatus = "pass" | "fail" | "skip";

export interface Criterion {
  title: string;
  status: CriterionStatus;
  detail?: string;
  hint?: string;
  /** Time the check took. */
  ms: number;
}

export interface CheckResult {
  exercise: number;
  title: string;
  /** The file that was checked (relative to the repository). */
  file: string;
  solution: boolean;
  /** Whose check it was (the student key), and the lab it ran on. */
  student?: string;
  lab?: string;
  criteria: Criterion[];
  /** Every criterion passed. */
  passed: boolean;
  totalMs: number;
}

/** A passing verdict. */
export function pass(detail?: string): Verdict {
  return { ok: true, detail };
}

/** A failing verdict. */
export function fail(detail: string, hint?: string): Verdict {
  return { ok: false, detail, hint };
}

/** The verdict for an error thrown while checking (or by the student's code). */
export function failFromError(err: unknown, hint?: string): Verdict {
  if (err instanceof UserError) return fail(err.message, err.hint ?? hint);
  if (err instanceof Error) return fail(`${err.name}: ${err.message}`, hint);
  return fail(String(err), hint);
}

/** Collects criteria in order. */
export class Grader {
  readonly criteria: Criterion[] = [];

  /** Runs one criterion's check; a thrown error fails it. Returns whether it passed. */
  async check(title: string, fn: () => Verdict | Promise<Verdict>): Promise<boolean> {
    const t0 = performance.now();
    let verdict: Verdict;
    try {
      verdict = await fn();
    } catch (err) {
      verdict = failFromError(err);
    }
    this.criteria.push({
      title,
      status: verdict.ok ? "pass" : "fail",
      ...(verdict.detail ? { detail: verdict.detail } : {}),
      ...(!verdict.ok && verdict.hint ? { hint: verdict.hint } : {}),
      ms: performance.now() - t0,
    });
    return verdict.ok;
  }

  /** Records criteria that could not be checked. */
  skip(titles: string | readonly string[], reason: string): void {
    for (const title of typeof titles === "string" ? [titles] : titles) {
      this.criteria.push({ title, status: "skip", detail: reason, ms: 0 });
    }
  }

  /** No criterion failed or was skipped. */
  get passed(): boolean {
    return this.criteria.length > 0 && this.criteria.every((c) => c.status === "pass");
  }
}

const MARK: Record<CriterionStatus, string> = { pass: "✓", fail: "✗", skip: "-" };

/** The check's result as terminal lines: one per criterion, details and hints indented. */
export function formatCheckResult(result: CheckResult): string {
  const which = result.solution ? "reference solution" : "your file";
  const who = result.student ? ` for ${result.student}` : "";
  const lines = [
    `Exercise ${result.exercise}: ${result.title}`,
    `checked ${which} ${result.file}${who}`,
    "",
  ];
  for (const c of result.criteria) {
    lines.push(`  ${MARK[c.status]} ${c.title}`);
    const detail = c.status === "skip" ? `not checked: ${c.detail}` : c.detail;
    for (const line of (detail ?? "").split("\n").filter(Boolean)) lines.push(`      ${line}`);
    if (c.hint) lines.push(`      hint: ${c.hint}`);
  }
  const passed = result.criteria.filter((c) => c.status === "pass").length;
  const total = result.criteria.length;
  const seconds = (result.totalMs / 1000).toFixed(1);
  lines.push("");
  lines.push(
    result.passed
      ? `All ${total} criteria passed (${seconds} s).`
      : `${passed} of ${total} criteria passed (${seconds} s): not there yet. ` +
        `\`lab check ${result.exercise} --hint\` gives a hint.`,
  );
  return lines.join("\n");
}
