/**
 * The {@link MigrationDriver} for a plain process, moved with CRIU from one network namespace to
 * another whose address differs.
 *
 * Everything stays on disk under the checkpoint directory, for inspection and for the rollback:
 *
 * ```
 * <dir>/pre-<n>/   pre-dump rounds (memory copied while the process ran)
 * <dir>/images/    the dump as CRIU wrote it; the rollback restores from here, untouched
 * <dir>/target/    the transferred copy whose socket addresses are rewritten and restored
 * ```
 *
 * @module
 */
import {
  criuDump,
  criuPreDump,
  criuRestore,
  releaseSourceLock,
  restoreOnSource,
  type RestoreResult,
} from "../criu/checkpoint.ts";
import type { DumpArgs, NetworkLockMethod, PreDumpArgs } from "../criu/commands.ts";
import { readDumpInfo } from "../criu/dump_info.ts";
import { readDumpStats } from "../criu/stats.ts";
import { rewriteDumpAddresses } from "../criu/rewrite.ts";
import { tcpStateName } from "../criu/sockets.ts";
import { defaultShell, inNetns, processTreeOf, type Shell, signalProcess } from "../shell.ts";
import { lockPorts, portLockArgv } from "../criu/port_lock.ts";
import { ensureKerndatCache } from "../criu/kerndat_cache.ts";
import { icmpUnlimitedArgv } from "../net/icmp_unlimited.ts";
import { tcpSocketsOf } from "../net/proc_tcp.ts";
import { removeCriuLocks } from "./recovery_probes.ts";
import type { MigrationDriver } from "./run.ts";

export interface ProcessDriverOptions {
  shell?: Shell;
  /** criu binary (default: $CRIU or criu on PATH). */
  criu?: string;
  /** Namespace the process runs in now. */
  sourceNetns: string;
  /** Namespace to move it to; must own `toIp`. */
  targetNetns: string;
  /** Root pid of the process (tree) to migrate. */
  pid: number;
  /** The process's address in the source namespace... */
  fromIp: string;
  /** ...and its address in the target namespace. */
  toIp: string;
  /** Where the checkpoint is kept (see the module doc); created if missing. */
  checkpointDir: string;
  /**
   * How the connections are kept quiet from the dump until the switch moves: `ports` (default)
   * is our own lock of the process's TCP ports (lib/criu/port_lock.ts, CRIU runs with
   * `--network-lock skip`), which holds for any number of connections; `nftables` and
   * `iptables` are CRIU's own (its nftables lock aborts past ~1,000 connections).
   * `ports-silent` drops the clients' segments instead of refusing them (for comparisons: their
   * retransmissions then back off while the process is frozen).
   */
  networkLock?: ProcessNetworkLock;
  /** Kill any single CRIU run after this long (default 60 s). */
  timeoutMs?: number;
  /**
   * Restore the process stopped and let it run only after the switch points at the target
   * (default false). Otherwise the restored server answers a request queued at dump time before
   * the switch moves, and the client's next request still goes to the source, where the lock
   * drops it: one retransmission timeout (>= 200 ms) of extra downtime. `runMigration`
   * calls {@link ProcessDriver.cleanupSource} right after a successful switch update, which
   * resumes the process; when the switch update fails, call {@link ProcessDriver.resume}.
   */
  resumeAfterSwitch?: boolean;
  /**
   * SIGSTOP the process before the connections are locked (default false). A request arriving
   * after the lock is dropped and costs its client a retransmission timeout (>= 200 ms), whereas
   * one arriving while the process is merely stopped is queued in the socket, dumped with it and
   * answered right after the restore. The lock follows the stop by {@link stopSettleMs}. CRIU
   * dumps and restores the process in its stopped state: the restore on the target must then be
   * resumed (with `resumeAfterSwitch`, or right away), and a failed dump or a rollback are
   * continued here.
   */
  stopBeforeDump?: boolean;
  /**
   * With `stopBeforeDump`, how long the stopped process stays unlocked, ms (default
   * {@link STOP_SETTLE_MS}): the request a stop-and-wait client sends after the last answer
   * arrives meanwhile and is queued. CRIU used to take ~35 ms to start and lock, which gave that
   * time for free; with its kernel cache (lib/criu/kerndat_cache.ts) it locks within a few ms.
   */
  stopSettleMs?: number;
}

