/**
 * What a migration check sees of processes through `/proc`, without running anything (fast
 * enough to look while the student's code waits): a process's state (running, stopped), its
 * network namespace, its start time, and the TCP sockets it holds.
 *
 * @module
 */
import { type TcpSocket, tcpSocketsOf } from "../net/proc_tcp.ts";

/** A process as `/proc/<pid>/stat` describes it. */
export interface ProcInfo {
  pid: number;
  comm: string;
  /** `R` running, `S` sleeping, `T` stopped, `t` traced, `Z` zombie, ... */
  state: string;
  /** Clock ticks after boot at which it started. */
  startTicks: number;
}

/** Parses `/proc/<pid>/stat` (the command may contain spaces and parentheses). */
export function parseProcStat(pid: number, text: string): ProcInfo | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(" ");
  const startTicks = Number(rest[19]);
  return { pid, comm: text.slice(open + 1, close), state: rest[0], startTicks };
}

/** The inode of a namespace link's text, `net:[4026532]`. */
export function parseNsLink(text: string): number | undefined {
  const m = /^net:\[(\d+)\]$/.exec(text.trim());
  return m ? Number(m[1]) : undefined;
}

/** A process, or undefined when it does not exist (any more). */
export async function procInfo(pid: number): Promise<ProcInfo | undefined> {
  const text = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => undefined);
  return text ? parseProcStat(pid, text) : undefined;
}

/** The network namespace inode of a process. */
export async function procNetns(pid: number): Promise<number | undefined> {
  const link = await Deno.readLink(`/proc/${pid}/ns/net`).catch(() => undefined);
  return link ? parseNsLink(link) : undefined;
}

/** The inode of a named network namespace (`/run/netns/<name>`). */
export async function netnsInode(netns: string): Promise<number | undefined> {
  return (await Deno.stat(`/run/netns/${netns}`).catch(() => undefined))?.ino ?? undefined;
}

/**
 * Unix ms at which a process started (10 ms resolution: the kernel counts 100 ticks a second).
 * Measured back from now with /proc/uptime, as the boot time /proc/stat gives is whole seconds.
 */
export function startedAtMs(info: ProcInfo): number {
  const uptimeS = Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
  return Date.now() - (uptimeS * 1000 - info.startTicks * 10);
}

/** Processes named `comm` in the network namespace with inode `netnsIno`. */
export async function processesIn(netnsIno: number, comm: string): Promise<ProcInfo[]> {
  const found: ProcInfo[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const pid = Number(e.name);
    const c = await Deno.readTextFile(`/proc/${pid}/comm`).catch(() => "");
    if (c.trim() !== comm) continue;
    if ((await procNetns(pid)) !== netnsIno) continue;
    const info = await procInfo(pid);
    if (info && info.state !== "Z") found.push(info);
  }
  return found;
}

/** The TCP sockets on `port` that process `pid` holds open (through its descriptors). */
export async function socketsOf(pid: number, port: number): Promise<TcpSocket[]> {
  return (await tcpSocketsOf([pid])).filter((s) => s.localPort === port);
}

/** `R`/`S`/`D` are running (as far as a signal goes); `T`/`t` stopped. */
export function isStopped(info: ProcInfo): boolean {
  return info.state === "T" || info.state === "t";
}
