/**
 * TCP sockets as the kernel lists them in /proc/<pid>/net/tcp (the table of that process's network
 * namespace), and the ones a process tree holds through its descriptors.
 *
 * @module
 */

/** A TCP socket from `/proc/net/tcp`. */
export interface TcpSocket {
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  /** `LISTEN`, `ESTABLISHED`, or the kernel's hex state for the others. */
  state: string;
  inode: number;
}

function hexIp(hex: string): string {
  const n = Number.parseInt(hex, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join(".");
}

/** Parses `/proc/<pid>/net/tcp` (IPv4, little-endian addresses; pure). */
export function parseProcTcp(text: string): TcpSocket[] {
  const out: TcpSocket[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [localHex, localPortHex] = f[1].split(":");
    const [remoteHex, remotePortHex] = f[2].split(":");
    const state = f[3] === "0A" ? "LISTEN" : f[3] === "01" ? "ESTABLISHED" : f[3];
    out.push({
      localIp: hexIp(localHex),
      localPort: Number.parseInt(localPortHex, 16),
      remoteIp: hexIp(remoteHex),
      remotePort: Number.parseInt(remotePortHex, 16),
      state,
      inode: Number(f[9]),
    });
  }
  return out;
}

/** Inodes of the sockets process `pid` holds open through its descriptors. */
export async function socketInodes(pid: number): Promise<Set<number>> {
  const inodes = new Set<number>();
  try {
    for await (const e of Deno.readDir(`/proc/${pid}/fd`)) {
      const link = await Deno.readLink(`/proc/${pid}/fd/${e.name}`).catch(() => "");
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m) inodes.add(Number(m[1]));
    }
  } catch {
    // Gone meanwhile, or not ours to read.
  }
  return inodes;
}

/**
 * The IPv4 TCP sockets the processes `pids` hold (listening and connected), read from the first
 * one's namespace.
 */
export async function tcpSocketsOf(pids: readonly number[]): Promise<TcpSocket[]> {
  if (!pids.length) return [];
  const inodes = new Set<number>();
  for (const pid of pids) for (const inode of await socketInodes(pid)) inodes.add(inode);
  const table = await Deno.readTextFile(`/proc/${pids[0]}/net/tcp`).catch(() => "");
  return parseProcTcp(table).filter((s) => inodes.has(s.inode));
}