/**
 * Default {@link ProcessDriverOptions.stopSettleMs}: the labs' client interval (10 ms) plus a
 * round trip through BMv2.
 */
export const STOP_SETTLE_MS = 12;

/** How a process dump's connections are locked (see {@link ProcessDriverOptions.networkLock}). */
export type ProcessNetworkLock = "ports" | "ports-silent" | Exclude<NetworkLockMethod, "skip">;

/** Whether the lock is ours (port_lock.ts) rather than CRIU's. */
function ownLock(lock: ProcessNetworkLock | undefined): boolean {
  return lock === undefined || lock === "ports" || lock === "ports-silent";
}

/** Where a restore runs and from which directory. */
export interface RestoreStep {
  netns: string;
  imagesDir: string;
  logFile: string;
  pidFile: string;
}

/** The directories and CRIU arguments of one process migration (pure data). */
export interface ProcessMigrationPlan {
  imagesDir: string;
  targetDir: string;
  /** Arguments of pre-dump round `round` (0-based). */
  preDump(round: number): Omit<PreDumpArgs, "criu">;
  /** Arguments of the final dump after `preDumpRounds` rounds. */
  dump(preDumpRounds: number): Omit<DumpArgs, "criu">;
  restoreTarget: RestoreStep;
  restoreSource: RestoreStep;
}

/** Plans the directories and CRIU arguments for {@link ProcessDriver}. */
export function planProcessMigration(o: ProcessDriverOptions): ProcessMigrationPlan {
  const dir = o.checkpointDir.replace(/\/+$/, "");
  const imagesDir = `${dir}/images`;
  const targetDir = `${dir}/target`;
  // Relative, so the `parent` link CRIU leaves in images/ resolves from target/ as well.
  const previous = (round: number) => round > 0 ? `../pre-${round - 1}` : undefined;
  return {
    imagesDir,
    targetDir,
    preDump: (round) => ({
      netns: o.sourceNetns,
      pid: o.pid,
      imagesDir: `${dir}/pre-${round}`,
      prevImagesDir: previous(round),
    }),
    dump: (rounds) => ({
      netns: o.sourceNetns,
      pid: o.pid,
      imagesDir,
      tcpEstablished: true,
      networkLock: ownLock(o.networkLock) ? "skip" : o.networkLock as NetworkLockMethod,
      trackMem: rounds > 0 ? true : undefined,
      prevImagesDir: previous(rounds),
    }),
    restoreTarget: {
      netns: o.targetNetns,
      imagesDir: targetDir,
      logFile: "restore.log",
      pidFile: `${targetDir}/restored.pid`,
    },
    restoreSource: {
      netns: o.sourceNetns,
      imagesDir,
      logFile: "restore-source.log",
      pidFile: `${imagesDir}/restored.pid`,
    },
  };
}

/** Where the migrated process runs now. */
export type ProcessLocation = "source" | "target";

/**
 * Migrates one CRIU process. After {@link restore} (or the rollback) {@link pid} and
 * {@link location} say where the process runs; record them in the lab state.
 */
export class ProcessDriver implements MigrationDriver {
  readonly plan: ProcessMigrationPlan;
  /** Where the process runs now. */
  location: ProcessLocation = "source";
  /** The last restore (target or rollback), with CRIU's pid that stays its parent. */
  restored?: RestoreResult;
  /** Pids restored stopped (see `resumeAfterSwitch`) and not resumed yet. */
  private stoppedPids: number[] = [];
  private preDumpRounds = 0;
  private currentPid: number;
  /** The process tree and its ICMP setting, prepared before the freeze (see prepare()). */
  private prepared?: { pids: number[]; icmpUnlimited: boolean };

  constructor(readonly options: ProcessDriverOptions) {
    this.plan = planProcessMigration(options);
    this.currentPid = options.pid;
  }

  /** The process's pid now (CRIU restores the dumped pid, but read it from here). */
  get pid(): number {
    return this.currentPid;
  }

  private get run() {
    return {
      shell: this.options.shell,
      criu: this.options.criu,
      timeoutMs: this.options.timeoutMs,
    };
  }

