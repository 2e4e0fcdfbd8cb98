/**
 * Podman commands of a lab that outlive the command that started them.
 *
 * When `migrate` is killed, the Podman command it was waiting for (`container checkpoint`,
 * `rm`, `container restore --import ... --pod`) runs on as an orphan. Podman 4.3 takes a pod's
 * lock and a container's lock in opposite orders in `container restore --pod` (container, then
 * pod) and in `pod ls` (pod, then its containers): a `lab down` that lists the lab's pods while
 * such a restore runs hangs both for ever, and with them every later Podman command that needs
 * either lock. So `lab down` first lets these commands finish, and kills them if they do not.
 *
 * @module
 */
import { type Progress, silentProgress } from "../progress.ts";
import { defaultShell, type Shell } from "../shell.ts";
import { killPids } from "../topology/teardown.ts";

/** A process as its command line shows it. */
export interface ProcessArgv {
  pid: number;
  argv: string[];
}

/**
 * The Podman commands among `procs` that work on the lab: an argument names a file under its run
 * directory (the checkpoint archives) or one of its objects (`<id>-server`, `<id>-h3`).
 */
export function labPodmanCommands(
  procs: readonly ProcessArgv[],
  runDir: string,
  labId?: string,
): number[] {
  const dir = runDir.replace(/\/+$/, "") + "/";
  return procs.filter(({ argv }) =>
    argv.length > 1 && /(^|\/)podman$/.test(argv[0]) &&
    argv.slice(1).some((a) => a.includes(dir) || (labId !== undefined && a.startsWith(`${labId}-`)))
  ).map((p) => p.pid);
}

/** Every process's argv from /proc (processes that exit meanwhile are skipped). */
export function processArgvs(): ProcessArgv[] {
  const procs: ProcessArgv[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name) || Number(entry.name) === Deno.pid) continue;
    try {
      const argv = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      if (argv.at(-1) === "") argv.pop();
      if (argv.length) procs.push({ pid: Number(entry.name), argv });
    } catch {
      // Exited meanwhile.
    }
  }
  return procs;
}

export interface SettleOptions {
  shell?: Shell;
  progress?: Progress;
  /** How long to let them finish before killing them (default 20 s; they take ~1 s). */
  timeoutMs?: number;
  /** Lists the processes (default: /proc). */
  list?: () => ProcessArgv[];
}

/**
 * Waits until no Podman command of the lab runs (see the module doc); kills those still running
 * after `timeoutMs`. Podman's locks survive a killed holder (they are robust mutexes). Returns
 * the pids it waited for.
 */
export async function settleLabPodmanCommands(
  runDir: string,
  labId: string | undefined,
  options: SettleOptions = {},
): Promise<number[]> {
  const list = options.list ?? processArgvs;
  const pending = () => labPodmanCommands(list(), runDir, labId);
  const first = pending();
  if (!first.length) return [];
  const progress = options.progress ?? silentProgress;
  const done = progress.step(
    `wait for ${first.length} Podman command(s) an interrupted migration left running`,
  );
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let left = first;
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    left = pending();
  }
  if (left.length) {
    progress.warn(`killing Podman command(s) that did not finish: pid ${left.join(", ")}`);
    await killPids(options.shell ?? defaultShell, left);
  }
  done(left.length ? `${left.length} killed` : "finished");
  return first;
}
