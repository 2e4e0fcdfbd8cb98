/**
 * `deno task bench --readme`: README.md's results block rewritten from bench reports (the run
 * just made, the newest report/bench-*.json, or the reports given), formatted as `deno fmt`
 * formats it. Everything is read and checked before README.md is replaced, in one rename.
 *
 * @module
 */
import { UserError } from "../errors.ts";
import { defaultShell, type Shell } from "../shell.ts";
import { type BenchReport, type BenchRun, resultsBlock, spliceResults } from "./results_table.ts";

/** The project's root (README.md, deno.json, report/). */
export const PROJECT_ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

/** Where tasks/bench.ts saves its reports. */
export const REPORT_DIR = `${PROJECT_ROOT}/report`;

/** The newest report/bench-<time>.json (their names sort by time). */
export async function newestBenchReport(dir = REPORT_DIR): Promise<string> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && /^bench-.*\.json$/.test(e.name)) names.push(e.name);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  if (!names.length) {
    throw new UserError(`No bench report in ${dir}`, {
      hint: "run `deno task bench <section…> --readme` to measure and write README.md at once",
    });
  }
  return `${dir}/${names.sort().at(-1)}`;
}

/** A path as the README shows it: relative to the project's root when inside it. */
function shown(path: string, root: string): string {
  return path.startsWith(`${root}/`) ? path.slice(root.length + 1) : path;
}

/** Reads one bench report; a missing, unreadable or foreign file is a UserError. */
export async function readBenchRun(given: string, root = PROJECT_ROOT): Promise<BenchRun> {
  const path = given.startsWith("/") ? given : `${Deno.cwd()}/${given.replace(/^\.\//, "")}`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new UserError(`Cannot read bench report "${given}": ${(err as Error).message}`, {
      hint: "give a report/bench-<time>.json that `deno task bench` saved",
      cause: err,
    });
  }
  let report: unknown;
  try {
    report = JSON.parse(text);
  } catch (err) {
    throw new UserError(`Bench report "${given}" is not JSON: ${(err as Error).message}`, {
      hint: "give a report/bench-<time>.json that `deno task bench` saved",
      cause: err,
    });
  }
  if (
    typeof report !== "object" || report === null ||
    typeof (report as BenchReport).startedAt !== "string"
  ) {
    throw new UserError(`"${given}" is not a bench report (it has no startedAt)`, {
      hint: "give a report/bench-<time>.json that `deno task bench` saved",
    });
  }
  return { file: shown(path, root), report: report as BenchReport };
}

/** Markdown as `deno fmt` leaves it, with the project's settings (line width 100). */
export async function formatMarkdown(
  text: string,
  options: { root?: string; shell?: Shell } = {},
): Promise<string> {
  const root = options.root ?? PROJECT_ROOT;
  const { stdout } = await (options.shell ?? defaultShell).run(
    [Deno.execPath(), "fmt", "--config", `${root}/deno.json`, "--ext", "md", "-"],
    { stdin: text, timeoutMs: 60_000 },
  );
  return stdout;
}

/**
 * Rewrites README.md's block between the bench-results markers from `runs` (each section from
 * the last run that holds it). Returns the new block.
 */
export async function writeReadmeResults(
  runs: readonly BenchRun[],
  options: { readme?: string; root?: string; shell?: Shell } = {},
): Promise<string> {
  const root = options.root ?? PROJECT_ROOT;
  const readme = options.readme ?? `${root}/README.md`;
  const block = (await formatMarkdown(resultsBlock(runs), options)).trim();
  const text = spliceResults(await Deno.readTextFile(readme), block, shown(readme, root));
  const tmp = `${readme}.bench-results.tmp`;
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, readme);
  return block;
}
