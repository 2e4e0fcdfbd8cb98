/**
 * Argv builders for CRIU (pure; run them through a Shell).
 *
 * CRIU runs inside the server's network namespace (`nsenter --net`, see {@link inNetns}): the
 * namespace is then CRIU's own, so it is neither dumped nor recreated, and `criu restore` run in
 * the target namespace puts the restored process there. In that mode CRIU locks each dumped TCP
 * connection individually in the source namespace and leaves the lock in place after a
 * successful dump (the sockets are gone; the lock keeps the kernel from answering the peer's
 * retransmissions with RST). A restore in the same namespace removes it; after a restore
 * elsewhere the caller removes it with {@link nftLockCleanupArgv} or
 * {@link iptablesLockCleanupArgvs}.
 *
 * What CRIU 4.2 leaves behind (criu/netfilter.c):
 * - nftables: a table `inet CRIU-<run id>` (the name cut to 31 characters with "inet "), the run
 *   id being `dump_criu_run_id` in inventory.img;
 * - iptables: per connection, one rule in INPUT and one in OUTPUT of the filter table:
 *   `-p tcp -m mark ! --mark 0xc114 ... -j DROP`.
 *
 * @module
 */
import { inNetns } from "../shell.ts";

/** How CRIU keeps dumped TCP connections quiet (`--network-lock`). */
export type NetworkLockMethod = "iptables" | "nftables" | "skip";

/** The lock method used unless told otherwise: one table, removed atomically. */
export const DEFAULT_NETWORK_LOCK: NetworkLockMethod = "nftables";

/** Mark of CRIU's own repair packets (SOCCR_MARK), exempted from the lock. */
export const SOCCR_MARK = 0xc114;

interface CriuCommon {
  /** Path of the criu binary. */
  criu: string;
  /** Network namespace CRIU runs in (the server's). */
  netns?: string;
  /** Images directory (-D). */
  imagesDir: string;
  /** Log file name, relative to the images directory (-o). */
  logFile?: string;
  /** Log verbosity 0-4 (default 4: the log is the only post-mortem there is). */
  verbosity?: number;
  /** Script run at CRIU's action points (`--action-script`). */
  actionScript?: string;
  /** The process is attached to a terminal (`--shell-job`); our detached workloads are not. */
  shellJob?: boolean;
  /** Allow connected unix sockets whose peer is outside the dump (`--ext-unix-sk`). */
  extUnixSk?: boolean;
}

export interface DumpArgs extends CriuCommon {
  pid: number;
  /** Dump established TCP connections (default true). */
  tcpEstablished?: boolean;
  networkLock?: NetworkLockMethod;
  /** Leave the process running after the dump (default false: it is killed). */
  leaveRunning?: boolean;
  /** Dump only memory changed since the pre-dump in `prevImagesDir` (with --track-mem). */
  prevImagesDir?: string;
  trackMem?: boolean;
  /**
   * Send the memory through a page server instead of writing it (`--page-server`), over this
   * already connected descriptor (`--ps-socket`): the socket may come from another network
   * namespace than CRIU's, e.g. a machine's underlay (lib/migrate/machine_driver.ts).
   */
  psSocket?: number;
  /**
   * Post-copy (`--lazy-pages`): write everything but the memory, then serve the memory on
   * `psSocket` to the target's `criu lazy-pages` until it has every page.
   */
  lazyPages?: boolean;
}

export interface PreDumpArgs extends CriuCommon {
  pid: number;
  /** Previous pre-dump's images, relative to imagesDir or absolute. */
  prevImagesDir?: string;
}

export interface RestoreArgs extends CriuCommon {
  /** File CRIU writes the restored root process's pid to (absolute). */
  pidFile: string;
  /** Restore established TCP connections (default true). */
  tcpEstablished?: boolean;
  /**
   * Exit once the process runs, leaving it to PID 1 (default true). Without it CRIU stays the
   * process's parent and reaps it when it exits; `criuRestore` always restores attached.
   */
  detached?: boolean;
  /** Leave the restored tasks stopped (SIGSTOP); the caller sends SIGCONT (`--leave-stopped`). */
  leaveStopped?: boolean;
  /**
   * Post-copy (`--lazy-pages`): restore without the memory, which a `criu lazy-pages` daemon
   * working in the same images directory supplies on demand (userfaultfd).
   */
  lazyPages?: boolean;
}

