/**
 * Running CRIU: dump a process in its namespace, restore it in another, and the safety net the
 * migration relies on — when anything after the dump fails, {@link restoreOnSource} puts the
 * process back where it was, with its connections.
 *
 * The contract:
 * - {@link criuDump} fails → CRIU has already resumed the process and unlocked its connections;
 *   the source keeps serving, nothing to undo.
 * - {@link criuRestore} on the target fails → CRIU killed what it had restored; the connections
 *   are still locked on the source, so the peers saw only delay. {@link restoreOnSource} undoes
 *   the address rewrite and restores on the source, where CRIU also removes the lock.
 * - The restore succeeded and traffic now goes to the target → {@link releaseSourceLock}
 *   removes the lock CRIU left in the source namespace.
 *
 * A restore needs the dumped pid free again. Every process we may dump therefore has a parent
 * that reaps it the moment the dump kills it: the waiter {@link spawnDetached} leaves for a
 * workload, and for a restored process the (attached) criu that restored it.
 *
 * @module
 */
import { deleteNftTable } from "../net/nft_table.ts";
import { criuBinary } from "../capabilities.ts";
import { MissingCapabilityError, UserError } from "../errors.ts";
import {
  defaultShell,
  inNetns,
  pidAlive,
  type RunResult,
  type Shell,
  spawnDetached,
} from "../shell.ts";
import {
  type DumpArgs,
  dumpArgv,
  iptablesListArgv,
  iptablesLockCleanupArgvs,
  nftLockCleanupArgv,
  nftLockTableName,
  type PreDumpArgs,
  preDumpArgv,
  type RestoreArgs,
  restoreArgv,
} from "./commands.ts";
import { unlockPorts } from "./port_lock.ts";
import { type DumpInfo, readDumpInfo } from "./dump_info.ts";
import { GATE_WAIT_S, gateWaitSh, RunGate } from "./run_gate.ts";
import { undoAddressRewrite } from "./rewrite.ts";

/** CRIU failed; the message carries the error lines of its log. */
export class CriuError extends UserError {
  override name = "CriuError";
  constructor(
    readonly operation: string,
    readonly logPath: string,
    readonly exitCode: number,
    readonly errorLines: string[],
    output: string,
  ) {
    const detail = errorLines.length
      ? errorLines.join("\n")
      : output.trim().split("\n").slice(-5).join("\n");
    super(`criu ${operation} failed (exit ${exitCode})${detail ? `:\n${detail}` : ""}`, {
      hint: `read the full log: ${logPath}`,
    });
  }
}

/** Lines of a CRIU log worth showing: errors, except the harmless RLIMIT_NOFILE one. */
export function criuLogErrors(log: string, max = 8): string[] {
  return log.split("\n")
    .filter((l) => /\bError\b/.test(l) && !l.includes("RLIMIT_NOFILE"))
    .slice(-max);
}

/** Options shared by every CRIU run. */
export interface CriuRunOptions {
  shell?: Shell;
  /** criu binary (default: $CRIU or criu on PATH, see criuBinary()). */
  criu?: string;
  /** Kill CRIU after this long (default 60 s). */
  timeoutMs?: number;
}

function resolveCriu(criu?: string): string {
  const bin = criu ?? criuBinary();
  if (!bin) {
    throw new MissingCapabilityError("CRIU is not installed", {
      hint: "run `bash lab/provision.sh` as root, or set CRIU to the criu binary",
    });
  }
  return bin;
}

async function runCriu(
  operation: string,
  argv: string[],
  imagesDir: string,
  logFile: string,
  options: CriuRunOptions,
): Promise<number> {
  const shell = options.shell ?? defaultShell;
  const t0 = performance.now();
  const result = await shell.run(argv, { check: false, timeoutMs: options.timeoutMs ?? 60_000 });
  const elapsed = performance.now() - t0;
  await checkCriuExit(operation, result, imagesDir, logFile);
  return elapsed;
}

/** Throws {@link CriuError} (with its log's error lines) when a CRIU run failed. */
async function checkCriuExit(
  operation: string,
  result: RunResult,
  imagesDir: string,
  logFile: string,
): Promise<void> {
  if (result.code !== 0) {
    const logPath = `${imagesDir}/${logFile}`;
    const log = await Deno.readTextFile(logPath).catch(() => "");
    throw new CriuError(
      operation,
      logPath,
      result.code,
      criuLogErrors(log),
      result.stderr || result.stdout,
    );
  }
}

