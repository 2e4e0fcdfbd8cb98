/**
 * What a recovery looks at before it decides (lib/migrate/recovery.ts): CRIU runs a killed
 * migration left behind, where a process runs (by its network namespace), whether a dump or a
 * Podman export is complete, and CRIU's connection locks in a namespace.
 *
 * @module
 */
import { RESTORE_DONE_LINE } from "../criu/checkpoint.ts";
import { iptablesListArgv, iptablesLockCleanupArgvs } from "../criu/commands.ts";
import { unlockPorts } from "../criu/port_lock.ts";
import { listTar } from "../podman/tar.ts";
import { findProcesses, inNetns, killProcessTree, pidAlive, type Shell } from "../shell.ts";

/** What CRIU 4 logs at the end of a dump that succeeded (cr-dump.c). */
export const DUMP_DONE_LINE = "Dumping finished successfully";

/** A CRIU process working on a checkpoint directory. */
export interface CriuRun {
  pid: number;
  /** `dump`, `pre-dump`, `restore`, ... */
  operation: string;
  /** Its images directory (-D) and log file (-o, relative to it). */
  imagesDir: string;
  logFile?: string;
}

/** Reads a CRIU argv (after any `nsenter ... --`); undefined when it is not one. */
export function parseCriuArgv(pid: number, argv: readonly string[]): CriuRun | undefined {
  if (!/(^|\/)criu$/.test(argv[0] ?? "")) return undefined;
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i > 0 ? argv[i + 1] : undefined;
  };
  const imagesDir = value("-D");
  if (!imagesDir) return undefined;
  return { pid, operation: argv[1] ?? "", imagesDir, logFile: value("-o") };
}

/** CRIU runs (dumps, restores) whose images directory is under `checkpointDir`. */
export function criuRunsUnder(
  checkpointDir: string,
  list: () => number[] = () => findProcesses((a) => /(^|\/)criu$/.test(a[0] ?? "")),
): CriuRun[] {
  const dir = checkpointDir.replace(/\/+$/, "");
  const runs: CriuRun[] = [];
  for (const pid of list()) {
    let argv: string[];
    try {
      argv = Deno.readTextFileSync(`/proc/${pid}/cmdline`).replace(/\0$/, "").split("\0");
    } catch {
      continue;
    }
    const run = parseCriuArgv(pid, argv);
    if (run && (run.imagesDir === dir || run.imagesDir.startsWith(`${dir}/`))) runs.push(run);
  }
  return runs;
}

/** Whether a CRIU log file says its run ended well (`done` is the line it logs then). */
export async function logSays(path: string, done: string): Promise<boolean> {
  return (await Deno.readTextFile(path).catch(() => "")).includes(done);
}

/** How long a process being started takes at most to exec its program, on a loaded machine. */
const EXEC_GRACE_MS = 150;

/**
 * Lets the CRIU runs a killed migration left finish: a dump ends when CRIU exits, a restore
 * once CRIU logged its success (CRIU then stays, as the restored process's parent). Runs still
 * going after `timeoutMs` are killed with what they started (a half-restored tree). Returns a
 * note, or undefined when there was nothing to wait for.
 */
export async function settleCriuRuns(
  checkpointDir: string,
  timeoutMs = 10_000,
): Promise<string | undefined> {
  const pending = async () => {
    const left: CriuRun[] = [];
    for (const run of criuRunsUnder(checkpointDir)) {
      if (!pidAlive(run.pid)) continue;
      const log = `${run.imagesDir}/${run.logFile ?? `${run.operation}.log`}`;
      if (run.operation === "restore" && await logSays(log, RESTORE_DONE_LINE)) continue;
      left.push(run);
    }
    return left;
  };
  let left = await pending();
  if (!left.length) {
    // A CRIU the dead migration was starting may not have exec'd yet (its command line is then
    // still the migration's): look once more before deciding that none runs.
    await new Promise((r) => setTimeout(r, EXEC_GRACE_MS));
    left = await pending();
  }
  if (!left.length) return undefined;
  const first = left.map((r) => `criu ${r.operation} (pid ${r.pid})`);
  const t0 = Date.now();
  while (left.length && Date.now() - t0 < timeoutMs) {
    await new Promise((r) => setTimeout(r, 10));
    left = await pending();
  }
  for (const run of left) await killProcessTree(run.pid);
  const waited = `${Date.now() - t0} ms`;
  return left.length
    ? `killed ${left.map((r) => `criu ${r.operation} (pid ${r.pid})`).join(", ")} after ${waited}`
    : `waited ${waited} for ${first.join(", ")} to finish`;
}

