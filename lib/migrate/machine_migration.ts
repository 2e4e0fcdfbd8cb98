/**
 * Which transfer a lab migration uses, decided before anything is stopped: the same machine
 * (the process or container driver, as always), or between machines (lib/migrate/machine_driver.ts)
 * by stop-and-copy or post-copy (`--lazy`). What a mode cannot do here is refused with the reason.
 *
 * @module
 */
import { criuBinary } from "../capabilities.ts";
import { UserError } from "../errors.ts";
import type { Host, Lab, Machine } from "../lab/types.ts";
import { crossesMachines, machineMigrationDir } from "../machines/plan.ts";
import type { Shell } from "../shell.ts";
import type { WorkloadPlacement } from "../workloads/start.ts";
import type { TransferMode } from "./machine_driver.ts";

/** A migration between two machines. */
export interface MachineCrossing {
  mode: TransferMode;
  source: Machine;
  target: Machine;
}

/** Whether this kernel and CRIU can restore with lazy pages (userfaultfd, as root). */
export async function criuCanLazyRestore(shell: Shell, criu = criuBinary()): Promise<boolean> {
  if (!criu) return false;
  for (const feature of ["uffd", "uffd-noncoop"]) {
    const r = await shell.run([criu, "check", "--feature", feature], {
      check: false,
      timeoutMs: 10_000,
    });
    if (r.code !== 0) return false;
  }
  return true;
}

/**
 * The machines' transfer a migration from `from` to `to` takes (every process migration of a
 * lab with machines), or undefined for the other drivers (then `--lazy` is refused).
 *
 * @throws {UserError} when the requested mode cannot apply, with the reason and what to do.
 */
export async function checkTransferMode(
  shell: Shell,
  lab: Lab,
  from: Host,
  to: Host,
  kind: WorkloadPlacement["kind"],
  options: { lazy?: boolean; preDumpRounds?: number },
): Promise<MachineCrossing | undefined> {
  const cross = crossesMachines(lab, from, to);
  const withMachines = (lab.machines?.length ?? 0) > 0;
  if (cross && kind !== "process") {
    throw new UserError(
      `A container cannot move from ${from.machine} to ${to.machine}: Podman's storage is this ` +
        "machine's alone, and Podman 4.3 restores no container with lazy pages",
      { hint: "migrate a process workload between machines, or the container between pods" },
    );
  }
  if (!withMachines || kind !== "process") {
    if (options.lazy) {
      throw new UserError(
        `--lazy (post-copy) is for process workloads of a lab with machines; ${from.name} -> ` +
          `${to.name} ${withMachines ? "moves a container" : "stays on this machine"}`,
        {
          hint:
            "migrate without --lazy, or use a lab with machines: (e.g. lab/process-machines.yaml)",
        },
      );
    }
    return undefined;
  }
  // A lab with machines runs its servers in their own pid namespaces (lib/machines/): every
  // move of theirs, even within one machine, goes through the machines' transfer.
  const source = lab.machines!.find((m) => m.name === from.machine)!;
  const target = lab.machines!.find((m) => m.name === to.machine)!;
  if (options.lazy && options.preDumpRounds) {
    throw new UserError("--lazy and --pre-dump are two ways of moving memory: pick one", {
      hint: "post-copy (--lazy) needs no pre-dump rounds",
    });
  }
  if (options.preDumpRounds) {
    throw new UserError(
      `--pre-dump in a lab with machines (${source.name} -> ${target.name}) is not supported: ` +
        "the rounds would have to stream through the page server too",
      { hint: "use --lazy (post-copy) or the default stop-and-copy between machines" },
    );
  }
  if (options.lazy && !await criuCanLazyRestore(shell)) {
    throw new UserError(
      "--lazy needs userfaultfd, which this kernel or CRIU lacks " +
        "(criu check --feature uffd / uffd-noncoop fails)",
      {
        hint: "migrate without --lazy (stop-and-copy), or run as root on a kernel with userfaultfd",
      },
    );
  }
  return { mode: options.lazy ? "lazy" : "stop-and-copy", source, target };
}

/** This migration's directory on each machine, named like its checkpoint directory. */
export function machineMigrationDirs(
  runDir: string,
  crossing: MachineCrossing,
  checkpointDir: string,
): { source: string; target: string } {
  const id = checkpointDir.slice(checkpointDir.lastIndexOf("/") + 1);
  // Distinct even when both ends are one machine (two hosts of it).
  return {
    source: `${machineMigrationDir(runDir, crossing.source.name, id)}/source`,
    target: `${machineMigrationDir(runDir, crossing.target.name, id)}/target`,
  };
}
