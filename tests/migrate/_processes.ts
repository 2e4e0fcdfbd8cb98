/**
 * Process bookkeeping for the kill tests: which processes belong to a lab or a migration, by
 * identity (pid + start time, so a reused pid is not mistaken for a survivor), and whether any of
 * them still lives.
 */

/** One process as /proc shows it. */
export interface ProcInfo {
  pid: number;
  ppid: number;
  /** Start time in clock ticks since boot (field 22 of /proc/<pid>/stat). */
  start: number;
  state: string;
  comm: string;
  cmdline: string;
  /** `net:[inode]` of its network namespace ("" when unreadable). */
  netns: string;
}

/** Reads one process; undefined when it does not exist (any more). */
export function procInfo(pid: number): ProcInfo | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const close = stat.lastIndexOf(")");
    const f = stat.slice(close + 2).split(" ");
    const read = (fn: () => string) => {
      try {
        return fn();
      } catch {
        return "";
      }
    };
    return {
      pid,
      ppid: Number(f[1]),
      start: Number(f[19]),
      state: f[0],
      comm: stat.slice(stat.indexOf("(") + 1, close),
      cmdline: read(() =>
        Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll("\0", " ").trim()
      ),
      netns: read(() => Deno.readLinkSync(`/proc/${pid}/ns/net`)),
    };
  } catch {
    return undefined;
  }
}

/** Every process on the machine. */
export function allProcs(): ProcInfo[] {
  const procs: ProcInfo[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const info = procInfo(Number(entry.name));
    if (info) procs.push(info);
  }
  return procs;
}

/** The processes below `root` (not itself), from one /proc scan. */
export function descendants(root: number, procs: ProcInfo[] = allProcs()): ProcInfo[] {
  const children = new Map<number, ProcInfo[]>();
  for (const p of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const found: ProcInfo[] = [];
  const queue = [root];
  while (queue.length) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child.pid);
    }
  }
  return found;
}

const dead = (state: string) => state === "Z" || state === "X";

/** A set of processes remembered by identity, each with why it was tracked. */
export class TrackedProcs {
  readonly #procs = new Map<string, { info: ProcInfo; why: string }>();

  add(info: ProcInfo, why: string): void {
    if (info.pid === Deno.pid || dead(info.state)) return;
    const key = `${info.pid}/${info.start}`;
    if (!this.#procs.has(key)) this.#procs.set(key, { info, why });
  }

  get size(): number {
    return this.#procs.size;
  }

  /** Tracked processes that still run (same pid and start time, not a zombie). */
  alive(): { info: ProcInfo; why: string }[] {
    return [...this.#procs.values()].filter(({ info }) => {
      const now = procInfo(info.pid);
      return now !== undefined && now.start === info.start && !dead(now.state);
    });
  }

  /** SIGKILLs whatever still runs (cleanup after a failed case, so it cannot mask the next). */
  killAlive(): void {
    for (const { info } of this.alive()) {
      try {
        Deno.kill(info.pid, "SIGKILL");
      } catch { /* gone meanwhile */ }
    }
  }
}

/** One line per process, for assertion messages. */
export function describeProc(p: ProcInfo, why?: string): string {
  return `pid ${p.pid} ${p.comm} [${p.cmdline.slice(0, 160)}]${why ? ` (${why})` : ""}`;
}