/** Inode of a network namespace file (`/run/netns/x`, `/proc/<pid>/ns/net`); 0 when none. */
export function netnsInode(path: string): number {
  try {
    return Deno.statSync(path).ino ?? 0;
  } catch {
    return 0;
  }
}

/**
 * Which of the named namespaces `pid` lives in (a CRIU restore keeps the pid, so the pid alone
 * does not say whether the process is the source or the restored copy); undefined when it is
 * dead or elsewhere (then the pid is someone else's).
 */
export function namespaceOf<T extends string>(
  pid: number,
  namespaces: Record<T, string>,
): T | undefined {
  if (!(pid > 0) || !pidAlive(pid)) return undefined;
  const ino = netnsInode(`/proc/${pid}/ns/net`);
  if (!ino) return undefined;
  for (const [key, netns] of Object.entries(namespaces) as [T, string][]) {
    if (netnsInode(`/run/netns/${netns}`) === ino) return key;
  }
  return undefined;
}

/** Whether a dump directory holds a dump CRIU finished (its log is `dump.log` unless given). */
export async function dumpComplete(
  imagesDir: string,
  log = `${imagesDir}/dump.log`,
): Promise<boolean> {
  if (!await logSays(log, DUMP_DONE_LINE)) return false;
  return await Deno.stat(`${imagesDir}/inventory.img`).then(() => true, () => false);
}

/**
 * Whether a Podman checkpoint export is whole: every member's data present, the end-of-archive
 * block written, and CRIU's inventory, process tree and files images in it.
 */
export function archiveComplete(buf: Uint8Array): boolean {
  let members;
  try {
    members = listTar(buf);
  } catch {
    return false;
  }
  if (!members.length) return false;
  const last = members[members.length - 1];
  const end = last.dataOffset + Math.ceil(last.size / 512) * 512;
  if (end + 512 > buf.length || !buf.subarray(end, end + 512).every((b) => b === 0)) return false;
  const names = new Set(members.map((m) => m.name.replace(/^\.\//, "")));
  return ["inventory.img", "pstree.img", "files.img"].every((f) => names.has(`checkpoint/${f}`));
}

/** {@link archiveComplete} of a file (false when it cannot be read). */
export async function archiveFileComplete(path: string): Promise<boolean> {
  const buf = await Deno.readFile(path).catch(() => undefined);
  return buf !== undefined && archiveComplete(buf);
}

/** The names of CRIU's nftables lock tables in `nft list tables` output. */
export function criuNftTables(listing: string): string[] {
  return listing.split("\n").map((l) => /^table inet (CRIU-\S+)$/.exec(l.trim())?.[1])
    .filter((t): t is string => t !== undefined);
}

/**
 * Removes every connection lock of a dump in a lab namespace, whichever dump left it: nftables
 * tables `CRIU-*`, CRIU's iptables rules and our own port lock (lib/criu/port_lock.ts). Only
 * call it where no CRIU runs and no traffic of the locked connections arrives any more (the
 * workload runs here again, or the switch points elsewhere). Returns what it removed.
 */
export async function removeCriuLocks(shell: Shell, netns: string): Promise<string[]> {
  const removed: string[] = [];
  const listing = await shell.run(inNetns(netns, ["nft", "list", "tables"]), { check: false });
  for (const table of criuNftTables(listing.stdout)) {
    const r = await shell.run(inNetns(netns, ["nft", "delete", "table", "inet", table]), {
      check: false,
    });
    if (r.code === 0) removed.push(`nft table inet ${table} in ${netns}`);
  }
  const ours = await unlockPorts(shell, netns).catch(() => []);
  removed.push(...ours.map((what) => `${what} in ${netns}`));
  for (const ipv6 of [false, true]) {
    const rules = await shell.run(iptablesListArgv(netns, ipv6), { check: false });
    if (rules.code !== 0) continue;
    for (const argv of iptablesLockCleanupArgvs(netns, rules.stdout, ipv6)) {
      const r = await shell.run(argv, { check: false });
      if (r.code === 0) removed.push(`${argv.slice(argv.indexOf("-w") - 1).join(" ")} in ${netns}`);
    }
  }
  return removed;
}