function common(o: CriuCommon, defaultLog: string): string[] {
  const argv = ["-D", o.imagesDir, `-v${o.verbosity ?? 4}`, "-o", o.logFile ?? defaultLog];
  if (o.shellJob) argv.push("--shell-job");
  if (o.extUnixSk) argv.push("--ext-unix-sk");
  if (o.actionScript) argv.push("--action-script", o.actionScript);
  return argv;
}

/** `criu dump` of one process tree, run inside its network namespace. */
export function dumpArgv(o: DumpArgs): string[] {
  const argv = [o.criu, "dump", "-t", String(o.pid), ...common(o, "dump.log")];
  if (o.tcpEstablished ?? true) argv.push("--tcp-established");
  argv.push("--network-lock", o.networkLock ?? DEFAULT_NETWORK_LOCK);
  if (o.trackMem) argv.push("--track-mem");
  if (o.prevImagesDir) argv.push("--prev-images-dir", o.prevImagesDir);
  if (o.leaveRunning) argv.push("--leave-running");
  if (o.lazyPages) argv.push("--lazy-pages");
  // Post-copy serves its memory on the socket; otherwise the memory is sent to a page server.
  if (o.psSocket !== undefined) {
    argv.push(...(o.lazyPages ? [] : ["--page-server"]), "--ps-socket", String(o.psSocket));
  }
  return inNetns(o.netns, argv);
}

/**
 * `criu pre-dump`: copies memory while the process keeps running, so the final dump (with
 * `trackMem` and `prevImagesDir`) only copies what changed since.
 */
export function preDumpArgv(o: PreDumpArgs): string[] {
  const argv = [o.criu, "pre-dump", "-t", String(o.pid), ...common(o, "pre-dump.log")];
  argv.push("--track-mem");
  if (o.prevImagesDir) argv.push("--prev-images-dir", o.prevImagesDir);
  return inNetns(o.netns, argv);
}

/**
 * `criu restore`, run inside the target network namespace. The lock method is read from the
 * dump's inventory.img, so it is not passed.
 */
export function restoreArgv(o: RestoreArgs): string[] {
  const argv = [o.criu, "restore", ...common(o, "restore.log")];
  if (o.tcpEstablished ?? true) argv.push("--tcp-established");
  if (o.detached ?? true) argv.push("--restore-detached");
  if (o.leaveStopped) argv.push("--leave-stopped");
  if (o.lazyPages) argv.push("--lazy-pages");
  argv.push("--pidfile", o.pidFile);
  return inNetns(o.netns, argv);
}

/** The nftables table CRIU 4.2 locks connections with (family inet), as CRIU names it. */
export function nftLockTableName(runId: string): string {
  // CRIU formats "inet CRIU-<id>" into a 32-byte buffer: at most 31 characters survive.
  return `inet CRIU-${runId}`.slice(0, 31).slice("inet ".length);
}

/** Deletes CRIU's nftables lock table left in a namespace after a dump. */
export function nftLockCleanupArgv(netns: string | undefined, runId: string): string[] {
  return inNetns(netns, ["nft", "delete", "table", "inet", nftLockTableName(runId)]);
}

/** Lists the filter table's rules (`iptables -S`), to find CRIU's lock rules in. */
export function iptablesListArgv(netns: string | undefined, ipv6 = false): string[] {
  return inNetns(netns, [ipv6 ? "ip6tables" : "iptables", "-w", "-S"]);
}

/**
 * The argvs deleting CRIU's lock rules found in `iptables -S` output: per-connection rules in
 * INPUT or OUTPUT that drop TCP not carrying CRIU's mark, and the namespace-wide `CRIU` chain a
 * dump of a whole network namespace (a container's, via runc) leaves. Other rules are left alone.
 */
export function iptablesLockCleanupArgvs(
  netns: string | undefined,
  listing: string,
  ipv6 = false,
): string[][] {
  const mark = `! --mark 0x${SOCCR_MARK.toString(16)}`;
  const tool = ipv6 ? "ip6tables" : "iptables";
  const lines = listing.split("\n").map((l) => l.trim());
  const argvs = lines
    .filter((l) =>
      (/^-A (INPUT|OUTPUT) /.test(l) && l.includes(" -p tcp ") && l.includes(mark) &&
        l.endsWith(" -j DROP")) || /^-A (INPUT|OUTPUT) -j CRIU$/.test(l)
    )
    .map((l) => inNetns(netns, [tool, "-w", "-D", ...l.slice(3).split(/\s+/)]));
  if (lines.includes("-N CRIU")) {
    argvs.push(
      inNetns(netns, [tool, "-w", "-F", "CRIU"]),
      inNetns(netns, [tool, "-w", "-X", "CRIU"]),
    );
  }
  return argvs;
}
