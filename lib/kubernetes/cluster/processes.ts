/**
 * The cluster's processes: each is written to `processes.json` in the run directory and recorded
 * in the lab's state file before it starts (so `down` finds it even when `up` is killed the next
 * instant), then started detached with its own log, pid file and exit file.
 *
 * @module
 */
import { spawnDetached } from "../../shell.ts";
import type { Shell } from "../../shell.ts";
import type { LabObject } from "../../topology/objects.ts";
import { livePid } from "../../topology/objects.ts";
import { type ClusterPaths, type Component, exitFile, logFile, pidFile } from "./paths.ts";

/** One started (or about to be started) component. */
export interface ComponentProcess {
  name: Component;
  pidFile: string;
  /** What /proc/<pid>/comm says while it runs (the executable's name, cut to 15 characters). */
  comm: string;
}

/** The kernel's comm of a program run by path: its file name, cut to 15 characters. */
export function commOf(program: string): string {
  return program.slice(program.lastIndexOf("/") + 1).slice(0, 15);
}

/** The processes recorded in the run directory (empty when none). */
export async function readProcesses(paths: ClusterPaths): Promise<ComponentProcess[]> {
  try {
    const list = JSON.parse(await Deno.readTextFile(paths.processes));
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

async function addProcess(paths: ClusterPaths, proc: ComponentProcess): Promise<void> {
  const list = (await readProcesses(paths)).filter((p) => p.name !== proc.name);
  const tmp = `${paths.processes}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify([...list, proc], null, 1) + "\n");
  await Deno.rename(tmp, paths.processes);
}

/** The live pid of a recorded process (still running its program), else undefined. */
export function processPid(proc: ComponentProcess): number | undefined {
  return livePid(proc.pidFile, proc.comm);
}

export interface StartContext {
  shell: Shell;
  record(objects: LabObject[]): Promise<void>;
}

/**
 * Records, then starts, one component; returns its pid. `comm` is the program's that finally
 * runs (after nsenter, unshare or a shell exec).
 */
export async function startComponent(
  ctx: StartContext,
  paths: ClusterPaths,
  name: Component,
  argv: readonly string[],
  comm: string,
): Promise<number> {
  const proc: ComponentProcess = { name, pidFile: pidFile(paths, name), comm: comm.slice(0, 15) };
  await addProcess(paths, proc);
  await ctx.record([{ kind: "process", ...proc }]);
  return await spawnDetached(ctx.shell, argv, {
    logFile: logFile(paths, name),
    pidFile: proc.pidFile,
    exitFile: exitFile(paths, name),
  });
}

/** The last `lines` lines of a component's log ("" when there is none). */
export async function logTail(paths: ClusterPaths, name: Component, lines = 12): Promise<string> {
  const text = await Deno.readTextFile(logFile(paths, name)).catch(() => "");
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}