  /**
   * Everything the frozen window needs that can be done while the process runs: CRIU's kernel
   * cache (lib/criu/kerndat_cache.ts: without it each CRIU run probes the kernel for 30-300 ms),
   * the process tree (a scan of every process) and, for our port lock, the source namespace's
   * ICMP limits. The dump then only runs `nft` and CRIU.
   */
  async prepare(): Promise<string> {
    const shell = this.options.shell ?? defaultShell;
    const kerndat = await ensureKerndatCache({ shell, criu: this.options.criu }).catch((err) =>
      `no kernel cache: ${err instanceof Error ? err.message : err}`
    );
    const pids = processTreeOf([this.currentPid]);
    const refuse = ownLock(this.options.networkLock) &&
      this.options.networkLock !== "ports-silent";
    if (refuse) await shell.run(inNetns(this.options.sourceNetns, icmpUnlimitedArgv()));
    this.prepared = { pids, icmpUnlimited: refuse };
    return `CRIU kernel cache ${kerndat}, ${pids.length} process(es)`;
  }

  async preDump(round: number): Promise<string> {
    const args = this.plan.preDump(round);
    await Deno.mkdir(args.imagesDir, { recursive: true });
    const { elapsedMs } = await criuPreDump({ ...args, ...this.run });
    this.preDumpRounds = round + 1;
    const stats = await readDumpStats(args.imagesDir).catch(() => undefined);
    const pages = stats ? `, ${stats.pagesWritten} pages copied` : "";
    return `round ${round + 1} in ${elapsedMs.toFixed(0)} ms${pages}`;
  }

  async dump(): Promise<string> {
    await Deno.remove(this.plan.imagesDir, { recursive: true }).catch(() => {});
    const stopped = this.options.stopBeforeDump === true &&
      signalProcess(this.currentPid, "SIGSTOP");
    const settle = this.options.stopSettleMs ?? STOP_SETTLE_MS;
    if (stopped && settle > 0) await new Promise((r) => setTimeout(r, settle));
    const shell = this.options.shell ?? defaultShell;
    const netns = this.options.sourceNetns;
    try {
      if (ownLock(this.options.networkLock)) await this.lockPorts(shell);
      await criuDump({ ...this.plan.dump(this.preDumpRounds), ...this.run });
    } catch (err) {
      // A CRIU that aborted leaves its lock table behind; ours goes too. The source must serve,
      // and CRIU leaves a failed dump's process as it found it: stopped.
      await removeCriuLocks(shell, netns).catch(() => []);
      if (stopped) signalProcess(this.currentPid, "SIGCONT");
      throw err;
    }
    // The process is gone now: a failure here must not read as a failed dump (whose contract is
    // that the source still serves), so the note is best effort.
    const info = await readDumpInfo(this.plan.imagesDir).catch(() => undefined);
    if (!info) return `pid ${this.options.pid}`;
    const established = info.sockets.filter((s) => tcpStateName(s.state) === "ESTABLISHED").length;
    const note = `pid ${info.rootPid}, ${established} connection${established === 1 ? "" : "s"}`;
    const stats = await readDumpStats(this.plan.imagesDir).catch(() => undefined);
    return stats
      ? `${note}, ${stats.pagesWritten} pages written, frozen ${
        stats.frozenMs.toFixed(0)
      } ms by CRIU`
      : note;
  }

  /**
   * Locks the TCP ports of the process tree's sockets (none: nothing to lock). With the tree
   * and the ICMP setting prepared, only the sockets are read now (the tree is stopped), and the
   * lock is one `nft` run.
   */
  private async lockPorts(shell: Shell): Promise<void> {
    const prepared = this.prepared;
    const sockets = await tcpSocketsOf(prepared?.pids ?? processTreeOf([this.currentPid]));
    const ports = sockets.map((s) => s.localPort);
    const refuse = this.options.networkLock !== "ports-silent";
    if (!ports.length) return;
    if (prepared?.icmpUnlimited === refuse) {
      await shell.run(portLockArgv(this.options.sourceNetns, ports, { refuse }));
    } else {
      await lockPorts(shell, this.options.sourceNetns, ports, { refuse });
    }
  }

