/**
 * Compiles `p4/lb.p4` with p4c into the committed outputs (BMv2 JSON and P4Info in three
 * encodings), and checks that the committed outputs still match the source.
 *
 * p4c embeds the source path it was given into the BMv2 JSON (source_info), so it always runs
 * from the repository root with a relative source path; that keeps the output reproducible.
 *
 * @module
 */
import { MissingCapabilityError, UserError } from "../errors.ts";
import { defaultShell, type Shell } from "../shell.ts";
import { which } from "../capabilities.ts";
import { findTool, toolCommand, toolEnv } from "../tools.ts";
import { LB_PROGRAM } from "./lb_program.ts";

export interface CompileOptions {
  /** Repository root: p4c runs here (default: the current directory). */
  root?: string;
  /** P4 source, relative to `root` (default `p4/lb.p4`). */
  source?: string;
  /** Output directory, relative to `root` or absolute (default `p4/build`). */
  outDir?: string;
  /** The p4c executable (default: the one lib/tools.ts finds: P4CF_P4C, PATH, /usr/local/…). */
  p4c?: string;
  shell?: Shell;
}

/** The files one compilation writes, as paths under its output directory. */
export interface CompileOutputs {
  bmv2Json: string;
  p4infoText: string;
  p4infoJson: string;
  p4infoBinary: string;
}

export interface CompilePlan {
  argv: string[];
  /** Directory p4c runs in. */
  cwd: string;
  outputs: CompileOutputs;
}

