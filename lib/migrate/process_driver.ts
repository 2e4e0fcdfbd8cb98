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
 * <dir>/*.gate     the gates holding CRIU started ahead (lib/criu/run_gate.ts, see prepare())
 * ```
 *
 * @module
 */
import {
  criuDump,
  criuPreDump,
  criuRestore,
  type HeldCriuDump,
  type HeldRestore,
  holdCriuDump,
  holdCriuRestore,
  releaseSourceLock,
  restoreOnSource,
  type RestoreResult,
} from "../criu/checkpoint.ts";
import type { DumpArgs, NetworkLockMethod, PreDumpArgs } from "../criu/commands.ts";
import { type DumpInfo, readDumpInfo } from "../criu/dump_info.ts";
import { readDumpStats } from "../criu/stats.ts";
import { rewriteDumpAddresses } from "../criu/rewrite.ts";
import { tcpStateName } from "../criu/sockets.ts";
import {
  defaultShell,
  inNetns,
  netnsPath,
  processStat,
  processTreeOf,
  type RunResult,
  type Shell,
  signalProcess,
} from "../shell.ts";
import {
  lockPorts,
  nftStdinArgv,
  portLockArgv,
  portLockScript,
  unlockPorts,
} from "../criu/port_lock.ts";
import { GATE_WAIT_S } from "../criu/run_gate.ts";
import { CommandError } from "../errors.ts";
import { ensureKerndatCache } from "../criu/kerndat_cache.ts";
import { icmpUnlimitedArgv } from "../net/icmp_unlimited.ts";
import { type TcpSocket, tcpSocketsOf } from "../net/proc_tcp.ts";
import { SegmentTap } from "../net/segment_tap.ts";
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
  /**
   * With our own lock, hand the segments the lock refused to the restored process right after
   * the switch update (default true; lib/net/segment_tap.ts): the clients then get their answers
   * at once instead of after a retransmission timeout (>= 200 ms). `false` for comparisons.
   */
  replaySegments?: boolean;
}

/**
 * Default {@link ProcessDriverOptions.stopSettleMs}: the labs' client interval (10 ms) plus a
 * round trip through BMv2.
 */
export const STOP_SETTLE_MS = 12;

/** How a process dump's connections are locked (see {@link ProcessDriverOptions.networkLock}). */
export type ProcessNetworkLock = "ports" | "ports-silent" | Exclude<NetworkLockMethod, "skip">;

