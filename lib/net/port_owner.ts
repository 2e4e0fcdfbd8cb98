/**
 * Who listens on a local TCP port: /proc/net/tcp{,6} give the listening sockets' inodes, the
 * processes' fd tables give their owners. Used to say who holds a port a lab needs, and to check
 * that the switch the controller reaches is the one the lab started.
 *
 * @module
 */

/** A process holding a listening socket. */
export interface PortOwner {
  pid: number;
  /** argv from /proc/<pid>/cmdline. */
  cmdline: string[];
}

const LISTEN = "0A";

/** Inodes of the sockets listening on `port` in a /proc/net/tcp or tcp6 table (pure). */
export function listeningInodes(table: string, port: number): string[] {
  const inodes: string[] = [];
  for (const line of table.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== LISTEN) continue;
    const local = f[1];
    if (Number.parseInt(local.slice(local.lastIndexOf(":") + 1), 16) === port) inodes.push(f[9]);
  }
  return inodes;
}

/** Inodes of the sockets listening on TCP `port` in this network namespace (IPv4 and IPv6). */
function portInodes(port: number): string[] {
  const inodes: string[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    try {
      inodes.push(...listeningInodes(Deno.readTextFileSync(table), port));
    } catch {
      // No such table (IPv6 disabled).
    }
  }
  return inodes;
}

/** The processes listening on TCP `port` in this network namespace (any address). */
export function portOwners(port: number): PortOwner[] {
  const inodes = new Set(portInodes(port).map((inode) => `socket:[${inode}]`));
  if (!inodes.size) return [];
  const owners: PortOwner[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    try {
      for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
        let target: string;
        try {
          target = Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`);
        } catch {
          continue;
        }
        if (inodes.has(target)) {
          const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").filter((s) =>
            s
          );
          owners.push({ pid, cmdline });
          break;
        }
      }
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return owners;
}

/** `pid 123 (simple_switch_grpc --device-id 0 …)`, for messages. */
export function describeOwner(owner: PortOwner): string {
  const cmd = owner.cmdline.join(" ");
  return `pid ${owner.pid} (${cmd.length > 80 ? `${cmd.slice(0, 77)}...` : cmd})`;
}

/** True when something listens on TCP `port` (any address), per /proc/net. */
export function portInUse(port: number): boolean {
  return portInodes(port).length > 0;
}
