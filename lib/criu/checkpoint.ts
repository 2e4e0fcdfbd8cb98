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
 * @module
 */
import { criuBinary } from "../capabilities.ts";
import { MissingCapabilityError, UserError } from "../errors.ts";
import { defaultShell, type Shell } from "../shell.ts";
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
import { readDumpInfo } from "./dump_info.ts";
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
      hint: "run `sudo bash lab/provision.sh`, or set CRIU to the criu binary",
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
  return elapsed;
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

/** Waits until no process (not even a zombie) holds `pid`, so CRIU can recreate it. */
async function waitPidFree(pid: number, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  const exists = () => Deno.stat(`/proc/${pid}`).then(() => true, () => false);
  while (await exists()) {
    if (performance.now() - t0 > timeoutMs) {
      throw new UserError(`Cannot restore: pid ${pid} is still in use`, {
        hint: `the dumped process (or another) still holds pid ${pid}; stop it and retry`,
      });
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - t0;
}

export type RestoreOptions = Omit<RestoreArgs, "criu" | "pidFile"> & CriuRunOptions & {
  /** Where CRIU writes the restored pid (default: restored.pid in the images directory). */
  pidFile?: string;
  /** How long to wait for the dumped pid to become free (default 5 s). */
  pidWaitMs?: number;
};

export interface RestoreResult {
  pid: number;
  /** Time CRIU took, in ms. */
  elapsedMs: number;
  /** Time spent waiting for the old pid to be reaped, in ms. */
  pidWaitMs: number;
}

/** Restores a dump, detached, in `netns`. Returns the restored root pid. */
export async function criuRestore(options: RestoreOptions): Promise<RestoreResult> {
  const info = await readDumpInfo(options.imagesDir);
  // The dumped process may linger as a zombie until its parent reaps it; CRIU needs its pid.
  const pidWaitMs = info.rootPid ? await waitPidFree(info.rootPid, options.pidWaitMs ?? 5000) : 0;
  const pidFile = options.pidFile ?? `${options.imagesDir}/restored.pid`;
  await Deno.remove(pidFile).catch(() => {});
  const argv = restoreArgv({ ...options, pidFile, criu: resolveCriu(options.criu) });
  const elapsedMs = await runCriu(
    "restore",
    argv,
    options.imagesDir,
    options.logFile ?? "restore.log",
    options,
  );
  const pid = Number.parseInt((await Deno.readTextFile(pidFile).catch(() => "")).trim(), 10);
  if (!(pid > 0)) throw new Error(`criu restore succeeded but wrote no pid to ${pidFile}`);
  return { pid, elapsedMs, pidWaitMs };
}

export interface ReleaseLockOptions {
  shell?: Shell;
  /** The namespace the dump ran in. */
  netns?: string;
  imagesDir: string;
}

/**
 * Removes the connection lock CRIU left in the source namespace after a dump. Call it only once
 * the peers' traffic goes to the restored process elsewhere: until then the lock is what keeps
 * the source kernel from resetting the connections. Idempotent; returns what it removed.
 */
export async function releaseSourceLock(options: ReleaseLockOptions): Promise<string[]> {
  const shell = options.shell ?? defaultShell;
  const info = await readDumpInfo(options.imagesDir);
  if (info.networkLock === "nftables") {
    if (!info.runId) return [];
    const result = await shell.run(nftLockCleanupArgv(options.netns, info.runId), {
      check: false,
    });
    if (result.code === 0) return [`nft table inet ${nftLockTableName(info.runId)}`];
    if (/No such file or directory/.test(result.stderr)) return [];
    throw new Error(`Cannot remove CRIU's nftables lock: ${result.stderr.trim()}`);
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
  return [];
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