/** An `nft` started ahead that applies the script it is given (see ProcessDriver.holdLock). */
interface HeldLock {
  argv: string[];
  give(script: string): void;
  running: Promise<RunResult>;
  /** Gives it an empty script (nft applies nothing and exits) and waits for it. */
  cancel(): Promise<void>;
}

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
  /** The gates holding the final dump and the target's restore (see ProcessDriver.prepare). */
  gates: { dump: string; dumpScript: string; restore: string };
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
    gates: {
      dump: `${dir}/dump.gate`,
      dumpScript: `${dir}/dump-gate.sh`,
      restore: `${dir}/restore.gate`,
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
  /** The tap holding the segments the lock refuses (see `replaySegments`). */
  private tap?: SegmentTap;
  /**
   * CRIU runs started by prepare() and held at their start (see holdCriuRuns()), and the `nft`
   * that will apply our port lock, waiting for its script (see holdLock()).
   */
  private held: { dump?: HeldCriuDump; restore?: HeldRestore; lock?: HeldLock } = {};
  /** The target directory holds the held restore's files: transfer() fills it as it is. */
  private targetReady = false;
  /** What the last dump() read of its images (processes, sockets). */
  private dumped?: DumpInfo;

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
   * ICMP limits; and the starts of the final `criu dump`, of the target's `criu restore` and of
   * the `nft` applying our lock, each held until it is needed (see holdCriuRuns(), holdLock()).
   * The frozen window then pays only for what they do, not for starting them.
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
    const tap = await this.startTap(shell, pids);
    const held = await this.holdCriuRuns().catch((err) =>
      `, CRIU not started ahead: ${err instanceof Error ? err.message : err}`
    );
    // Without it, the lock is applied by an `nft` started then, as before.
    if (ownLock(this.options.networkLock)) await this.holdLock(shell).catch(() => {});
    return `CRIU kernel cache ${kerndat}, ${pids.length} process(es)${tap}${held}`;
  }

  /**
   * Starts the final dump and the target's restore now and holds both at their start
   * (lib/criu/run_gate.ts): the exec of nsenter, setsid and criu, CRIU's libraries, kernel cache
   * and set-up (10-30 ms each on a loaded machine, more than CRIU's own work for a small
   * process) are then paid while the process still runs. Without prepare() (or when this
   * fails), dump() and restore() start CRIU themselves, as before. Returns a note.
   */
  private async holdCriuRuns(): Promise<string> {
    await this.cancelHeld();
    const { imagesDir, targetDir, gates } = this.plan;
    for (const d of [imagesDir, targetDir]) {
      await Deno.remove(d, { recursive: true }).catch(() => {});
    }
    await Deno.mkdir(targetDir, { recursive: true });
    try {
      this.held.restore = await holdCriuRestore({
        ...this.plan.restoreTarget,
        ...this.run,
        leaveStopped: this.options.resumeAfterSwitch ?? false,
        gateFile: gates.restore,
      });
      this.targetReady = true;
      this.held.dump = await holdCriuDump({
        ...this.plan.dump(this.preDumpRounds),
        ...this.run,
        gateFile: gates.dump,
        scriptFile: gates.dumpScript,
      });
    } catch (err) {
      await this.cancelHeld();
      throw err;
    }
    return ", criu dump and restore started and held";
  }

  /**
   * For our port lock: removes a stale lock table now, so that the lock need not replace one
   * (`fresh`, see lib/criu/port_lock.ts), and starts the `nft` that applies it, waiting for its
   * script on stdin: the lock then costs `nft`'s parse and commit, not its start.
   */
  private async holdLock(shell: Shell): Promise<void> {
    await this.cancelHeld(["lock"]);
    await unlockPorts(shell, this.options.sourceNetns);
    let give!: (script: string) => void;
    const script = new Promise<string>((resolve) => give = resolve);
    const argv = nftStdinArgv(this.options.sourceNetns);
    const running = shell.run(argv, { stdin: script, check: false, timeoutMs: GATE_WAIT_S * 1000 });
    const cancel = async () => {
      give("");
      await running.catch(() => {});
    };
    this.held.lock = { argv, give, running, cancel };
  }

  /** Ends held runs that will not be used (they never touched anything). */
  private async cancelHeld(
    which: readonly ("dump" | "restore" | "lock")[] = ["dump", "restore", "lock"],
  ) {
    for (const key of which) {
      const held = this.held[key];
      this.held[key] = undefined;
      await held?.cancel().catch(() => {});
    }
    if (which.includes("restore")) this.targetReady = false;
  }

  /** Starts the segment tap on the tree's ports (see `replaySegments`); returns a note. */
  private async startTap(shell: Shell, pids: number[]): Promise<string> {
    if (!ownLock(this.options.networkLock) || this.options.replaySegments === false) return "";
    const ports = (await tcpSocketsOf(pids)).map((s) => s.localPort);
    if (!ports.length) return "";
    this.tap?.close();
    this.tap = await SegmentTap.start({
      shell,
      netnsPath: netnsPath(this.options.sourceNetns),
      ports,
      dir: this.options.checkpointDir,
    });
    return ", segment tap ready";
  }

  /** Ends the tap without replaying (a failed dump, a rollback). */
  private dropTap(): void {
    this.tap?.close();
    this.tap = undefined;
  }

  async preDump(round: number): Promise<string> {
    // The held dump's arguments predate this round (they name no parent images).
    await this.cancelHeld(["dump"]);
    const args = this.plan.preDump(round);
    await Deno.mkdir(args.imagesDir, { recursive: true });
    const { elapsedMs } = await criuPreDump({ ...args, ...this.run });
    this.preDumpRounds = round + 1;
    const stats = await readDumpStats(args.imagesDir).catch(() => undefined);
    const pages = stats ? `, ${stats.pagesWritten} pages copied` : "";
    return `round ${round + 1} in ${elapsedMs.toFixed(0)} ms${pages}`;
  }

  async dump(): Promise<string> {
    this.dumped = undefined;
    const held = this.held.dump;
    this.held.dump = undefined;
    // A held CRIU works in the images directory already (emptied when it was started).
    if (!held) await Deno.remove(this.plan.imagesDir, { recursive: true }).catch(() => {});
    const stopped = this.options.stopBeforeDump === true &&
      signalProcess(this.currentPid, "SIGSTOP");
    // The tap keeps segments from the stop on, not only from the lock: its start is a signal the
    // helper handles when it next runs, and the lock (an `nft` started ahead) now follows within a
    // few ms. What it also keeps from the settling the restored socket drops as duplicates.
    if (stopped) this.tap?.record();
    const settle = this.options.stopSettleMs ?? STOP_SETTLE_MS;
    const shell = this.options.shell ?? defaultShell;
    const netns = this.options.sourceNetns;
    // The sockets are read while the stopped process settles; the lock follows the settling.
    const sockets = ownLock(this.options.networkLock)
      ? this.readSockets(stopped).catch((err: unknown) => err as Error)
      : undefined;
    if (stopped && settle > 0) await new Promise((r) => setTimeout(r, settle));
    try {
      if (sockets) {
        const found = await sockets;
        if (found instanceof Error) throw found;
        await this.lockPorts(shell, found);
      }
      if (held) await held.run();
      else await criuDump({ ...this.plan.dump(this.preDumpRounds), ...this.run });
    } catch (err) {
      // A held CRIU not let go yet ends without touching the process; no restore will follow.
      await held?.cancel();
      await this.cancelHeld(["restore", "lock"]);
      // A CRIU that aborted leaves its lock table behind; ours goes too. The source must serve,
      // and CRIU leaves a failed dump's process as it found it: stopped.
      await removeCriuLocks(shell, netns).catch(() => []);
      if (stopped) signalProcess(this.currentPid, "SIGCONT");
      this.dropTap();
      throw err;
    }
    // The process is gone now: a failure here must not read as a failed dump (whose contract is
    // that the source still serves), so the note is best effort.
    const [info, stats] = await Promise.all([
      readDumpInfo(this.plan.imagesDir).catch(() => undefined),
      readDumpStats(this.plan.imagesDir).catch(() => undefined),
    ]);
    this.dumped = info;
    if (!info) return `pid ${this.options.pid}`;
    const established = info.sockets.filter((s) => tcpStateName(s.state) === "ESTABLISHED").length;
    const note = `pid ${info.rootPid}, ${established} connection${established === 1 ? "" : "s"}`;
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
  private async lockPorts(shell: Shell, sockets: TcpSocket[]): Promise<void> {
    const prepared = this.prepared;
    const ports = sockets.map((s) => s.localPort);
    const refuse = this.options.networkLock !== "ports-silent";
    const held = this.held.lock;
    this.held.lock = undefined;
    if (!ports.length) {
      held?.give("");
      return;
    }
    this.tap?.record();
    if (held && prepared?.icmpUnlimited === refuse) {
      held.give(portLockScript(ports, { refuse, fresh: true }));
      const r = await held.running;
      if (r.code !== 0) throw new CommandError(held.argv, r.code, r.stdout, r.stderr);
      return;
    }
    held?.give("");
    if (prepared?.icmpUnlimited === refuse) {
      await shell.run(portLockArgv(this.options.sourceNetns, ports, { refuse }));
    } else {
      await lockPorts(shell, this.options.sourceNetns, ports, { refuse });
    }
  }

  /**
   * The TCP sockets of the process tree (prepared, or scanned now). With `stopped`, first waits
   * (briefly) until the SIGSTOP took hold, so that no socket appears after the reading.
   */
  private async readSockets(stopped: boolean): Promise<TcpSocket[]> {
    const state = () => processStat(this.currentPid)?.state;
    for (let i = 0; stopped && i < 50 && !["T", "t", undefined].includes(state()); i++) {
      await new Promise((r) => setTimeout(r, 0));
    }
    return await tcpSocketsOf(this.prepared?.pids ?? processTreeOf([this.currentPid]));
  }

  /**
   * Copies the dump to the target directory. Image files are hard links (CRIU only reads them);
   * files.img, the one the rewrite replaces, is a real copy so the original can never change.
   */
  async transfer(): Promise<string> {
    const { imagesDir, targetDir } = this.plan;
    // Emptied by prepare() for the held restore, whose launch has its files in it.
    if (!this.targetReady) {
      await Deno.remove(targetDir, { recursive: true }).catch(() => {});
      await Deno.mkdir(targetDir, { recursive: true });
    }
    this.targetReady = false;
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
    // Read before restoring: nothing may fail between a restore and knowing what to resume. The
    // target's copy names the same processes as the dump just read.
    const info = leaveStopped || this.held.restore
      ? this.dumped ?? await readDumpInfo(this.plan.targetDir)
      : undefined;
    const pids = leaveStopped ? info!.pids : [];
    const held = this.held.restore;
    this.held.restore = undefined;
    const result = held
      ? await held.run(info)
      : await criuRestore({ ...this.plan.restoreTarget, ...this.run, leaveStopped });
    this.record(result, "target");
    this.stoppedPids = pids;
    // Dumped stopped, restored stopped: with nobody waiting for the switch, continue at once.
    if (!leaveStopped && this.options.stopBeforeDump) signalProcess(result.pid, "SIGCONT");
    return leaveStopped
      ? `${restoreNote(result)}, stopped until the switch is updated`
      : restoreNote(result);
  }

  /**
   * Lets a process restored stopped (`resumeAfterSwitch`) run, then hands it the segments the
   * lock refused (`replaySegments`). Idempotent; returns whether it was stopped.
   */
  async resume(): Promise<boolean> {
    const pids = this.stoppedPids;
    this.stoppedPids = [];
    // A process of the tree may have exited meanwhile: nothing to resume there.
    for (const pid of pids) signalProcess(pid, "SIGCONT");
    if (this.location === "target") await this.tap?.replay(this.replayTarget);
    return pids.length > 0;
  }

  private get replayTarget() {
    return {
      netnsPath: netnsPath(this.options.targetNetns),
      from: this.options.fromIp,
      to: this.options.toIp,
    };
  }

  /** The late segments (still queued in the switch at its update), then the tap ends; a note. */
  private async lastHandOver(): Promise<string | undefined> {
    const tap = this.tap;
    this.tap = undefined;
    return await tap?.finish(this.replayTarget);
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
    this.dropTap();
    await this.cancelHeld();
    const result = await restoreOnSource({ ...this.plan.restoreSource, ...this.run });
    this.record(result, "source");
    if (this.options.stopBeforeDump) signalProcess(result.pid, "SIGCONT");
    return restoreNote(result);
  }

  /** Resumes a process restored stopped, then removes CRIU's lock from the source. */
  async cleanupSource(): Promise<string> {
    const resumed = await this.resume();
    // Before the lock goes: what reaches the source after it would be reset by its kernel.
    const replayed = await this.lastHandOver();
    const removed = await releaseSourceLock({
      shell: this.options.shell,
      netns: this.options.sourceNetns,
      imagesDir: this.plan.imagesDir,
    });
    const lock = removed.length ? `removed ${removed.join(", ")}` : "no lock left";
    const note = replayed === undefined ? lock : `${lock}; ${replayed}`;
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