  /**
   * Copies the dump to the target directory. Image files are hard links (CRIU only reads them);
   * files.img, the one the rewrite replaces, is a real copy so the original can never change.
   */
  async transfer(): Promise<string> {
    const { imagesDir, targetDir } = this.plan;
    await Deno.remove(targetDir, { recursive: true }).catch(() => {});
    await Deno.mkdir(targetDir, { recursive: true });
    // All at once: this runs while the process is frozen, and each file is one small call.
    const entries = await Array.fromAsync(Deno.readDir(imagesDir));
    await Promise.all(entries.map(async (entry) => {
      const from = `${imagesDir}/${entry.name}`;
      const to = `${targetDir}/${entry.name}`;
      if (entry.isSymlink) await Deno.symlink(await Deno.readLink(from), to);
      else if (entry.name === "files.img") await Deno.copyFile(from, to);
      else await Deno.link(from, to).catch(() => Deno.copyFile(from, to));
    }));
    return `${entries.length} files`;
  }

  async rewrite(): Promise<string> {
    const { changed } = await rewriteDumpAddresses(this.plan.targetDir, {
      from: this.options.fromIp,
      to: this.options.toIp,
    });
    return `${changed.length} socket${changed.length === 1 ? "" : "s"}`;
  }

  async restore(): Promise<string> {
    const leaveStopped = this.options.resumeAfterSwitch ?? false;
    // Read before restoring: nothing may fail between a restore and knowing what to resume.
    const pids = leaveStopped ? (await readDumpInfo(this.plan.targetDir)).pids : [];
    const result = await criuRestore({ ...this.plan.restoreTarget, ...this.run, leaveStopped });
    this.record(result, "target");
    this.stoppedPids = pids;
    // Dumped stopped, restored stopped: with nobody waiting for the switch, continue at once.
    if (!leaveStopped && this.options.stopBeforeDump) signalProcess(result.pid, "SIGCONT");
    return leaveStopped
      ? `${restoreNote(result)}, stopped until the switch is updated`
      : restoreNote(result);
  }

  /**
   * Lets a process restored stopped (`resumeAfterSwitch`) run. Idempotent; returns whether it
   * was stopped.
   */
  resume(): boolean {
    const pids = this.stoppedPids;
    this.stoppedPids = [];
    // A process of the tree may have exited meanwhile: nothing to resume there.
    for (const pid of pids) signalProcess(pid, "SIGCONT");
    return pids.length > 0;
  }

  /**
   * Takes over a process that an interrupted run of this migration restored (a recovery, see
   * lib/migrate/recovery.ts). On the target its tree, read from the dump, waits stopped for
   * {@link resume}; on the source it is let run at once.
   */
  async adoptRestored(location: ProcessLocation, pid: number): Promise<string> {
    this.currentPid = pid;
    this.location = location;
    const dir = location === "target" ? this.plan.targetDir : this.plan.imagesDir;
    const info = await readDumpInfo(dir).catch(() => undefined);
    const pids = info?.pids.length ? info.pids : [pid];
    if (location === "target" && this.options.resumeAfterSwitch) {
      this.stoppedPids = pids;
      return `pid ${pid} on the target, resumed once the switch points at it`;
    }
    const resumed = pids.filter((p) => signalProcess(p, "SIGCONT"));
    return `pid ${pid} on the ${location}, ${resumed.length} process(es) continued`;
  }

  async restoreOnSource(): Promise<string> {
    const result = await restoreOnSource({ ...this.plan.restoreSource, ...this.run });
    this.record(result, "source");
    if (this.options.stopBeforeDump) signalProcess(result.pid, "SIGCONT");
    return restoreNote(result);
  }

  /** Resumes a process restored stopped, then removes CRIU's lock from the source. */
  async cleanupSource(): Promise<string> {
    const resumed = this.resume();
    const removed = await releaseSourceLock({
      shell: this.options.shell,
      netns: this.options.sourceNetns,
      imagesDir: this.plan.imagesDir,
    });
    const note = removed.length ? `removed ${removed.join(", ")}` : "no lock left";
    return resumed ? `resumed pid ${this.pid}; ${note}` : note;
  }

  private record(result: RestoreResult, location: ProcessLocation): void {
    this.restored = result;
    this.currentPid = result.pid;
    this.location = location;
  }
}

function restoreNote(r: RestoreResult): string {
  return r.pidWasBusy
    ? `pid ${r.pid}, waited ${r.pidWaitMs.toFixed(0)} ms for the pid`
    : `pid ${r.pid}`;
}
