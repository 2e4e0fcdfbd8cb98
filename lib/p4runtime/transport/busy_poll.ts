/**
 * Busy-polling a connection's socket for a lone call's answer. A MODIFY round trip to BMv2 on the
 * same machine took 150-190 µs, much of it on the way back: the thread sleeps in `epoll_wait`,
 * the switch's answer wakes it, then Deno's op machinery reads and resolves. Reading the socket
 * without blocking (`recv` with MSG_DONTWAIT, through FFI, on the descriptor Deno already holds)
 * for up to a budget after the request leaves takes the answer as it lands: p50 60-100 µs
 * (`deno task bench peers`, which runs ours with and without it beside Python grpcio). It is what
 * the kernel's SO_BUSY_POLL and gRPC's own busy-polling trade CPU for; each empty read yields the
 * CPU (sched_yield), so a switch thread waiting for it runs at once. A call not answered within
 * the budget goes back to the event loop, which then reads as before, so correctness never
 * depends on this.
 *
 * Reading behind Deno's back is safe because Deno's reads of this socket run on this same thread:
 * while we poll, nothing else reads it; afterwards its pending read finds no data (EAGAIN) and
 * waits for the next. One case is not: a read Deno already made whose bytes our read loop has
 * not handled yet (its promise settled in this turn, its continuation still queued). Polling
 * then would handle later bytes first. {@link SocketPoller.consumed} tells: the bytes the
 * application took from the socket (the kernel's count of bytes received, less those still
 * queued); the connection polls only when that equals what it has handled.
 *
 * Needs Linux, libc and the FFI permission (`--allow-ffi`, or `-A` as every task runs with);
 * without them it is off and nothing else changes.
 *
 * @module
 */

import { nonNegativeSetting } from "../../settings.ts";

/** Overrides the budget of every client that sets none (µs; 0 turns busy-polling off). */
export const BUSY_POLL_ENV = "P4CF_BUSY_POLL_US";
/**
 * Default budget, µs: a little more than a typical MODIFY round trip to BMv2 on the same machine
 * (60-100 µs when polled). Longer budgets took no more answers but held the CPU from a switch
 * that needed it: p99 200-220 µs at 100, 300-340 at 150-200, 500-600 at 300 (2 cores).
 */
export const DEFAULT_BUSY_POLL_US = 100;
/** Requests larger than this are not followed by a poll (their write may still be going on). */
export const BUSY_POLL_MAX_REQUEST = 16 * 1024;

/** The budget to use: the option, else {@link BUSY_POLL_ENV}, else the default. */
export function busyPollBudget(option?: number): number {
  if (option !== undefined) return Math.max(0, option);
  return nonNegativeSetting(
    BUSY_POLL_ENV,
    Deno.env.get(BUSY_POLL_ENV),
    "microseconds",
    "set it to how long a lone P4Runtime call polls for its answer (0 turns polling off)",
  ) ?? DEFAULT_BUSY_POLL_US;
}

const MSG_DONTWAIT = 0x40;

const FIONREAD = 0x541b;
const IPPROTO_TCP = 6;
const TCP_INFO = 11;
/** Offset of tcpi_bytes_received (u64) in Linux's struct tcp_info. */
const TCPI_BYTES_RECEIVED = 128;

const LIBC_SYMBOLS = {
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  sched_yield: { parameters: [], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>;
let libc: Libc | null | undefined;

/** libc through FFI, or null where that is not possible (not Linux, no permission, no libc). */
function openLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (Deno.build.os !== "linux") return libc;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return libc;
    libc = Deno.dlopen("libc.so.6", LIBC_SYMBOLS);
  } catch {
    libc = null;
  }
  return libc;
}

const portHex = (port: number) => port.toString(16).toUpperCase().padStart(4, "0");

/**
 * The socket inode of the connection from `localPort` to `remotePort` in a /proc/net/tcp or tcp6
 * table, or undefined. Both ports together name our end: on loopback the peer's end is in the
 * table too, with the two swapped.
 */
export function socketInode(
  table: string,
  localPort: number,
  remotePort: number,
): string | undefined {
  const local = `:${portHex(localPort)}`;
  const remote = `:${portHex(remotePort)}`;
  for (const line of table.split("\n")) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    const f = line.trim().split(/\s+/);
    if (f.length > 9 && f[1].endsWith(local) && f[2].endsWith(remote)) return f[9];
  }
  return undefined;
}

/** The descriptor of this process that is the socket `inode`, or -1. */
function fdOfInode(inode: string): number {
  const target = `socket:[${inode}]`;
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${e.name}`) === target) return Number(e.name);
    } catch { /* closed meanwhile */ }
  }
  return -1;
}

/** Non-blocking reads of a TCP connection's socket, beside Deno's own. */
export class SocketPoller {
  #size = 0;
  #sizeArg = 0n;
  readonly #int = new Int32Array(1);
  readonly #info = new Uint8Array(256);
  readonly #infoLen = new Uint32Array(1);

  private constructor(readonly fd: number, readonly lib: Libc) {}

  /** A poller for `tcp`, or undefined when busy-polling is not possible here. */
  static open(tcp: Deno.TcpConn): SocketPoller | undefined {
    const lib = openLibc();
    if (!lib) return undefined;
    try {
      const local = (tcp.localAddr as Deno.NetAddr).port;
      const remote = (tcp.remoteAddr as Deno.NetAddr).port;
      for (const table of ["/proc/self/net/tcp", "/proc/self/net/tcp6"]) {
        const inode = socketInode(Deno.readTextFileSync(table), local, remote);
        if (!inode) continue;
        const fd = fdOfInode(inode);
        return fd >= 0 ? new SocketPoller(fd, lib) : undefined;
      }
    } catch { /* no /proc: off */ }
    return undefined;
  }

  /**
   * Reads what is there without waiting: the byte count, 0 at the end of the stream, -1 when
   * nothing is there (or on an error, which Deno's own read then reports).
   */
  read(buf: Uint8Array): number {
    if (buf.length !== this.#size) this.#sizeArg = BigInt(this.#size = buf.length);
    const n = Number(this.lib.symbols.recv(this.fd, buf, this.#sizeArg, MSG_DONTWAIT));
    // Nothing yet: let a thread that waits for this CPU (the switch's, on a small machine) run.
    if (n < 0) this.lib.symbols.sched_yield();
    return n < 0 ? -1 : n;
  }

  /**
   * The bytes this process has taken from the socket since it opened, or -1 when unknown. The
   * queued count is read first: bytes arriving between the two reads make the result larger,
   * never smaller, so a caller comparing it with what it handled errs on the side of not polling.
   */
  consumed(): number {
    const sym = this.lib.symbols;
    if (sym.ioctl(this.fd, BigInt(FIONREAD), this.#int) !== 0) return -1;
    const queued = this.#int[0];
    this.#infoLen[0] = this.#info.length;
    if (sym.getsockopt(this.fd, IPPROTO_TCP, TCP_INFO, this.#info, this.#infoLen) !== 0) return -1;
    if (this.#infoLen[0] < TCPI_BYTES_RECEIVED + 8) return -1;
    const view = new DataView(this.#info.buffer);
    return Number(view.getBigUint64(TCPI_BYTES_RECEIVED, true)) - queued;
  }
}
