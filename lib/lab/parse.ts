/**
 * Reads a lab file: YAML -> structural checks -> defaults and cross-checks -> {@link Lab}.
 * Nothing is created; every problem is reported at once in a {@link LabFileError} with the file,
 * the line, the field path and a hint.
 *
 * @module
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { type FieldPath, LabFileError, type LabIssue } from "./issues.ts";
import { resolveLab } from "./resolve.ts";
import type { Lab } from "./types.ts";
import { readLabFile } from "./validate.ts";

export interface ParseOptions {
  /** Parent of the lab's run directory (default `.run/labs/` in the repository). */
  runRoot?: string;
}

/** Largest lab file accepted (the shipped ones are 2-3 KB). */
export const MAX_LAB_FILE_BYTES = 256 * 1024;

/** Most alias expansions accepted in a lab file (YAML's own default is 100). */
const MAX_ALIAS_COUNT = 100;

/**
 * Parses and validates lab text. `file` is the absolute path it came from (used for the default
 * lab name and in messages).
 *
 * @throws {LabFileError} listing every problem found.
 */
export function parseLabText(text: string, file: string, options: ParseOptions = {}): Lab {
  if (text.length > MAX_LAB_FILE_BYTES) {
    throw new LabFileError(file, [{
      path: [],
      message: `is ${Math.round(text.length / 1024)} KB, more than a lab file may be ` +
        `(${MAX_LAB_FILE_BYTES / 1024} KB)`,
      hint: "a lab has tens of hosts: is this the right file?",
    }]);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const yamlIssues: LabIssue[] = doc.errors.map((err) => ({
    path: [],
    message: err.code === "DUPLICATE_KEY"
      ? `${JSON.stringify(/^[^:\s]*/.exec(text.slice(err.pos[0]))?.[0])} is defined twice`
      : `is not valid YAML: ${firstLine(err.message)}`,
    hint: err.code === "DUPLICATE_KEY"
      ? "names must be unique: rename or merge the repeated entry"
      : "check the indentation and quoting around that line",
    line: lineCounter.linePos(err.pos[0]).line,
  }));
  if (doc.errors.some((e) => e.code !== "DUPLICATE_KEY")) throw new LabFileError(file, yamlIssues);

  let value: unknown;
  try {
    // A few aliases are fine; an alias bomb expands to gigabytes.
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    throw new LabFileError(file, [{
      path: [],
      message: `cannot be expanded: ${firstLine((err as Error).message)}`,
      hint: `use at most ${MAX_ALIAS_COUNT} YAML aliases (*name), or write the values out`,
    }]);
  }
  const { file: labFile, issues: structural } = readLabFile(value);
  const { lab, issues: semantic } = resolveLab(labFile, { file, runRoot: options.runRoot });
  const issues = [...yamlIssues, ...structural, ...semantic].map((issue) =>
    issue.line !== undefined
      ? issue
      : { ...issue, line: lineOf(doc.contents, lineCounter, issue.path) }
  );
  // By line, so the list reads top to bottom like the file (sort is stable within a line).
  issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  if (issues.length || !lab) throw new LabFileError(file, issues);
  return lab;
}

/**
 * Reads, parses and validates a lab file.
 *
 * @throws {LabFileError} for problems in the file; a UserError when it cannot be read.
 */
export async function parseLabFile(path: string, options: ParseOptions = {}): Promise<Lab> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new LabFileError(path, [{
      path: [],
      message: `cannot be read: ${(err as Error).message}`,
      hint: "check the path; `deno task lab list` shows the available labs",
    }]);
  }
  return parseLabText(text, path, options);
}

function firstLine(message: string): string {
  return message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
}

/** The 1-based line of the node (or mapping key) at `path`, as far down as it exists. */
function lineOf(root: unknown, lc: LineCounter, path: FieldPath): number | undefined {
  let node: unknown = root;
  let line = rangeLine(node, lc);
  for (const part of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) =>
        isPair(p) && isScalar(p.key) && String(p.key.value) === String(part)
      );
      if (!pair) break;
      line = rangeLine(pair.key, lc) ?? line;
      node = pair.value;
    } else if (isSeq(node) && typeof part === "number") {
      node = node.items[part];
      line = rangeLine(node, lc) ?? line;
    } else break;
  }
  return line;
}

function rangeLine(node: unknown, lc: LineCounter): number | undefined {
  const range = (node as Node | undefined)?.range;
  return range ? lc.linePos(range[0]).line : undefined;
}