export type DumpOptions = Omit<DumpArgs, "criu"> & CriuRunOptions;

/** Dumps a process (killing it unless leaveRunning). Returns the time CRIU took, in ms. */
export async function criuDump(options: DumpOptions): Promise<{ elapsedMs: number }> {
  await Deno.mkdir(options.imagesDir, { recursive: true });
  const argv = dumpArgv({ ...options, criu: resolveCriu(options.criu) });
  const elapsedMs = await runCriu(
    "dump",
    argv,
    options.imagesDir,
    options.logFile ?? "dump.log",
    options,
  );
  return { elapsedMs };
}

/**
 * The action script holding `criu dump` at its first action point, `pre-dump`, which CRIU runs
 * before it touches the process (before it seizes it), until the gate at `gateFile` opens
 * (lib/criu/run_gate.ts). Every other action point passes at once (pure).
 */
export function dumpGateScript(gateFile: string, waitS = GATE_WAIT_S): string {
  return [
    "#!/bin/sh",
    "# P4ContainerFlow: holds criu dump before it touches the process (lib/criu/run_gate.ts).",
    '[ "$CRTOOLS_SCRIPT_ACTION" = pre-dump ] || exit 0',
    gateWaitSh(gateFile, waitS),
    "",
  ].join("\n");
}

export type HeldDumpOptions = DumpOptions & {
  /** The gate file (lib/criu/run_gate.ts); outside the images directory. */
  gateFile: string;
  /** Where the action script holding CRIU at the gate is written; outside the images directory. */
  scriptFile: string;
};

/** A `criu dump` started ahead of time and held before it touches the process. */
export interface HeldCriuDump {
  /**
   * Lets CRIU dump: resolves or throws as {@link criuDump} does, with the time from the release.
   */
  run(): Promise<{ elapsedMs: number }>;
  /** Ends CRIU before it touches the process (its pre-dump script fails); waits for its exit. */
  cancel(): Promise<void>;
}

/**
 * Starts `criu dump` and holds it at its start (see {@link dumpGateScript}): the exec of `nsenter`
 * and `criu`, its libraries, its kernel cache and its set-up are paid while the process still
 * runs; {@link HeldCriuDump.run} then costs only the dump itself. Start it after anything that
 * changes what it dumps (pre-dump rounds): its arguments are fixed now. Nothing may remove the
 * images directory meanwhile: CRIU works in it already.
 */
export async function holdCriuDump(options: HeldDumpOptions): Promise<HeldCriuDump> {
  const argv = dumpArgv({
    ...options,
    actionScript: options.scriptFile,
    criu: resolveCriu(options.criu),
  });
  await Deno.mkdir(options.imagesDir, { recursive: true });
  await Deno.writeTextFile(options.scriptFile, dumpGateScript(options.gateFile), { mode: 0o700 });
  const gate = await RunGate.create(options.gateFile);
  const shell = options.shell ?? defaultShell;
  // The watchdog bounds the held time as well.
  const timeoutMs = GATE_WAIT_S * 1000 + (options.timeoutMs ?? 60_000);
  const running = shell.run(argv, { check: false, timeoutMs });
  return {
    async run() {
      const t0 = performance.now();
      await gate.open(true);
      const result = await running;
      await checkCriuExit("dump", result, options.imagesDir, options.logFile ?? "dump.log");
      return { elapsedMs: performance.now() - t0 };
    },
    async cancel() {
      await gate.open(false);
      await running.catch(() => {});
    },
  };
}

export type PreDumpOptions = Omit<PreDumpArgs, "criu"> & CriuRunOptions;

/**
 * Whether the kernel tracks dirty memory (soft-dirty bits), which pre-dumps and incremental
 * dumps need. Kernels built without CONFIG_MEM_SOFT_DIRTY say no.
 */
export async function criuCanTrackMemory(options: CriuRunOptions = {}): Promise<boolean> {
  const shell = options.shell ?? defaultShell;
  const argv = [resolveCriu(options.criu), "check", "--feature", "mem_dirty_track"];
  const result = await shell.run(argv, { check: false, timeoutMs: options.timeoutMs ?? 10_000 });
  return result.code === 0;
}

/**
 * Pre-dumps a process's memory while it keeps running (needs {@link criuCanTrackMemory}).
 */
