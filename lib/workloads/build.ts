/**
 * Builds the C workloads (lab/workloads/*.c) into static binaries under `.run/bin/`.
 *
 * Static so the same binary runs in a netns, in a FROM-scratch container image, and after a CRIU
 * restore without depending on the libraries of the target. Planning (what to compile, with which
 * argv) is pure; {@link buildWorkloads} applies the plan through a {@link Shell}.
 *
 * @module
 */
import { which } from "../capabilities.ts";
import { MissingCapabilityError } from "../errors.ts";
import { repoRoot } from "../lab/paths.ts";
import { defaultShell, type Shell } from "../shell.ts";

/** The workload programs, by the name of their source file. */
export const WORKLOAD_NAMES = ["counter_server", "counter_client"] as const;
export type WorkloadName = typeof WORKLOAD_NAMES[number];

/** Absolute paths of the built workload binaries. */
export type WorkloadPaths = Record<WorkloadName, string>;

/** Where the binaries are built: `.run/bin/` under the repository root (gitignored). */
export function workloadBinDir(root: string = repoRoot()): string {
  return `${root}/.run/bin`;
}

/** The paths of every workload binary, whether built yet or not. */
export function workloadPaths(root: string = repoRoot()): WorkloadPaths {
  const dir = workloadBinDir(root);
  return { counter_server: `${dir}/counter_server`, counter_client: `${dir}/counter_client` };
}

/** The compiler argv for one workload: small, static, optimised, warnings on. */
export function compileArgv(source: string, output: string, cc = "gcc"): string[] {
  return [cc, "-static", "-O2", "-Wall", "-Wextra", "-o", output, source];
}

/** What is known about one workload's files before building. */
export interface WorkloadFileState {
  name: WorkloadName;
  source: string;
  output: string;
  /** Modification time of the source in ms. */
  sourceMtimeMs: number;
  /** Modification time of the binary in ms; undefined when it does not exist. */
  outputMtimeMs?: number;
}

/** One compilation to run. */
export interface CompileStep {
  name: WorkloadName;
  output: string;
  /** Compiles into a temporary file first, so a concurrent reader never sees half a binary. */
  tempOutput: string;
  argv: string[];
}

/** The compilations needed: binaries that are missing or older than their source. */
export function planWorkloadBuild(
  files: readonly WorkloadFileState[],
  options: { force?: boolean; cc?: string; tempSuffix?: string } = {},
): CompileStep[] {
  const suffix = options.tempSuffix ?? ".tmp";
  return files
    .filter((f) =>
      options.force || f.outputMtimeMs === undefined || f.outputMtimeMs < f.sourceMtimeMs
    )
    .map((f) => {
      const tempOutput = `${f.output}${suffix}`;
      return {
        name: f.name,
        output: f.output,
        tempOutput,
        argv: compileArgv(f.source, tempOutput, options.cc),
      };
    });
}

async function mtimeMs(path: string): Promise<number | undefined> {
  try {
    return (await Deno.stat(path)).mtime?.getTime() ?? 0;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

export interface BuildOptions {
  shell?: Shell;
  /** Repository root (default: the one this module lives in). */
  root?: string;
  /** Rebuild even when the binaries are up to date. */
  force?: boolean;
  /** C compiler (default gcc). */
  cc?: string;
}

/**
 * Compiles the workloads that are missing or out of date and returns the binaries' paths.
 * Cheap when nothing changed (two stats per workload).
 */
export async function buildWorkloads(options: BuildOptions = {}): Promise<WorkloadPaths> {
  const root = options.root ?? repoRoot();
  const paths = workloadPaths(root);
  const states: WorkloadFileState[] = [];
  for (const name of WORKLOAD_NAMES) {
    const source = `${root}/lab/workloads/${name}.c`;
    const sourceMtime = await mtimeMs(source);
    if (sourceMtime === undefined) throw new Error(`Workload source is missing: ${source}`);
    states.push({
      name,
      source,
      output: paths[name],
      sourceMtimeMs: sourceMtime,
      outputMtimeMs: await mtimeMs(paths[name]),
    });
  }
  const steps = planWorkloadBuild(states, {
    force: options.force,
    cc: options.cc,
    tempSuffix: `.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`,
  });
  const shell = options.shell ?? defaultShell;
  if (steps.length === 0) return paths;
  const cc = options.cc ?? "gcc";
  if (!options.shell && !which(cc)) {
    throw new MissingCapabilityError(`Cannot build the workloads: ${cc} is not installed`, {
      hint: "run `bash lab/provision.sh` as root (it installs gcc and the static glibc)",
    });
  }
  await Deno.mkdir(workloadBinDir(root), { recursive: true });
  for (const step of steps) {
    try {
      await shell.run(step.argv);
      await Deno.rename(step.tempOutput, step.output);
    } finally {
      await Deno.remove(step.tempOutput).catch(() => {});
    }
  }
  return paths;
}

/**
 * Compiles a helper program whose C source is embedded in a module (static, into `.run/bin/`)
 * unless it is there from this very source; returns its path. Concurrent builders each write a
 * temporary file and rename it, so nobody runs half a binary.
 */
export async function buildCHelper(
  shell: Shell,
  name: string,
  source: string,
  gcc = "gcc",
): Promise<string> {
  const dir = workloadBinDir();
  const sourcePath = `${dir}/${name}.c`;
  const binary = `${dir}/${name}`;
  const same = await Deno.readTextFile(sourcePath).then((t) => t === source, () => false);
  const built = await Deno.stat(binary).then(() => true, () => false);
  if (same && built) return binary;
  await Deno.mkdir(dir, { recursive: true });
  const tmpSource = `${sourcePath}.${Deno.pid}.tmp.c`;
  await Deno.writeTextFile(tmpSource, source);
  const tmp = `${binary}.${Deno.pid}.tmp`;
  const r = await shell.run([gcc, "-static", "-O2", "-Wall", "-Wextra", "-o", tmp, tmpSource], {
    check: false,
  });
  if (r.code !== 0) {
    await Deno.remove(tmpSource).catch(() => {});
    throw new MissingCapabilityError(`Cannot compile ${name}: ${r.stderr.trim()}`, {
      hint: "install gcc and the static C library (Debian/Ubuntu: gcc libc6-dev)",
    });
  }
  await Deno.rename(tmp, binary);
  await Deno.rename(tmpSource, sourcePath);
  return binary;
}