/** Output file names relative to the output directory; p4c names the JSON after the source. */
function outputNames(source: string): CompileOutputs {
  const base = source.replace(/^.*\//, "").replace(/\.p4$/, "");
  return {
    bmv2Json: `${base}.json`,
    p4infoText: `${base}.p4info.txtpb`,
    p4infoJson: `${base}.p4info.json`,
    p4infoBinary: `${base}.p4info.bin`,
  };
}

/**
 * Plans the p4c invocation (pure). p4c picks each P4Info file's encoding from its suffix
 * (.txtpb text, .json JSON, .bin binary), so one run writes all of them.
 */
export function planCompile(options: CompileOptions = {}): CompilePlan {
  const cwd = options.root ?? ".";
  const source = options.source ?? LB_PROGRAM.source;
  const outDir = options.outDir ?? LB_PROGRAM.buildDir;
  if (source.startsWith("/")) {
    throw new UserError(`P4 source "${source}" must be relative to the repository root`, {
      hint: "absolute paths end up in the BMv2 JSON and make the build irreproducible",
    });
  }
  const names = outputNames(source);
  const at = (name: string) => `${outDir.replace(/\/+$/, "")}/${name}`;
  const outputs: CompileOutputs = {
    bmv2Json: at(names.bmv2Json),
    p4infoText: at(names.p4infoText),
    p4infoJson: at(names.p4infoJson),
    p4infoBinary: at(names.p4infoBinary),
  };
  const argv = [
    options.p4c ?? "p4c",
    "--target",
    "bmv2",
    "--arch",
    "v1model",
    "-o",
    outDir,
    "--p4runtime-files",
    [outputs.p4infoText, outputs.p4infoJson, outputs.p4infoBinary].join(","),
    source,
  ];
  return { argv, cwd, outputs };
}

/** Compiles the program; returns the plan it ran (outputs relative to `root` unless absolute). */
export async function compileP4(options: CompileOptions = {}): Promise<CompilePlan> {
  const found = options.p4c === undefined ? findTool("p4c") : undefined;
  const plan = planCompile({ ...options, p4c: options.p4c ?? toolCommand("p4c") });
  const p4c = plan.argv[0];
  if (!options.shell && (found ? !found.path : !which(p4c))) {
    const [problem, hint] = (found?.reason ?? `p4c is not installed (looked for "${p4c}")`)
      .split(/; (.*)/s);
    throw new MissingCapabilityError(problem, {
      hint: hint ?? "install it as root with `P4CF_P4_SOURCE=obs bash lab/provision.sh`",
    });
  }
  const outDir = plan.argv[plan.argv.indexOf("-o") + 1];
  const absOut = outDir.startsWith("/") ? outDir : `${plan.cwd}/${outDir}`;
  await Deno.mkdir(absOut, { recursive: true });
  // An explicitly set p4c finds its back end (p4c-bm2-ss) and helpers in its own directory.
  const env = found ? toolEnv("p4c") : {};
  await (options.shell ?? defaultShell).run(plan.argv, {
    cwd: plan.cwd,
    ...(Object.keys(env).length ? { env } : {}),
  });
  // The p4c driver leaves its preprocessed source (.p4i) in the output directory; not an output.
  const json = plan.outputs.bmv2Json;
  const p4i = (json.startsWith("/") ? json : `${plan.cwd}/${json}`).replace(/\.json$/, ".p4i");
  await Deno.remove(p4i).catch(() => {});
  return plan;
}

/** One committed output that differs from a fresh compilation. */
export interface OutputDifference {
  /** Which output. */
  output: keyof CompileOutputs;
  /** Committed path (relative to the root). */
  committed: string;
  /** missing: not committed; different: content differs (first differing line shown). */
  kind: "missing" | "different";
  /** For text outputs: the first differing line number (1-based) and both lines. */
  firstDifference?: { line: number; committed: string; fresh: string };
}

export interface UpToDateResult {
  upToDate: boolean;
  differences: OutputDifference[];
}

/**
 * Recompiles into a scratch copy of the source directory and compares byte for byte with the
 * committed outputs. p4c records both the source path and the output directory in the BMv2 JSON,
 * so the scratch copy keeps the same relative layout. The copy is removed afterwards.
 */
export async function checkCompiledUpToDate(options: CompileOptions = {}): Promise<UpToDateResult> {
  const committed = planCompile(options);
  const root = committed.cwd;
  const source = options.source ?? LB_PROGRAM.source;
  const outDir = options.outDir ?? LB_PROGRAM.buildDir;
  if (outDir.startsWith("/")) {
    throw new UserError(`Output directory "${outDir}" must be relative to check it`);
  }
  const sourceDir = source.includes("/") ? source.replace(/\/[^/]*$/, "") : ".";
  const scratch = await Deno.makeTempDir({ prefix: "p4cf-p4c-" });
  try {
    // Copy the P4 sources next to each other (includes are relative to the source).
    await Deno.mkdir(`${scratch}/${sourceDir}`, { recursive: true });
    for await (const entry of Deno.readDir(`${root}/${sourceDir}`)) {
      if (entry.isFile && /\.(p4|p4h)$/.test(entry.name)) {
        await Deno.copyFile(
          `${root}/${sourceDir}/${entry.name}`,
          `${scratch}/${sourceDir}/${entry.name}`,
        );
      }
    }
    const fresh = await compileP4({ ...options, root: scratch });
    const differences: OutputDifference[] = [];
    for (const key of Object.keys(committed.outputs) as (keyof CompileOutputs)[]) {
      const path = committed.outputs[key];
      const old = await Deno.readFile(`${root}/${path}`).catch(() => undefined);
      const now = await Deno.readFile(`${scratch}/${fresh.outputs[key]}`);
      if (!old) differences.push({ output: key, committed: path, kind: "missing" });
      else if (!bytesEqual(old, now)) {
        differences.push({
          output: key,
          committed: path,
          kind: "different",
          firstDifference: key === "p4infoBinary" ? undefined : firstLineDifference(old, now),
        });
      }
    }
    return { upToDate: differences.length === 0, differences };
  } finally {
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function firstLineDifference(
  a: Uint8Array,
  b: Uint8Array,
): { line: number; committed: string; fresh: string } | undefined {
  const dec = new TextDecoder();
  const la = dec.decode(a).split("\n");
  const lb = dec.decode(b).split("\n");
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    if (la[i] !== lb[i]) return { line: i + 1, committed: la[i] ?? "", fresh: lb[i] ?? "" };
  }
  return undefined;
}
