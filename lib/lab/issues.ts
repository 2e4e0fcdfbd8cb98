/**
 * Problems found in a lab file, collected (not thrown one by one) so the user sees all of them.
 *
 * @module
 */
import { UserError } from "../errors.ts";

/** A path into the lab file: `["hosts", "h1", "ip"]` is shown as `hosts.h1.ip`. */
export type FieldPath = readonly (string | number)[];

export interface LabIssue {
  /** Where: the field the problem is about (empty for the whole file). */
  path: FieldPath;
  /** What is wrong, starting with the field's value when there is one. */
  message: string;
  /** How to fix it. */
  hint?: string;
  /** 1-based line in the file, when known. */
  line?: number;
}

/** Formats a field path as `hosts.h1.ip` / `links[2][0]`. */
export function formatPath(path: FieldPath): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${part}` : part;
  }
  return out;
}

function formatIssue(issue: LabIssue): string {
  const where = issue.path.length ? `${formatPath(issue.path)} ` : "";
  return `${where}${issue.message}`;
}

/** A lab file that cannot be used; lists every problem with its field path and hint. */
export class LabFileError extends UserError {
  override name = "LabFileError";
  constructor(readonly file: string, readonly issues: readonly LabIssue[]) {
    const { message, hint } = summarise(file, issues);
    super(message, { hint });
  }
}

function summarise(file: string, issues: readonly LabIssue[]): { message: string; hint: string } {
  const display = displayPath(file);
  if (issues.length === 1) {
    const [issue] = issues;
    const at = issue.line ? `${display}:${issue.line}` : display;
    return {
      message: `Cannot load lab file "${at}": ${formatIssue(issue)}`,
      hint: issue.hint ?? "see lab/lab.schema.json for the format",
    };
  }
  const lines = issues.map((issue) => {
    const at = issue.line ? `line ${issue.line}: ` : "";
    return `  - ${at}${formatIssue(issue)}${issue.hint ? `\n      hint: ${issue.hint}` : ""}`;
  });
  return {
    message: `Cannot load lab file "${display}": ${issues.length} problems\n${lines.join("\n")}`,
    hint: "fix the fields above; lab/lab.schema.json describes the format",
  };
}

/** The file relative to the working directory when inside it (shorter messages). */
function displayPath(file: string): string {
  let cwd = "";
  try {
    cwd = Deno.cwd();
  } catch {
    return file;
  }
  return file.startsWith(`${cwd}/`) ? file.slice(cwd.length + 1) : file;
}