export async function criuPreDump(options: PreDumpOptions): Promise<{ elapsedMs: number }> {
  await Deno.mkdir(options.imagesDir, { recursive: true });
  const argv = preDumpArgv({ ...options, criu: resolveCriu(options.criu) });
  const elapsedMs = await runCriu(
    "pre-dump",
    argv,
    options.imagesDir,
    options.logFile ?? "pre-dump.log",
    options,
  );
  return { elapsedMs };
}

/**
 * Waits until no process (not even a zombie) holds `pid`, so CRIU can recreate it. A safety net:
 * our workloads and restored processes have a parent that reaps them at once (see
 * {@link spawnDetached}), so the pid is normally free by the time the restore starts.
 */
async function waitPidFree(pid: number, timeoutMs: number): Promise<{ ms: number; busy: boolean }> {
  const t0 = performance.now();
  const exists = () => Deno.stat(`/proc/${pid}`).then(() => true, () => false);
  let busy = false;
  while (await exists()) {
    busy = true;
    if (performance.now() - t0 > timeoutMs) {
      throw new UserError(`Cannot restore: pid ${pid} is still in use`, {
        hint: `the dumped process (or another) still holds pid ${pid}; stop it and retry`,
      });
    }
    await sleep(5);
  }
  return { ms: busy ? performance.now() - t0 : 0, busy };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What CRIU logs once the restored tasks run (cr-restore.c, before post-resume scripts). */
export const RESTORE_DONE_LINE = "Restore finished successfully";

export type RestoreOptions = Omit<RestoreArgs, "criu" | "pidFile" | "detached"> & CriuRunOptions & {
  /** Where CRIU writes the restored pid (default: restored.pid in the images directory). */
  pidFile?: string;
  /** How long to wait for the dumped pid to become free (default 5 s). */
  pidWaitMs?: number;
  /**
   * The dumped tree is the init of its own pid namespace, which the restore recreates: its pids
   * are that namespace's, never taken here, so nothing is waited for (lib/machines/).
   */
  ownPidNamespace?: boolean;
};

export interface RestoreResult {
  pid: number;
  /** From starting CRIU until it reported the tasks resumed (or left stopped), in ms. */
  elapsedMs: number;
  /** Time spent waiting for the old pid to be reaped, in ms (0 unless `pidWasBusy`). */
  pidWaitMs: number;
  /** The dumped pid was still taken when the restore began, so the fallback wait ran. */
  pidWasBusy: boolean;
  /**
   * The criu process that stays the restored process's parent: it reaps the process the moment
   * it exits (e.g. when a later dump kills it) and then exits itself.
   */
  criuPid: number;
}

/** Files beside a restore's log: CRIU's own output, its exit status, its pid. */
function restoreSideFiles(imagesDir: string, logFile: string) {
  const stem = `${imagesDir}/${logFile.replace(/\.log$/, "")}`;
  return { output: `${stem}.out`, exit: `${stem}.exit`, criuPid: `${stem}.criu-pid` };
}

/** Reads a growing file from where the last read stopped. */
class FileTail {
  text = "";
  private offset = 0;
  constructor(readonly path: string) {}
  async read(): Promise<string> {
    const file = await Deno.open(this.path).catch(() => undefined);
    if (!file) return "";
    try {
      await file.seek(this.offset, Deno.SeekMode.Start);
      const buf = new Uint8Array(64 * 1024);
      let chunk = "";
      const decoder = new TextDecoder();
      for (;;) {
        const n = await file.read(buf);
        if (n === null || n === 0) break;
        this.offset += n;
        chunk += decoder.decode(buf.subarray(0, n), { stream: true });
      }
      this.text += chunk;
      return chunk;
    } finally {
      file.close();
    }
  }
}

/**
 * Restores a dump in `netns` and returns the restored root pid once CRIU reports the tasks
 * resumed.
 *
 * CRIU runs without `--restore-detached`, started detached from us: it stays the restored
 * process's parent and reaps it as soon as a later dump kills it. Detached, the process would be
 * left to PID 1, which on these machines reaps only every few seconds, and the next restore
 * would have to wait for the pid. Completion is CRIU's "Restore finished successfully" log line;
 * CRIU exiting before it means failure ({@link CriuError} with the log's error lines). With
 * `leaveStopped` the tasks wait for the caller's SIGCONT. Once they have all exited, criu exits
 * too, with status 0 whatever theirs was.
 */
export async function criuRestore(options: RestoreOptions): Promise<RestoreResult> {
  const info = await readDumpInfo(options.imagesDir);
  const pidWait = await pidFree(options, info);
  const launch = restoreLaunch(options);
  const t0 = performance.now();
  const criuPid = await spawnRestore(options, launch);
  return { ...await restoreDone(options, launch, criuPid, t0), ...pidWait };
}

/** A `criu restore` launched ahead of time and held before `criu` starts. */
export interface HeldRestore {
  /**
   * Lets CRIU restore: resolves or throws as {@link criuRestore} does, with the time from the
   * release. `info`: the restored images' dump info when the caller has read it already.
   */
  run(info?: DumpInfo): Promise<RestoreResult>;
  /** The held launch ends without starting CRIU; waits (briefly) for it to exit. */
  cancel(): Promise<void>;
}

/**
 * Launches `criu restore` as {@link criuRestore} does (`nsenter`, a new session, the waiting
 * parent), but holds it at a gate (lib/criu/run_gate.ts) just before `criu` itself starts: the
 * launch is paid before the dump, and the images need not exist until {@link HeldRestore.run}.
 * Nothing may remove the images directory meanwhile: the launch's side files are in it.
 */
export async function holdCriuRestore(
  options: RestoreOptions & { gateFile: string },
): Promise<HeldRestore> {
  const launch = restoreLaunch(options, options.gateFile);
  await Deno.mkdir(options.imagesDir, { recursive: true });
  const gate = await RunGate.create(options.gateFile);
  let criuPid: number;
  try {
    criuPid = await spawnRestore(options, launch);
  } catch (err) {
    await gate.open(false);
    throw err;
  }
  return {
    async run(known?: DumpInfo) {
      if (!gate.closed) throw new Error("this held restore was already run or cancelled");
      let pidWait;
      try {
        pidWait = await pidFree(options, known ?? await readDumpInfo(options.imagesDir));
      } catch (err) {
        await gate.open(false);
        throw err;
      }
      const t0 = performance.now();
      await gate.open(true);
      return { ...await restoreDone(options, launch, criuPid, t0), ...pidWait };
    },
    async cancel() {
      await gate.open(false);
      // The launch's waiting parent records the status last: then nothing of it is left.
      const ended = () =>
        Deno.readTextFile(launch.side.exit).then((t) => t.endsWith("\n"), () => false);
      for (let i = 0; i < 500 && !await ended(); i++) await sleep(2);
    },
  };
}

/** Waits for the dumped pid to be free (see {@link waitPidFree}). */
async function pidFree(
  options: RestoreOptions,
  info: DumpInfo,
): Promise<{ pidWaitMs: number; pidWasBusy: boolean }> {
  const wait = info.rootPid && !options.ownPidNamespace
    ? await waitPidFree(info.rootPid, options.pidWaitMs ?? 5000)
    : { ms: 0, busy: false };
  return { pidWaitMs: wait.ms, pidWasBusy: wait.busy };
}

/** The argv and files of one restore; with a gate, `criu` starts only once it opens (pure). */
function restoreLaunch(options: RestoreOptions, gateFile?: string) {
  const logFile = options.logFile ?? "restore.log";
  const logPath = `${options.imagesDir}/${logFile}`;
  const pidFile = options.pidFile ?? `${options.imagesDir}/restored.pid`;
  const side = restoreSideFiles(options.imagesDir, logFile);
  const criu = restoreArgv({
    ...options,
    netns: gateFile ? undefined : options.netns,
    logFile,
    pidFile,
    detached: false,
    criu: resolveCriu(options.criu),
  });
  // In the namespace already, the held shell becomes criu (exec): its pid is CRIU's.
  const argv = gateFile
    ? inNetns(options.netns, [
      "sh",
      "-c",
      `${gateWaitSh(gateFile)} && exec "$@"; exit 1`,
      "criu-gate",
      ...criu,
    ])
    : criu;
  return { argv, logPath, pidFile, side };
}

type RestoreLaunch = ReturnType<typeof restoreLaunch>;

/** Starts a restore's launch detached (see {@link criuRestore}); returns its pid. */
async function spawnRestore(options: RestoreOptions, launch: RestoreLaunch): Promise<number> {
  // CRIU refuses an existing pidfile; an old log could hold an old success line.
  await Promise.all([launch.pidFile, launch.logPath].map((f) => Deno.remove(f).catch(() => {})));
  return await spawnDetached(options.shell ?? defaultShell, launch.argv, {
    logFile: launch.side.output,
    pidFile: launch.side.criuPid,
    exitFile: launch.side.exit,
  });
}

/** Follows a started restore's log until CRIU reports the tasks resumed (or fails). */
async function restoreDone(
  options: RestoreOptions,
  launch: RestoreLaunch,
  criuPid: number,
  t0: number,
): Promise<Omit<RestoreResult, "pidWaitMs" | "pidWasBusy">> {
  const { logPath, pidFile, side } = launch;
  const log = new FileTail(logPath);
  const deadline = t0 + (options.timeoutMs ?? 60_000);
  const done = () => log.text.includes(RESTORE_DONE_LINE);
  for (;;) {
    await log.read();
    if (done()) break;
    if (!pidAlive(criuPid)) {
      await log.read();
      if (done()) break;
      throw await restoreFailure(logPath, log.text, side, "");
    }
    if (performance.now() > deadline) {
      try {
        Deno.kill(criuPid, "SIGKILL");
      } catch { /* exited meanwhile */ }
      throw await restoreFailure(
        logPath,
        log.text,
        side,
        `timed out after ${options.timeoutMs ?? 60_000} ms`,
      );
    }
    await sleep(2);
  }
  const elapsedMs = performance.now() - t0;
  const pid = Number.parseInt((await Deno.readTextFile(pidFile).catch(() => "")).trim(), 10);
  if (!(pid > 0)) throw new Error(`criu restore succeeded but wrote no pid to ${pidFile}`);
  return { pid, elapsedMs, criuPid };
}

async function restoreFailure(
  logPath: string,
  log: string,
  side: { output: string; exit: string },
  why: string,
): Promise<CriuError> {
  // The waiting parent writes CRIU's exit status right after reaping it.
  let code = -1;
  for (let i = 0; i < 50 && !why; i++) {
    const text = await Deno.readTextFile(side.exit).catch(() => "");
    if (text.endsWith("\n")) {
      code = Number.parseInt(text, 10);
      break;
    }
    await sleep(2);
  }
  const output = await Deno.readTextFile(side.output).catch(() => "");
  const errors = criuLogErrors(log);
  const lines = errors.length ? errors : log.trimEnd().split("\n").slice(-5).filter(Boolean);
  return new CriuError("restore", logPath, code, why ? [why, ...lines] : lines, output);
}

export interface ReleaseLockOptions {
  shell?: Shell;
  /** The namespace the dump ran in. */
  netns?: string;
  imagesDir: string;
}

/**
 * Removes the connection lock left in the source namespace after a dump (CRIU's, or ours when
 * CRIU ran with `--network-lock skip`). Call it only once
 * the peers' traffic goes to the restored process elsewhere: until then the lock is what keeps
 * the source kernel from resetting the connections. Idempotent; returns what it removed.
 */
export async function releaseSourceLock(options: ReleaseLockOptions): Promise<string[]> {
  const shell = options.shell ?? defaultShell;
  const info = await readDumpInfo(options.imagesDir);
  if (info.networkLock === "nftables") {
    if (!info.runId) return [];
    const removed = await deleteNftTable(
      shell,
      nftLockCleanupArgv(options.netns, info.runId),
      "Cannot remove CRIU's nftables lock",
    );
    return removed ? [`nft table inet ${nftLockTableName(info.runId)}`] : [];
  }
  if (info.networkLock === "iptables") {
    const removed: string[] = [];
    for (const ipv6 of [false, true]) {
      const listing = await shell.run(iptablesListArgv(options.netns, ipv6), { check: false });
      if (listing.code !== 0) continue;
      for (const argv of iptablesLockCleanupArgvs(options.netns, listing.stdout, ipv6)) {
        await shell.run(argv);
        removed.push(argv.slice(argv.indexOf("-D")).join(" "));
      }
    }
    return removed;
  }
  // `skip`: CRIU locked nothing; our own port lock (port_lock.ts) kept the connections quiet.
  return await unlockPorts(shell, options.netns);
}

export type RestoreOnSourceOptions = RestoreOptions & {
  /** The source namespace (where the process was dumped). */
  netns?: string;
};

/**
 * Rolls a failed migration back: puts CRIU's original files.img back (undoing the address
 * rewrite) and restores the process in its source namespace, where CRIU also lifts the
 * connection lock it set at dump time.
 */
export async function restoreOnSource(options: RestoreOnSourceOptions): Promise<RestoreResult> {
  await undoAddressRewrite(options.imagesDir);
  const result = await criuRestore({
    ...options,
    logFile: options.logFile ?? "restore-source.log",
  });
  // CRIU removes the lock itself on a same-namespace restore; make sure nothing is left.
  await releaseSourceLock(options);
  return result;
}
