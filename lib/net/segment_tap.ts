/**
 * Holds the clients' segments a frozen server misses, and hands them to the restored copy the
 * moment the switch points at it, so no client waits for its retransmission timer.
 *
 * Why: from the connection lock (lib/criu/port_lock.ts) until the switch update, a segment a
 * client sends reaches the locked source and is refused. Its client retransmits only when its
 * timer fires: at least 200 ms later (Linux's minimum RTO), more under load. With hundreds of
 * connections frozen for a second, nearly every client has such a segment, and the outage of
 * each becomes the frozen window plus up to one RTO. The tap in the source namespace reads those
 * segments through a packet socket (before netfilter refuses them); after the switch update they
 * are addressed to the target (destination rewritten, checksums recomputed) and sent there
 * through a raw socket, as if they had arrived late. The restored socket takes the data it lacks
 * and drops duplicates (TCP's own sequence check), and the server answers at once.
 *
 * Plan (pure: the capture file's format, the rewrite) and apply (the helper process, C source in
 * lib/net/segment_tap_c.ts) are separate.
 *
 * @module
 */
import { concatBytes } from "../bytes.ts";
import {
  defaultShell,
  inNetnsPath,
  pidAlive,
  type Shell,
  signalProcess,
  spawnDetached,
} from "../shell.ts";
import { buildCHelper } from "../workloads/build.ts";
import { parseIpv4 } from "./addr.ts";
import { SEGMENT_TAP_C } from "./segment_tap_c.ts";

/** Splits a capture file (4-byte big-endian length, then the IP packet; repeated) (pure). */
export function parseSegmentFile(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const packets: Uint8Array[] = [];
  for (let at = 0; at + 4 <= bytes.length;) {
    const length = view.getUint32(at);
    if (at + 4 + length > bytes.length) throw new Error("segment file: truncated packet");
    packets.push(bytes.slice(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return packets;
}

/** The capture file format of a list of IP packets (pure). */
export function encodeSegmentFile(packets: readonly Uint8Array[]): Uint8Array {
  return concatBytes(packets.flatMap((p) => {
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, p.length);
    return [length, p];
  }));
}

/** The Internet checksum of `bytes` with `initial` folded in (RFC 1071) (pure). */
export function internetChecksum(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i] << 8) | bytes[i + 1];
  if (bytes.length % 2) sum += bytes[bytes.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * The IPv4 TCP packets of `packets` addressed to `from`, readdressed to `to`, with the IP and
 * TCP checksums recomputed; others are left out (pure).
 */
export function retargetSegments(
  packets: readonly Uint8Array[],
  from: string,
  to: string,
): Uint8Array[] {
  const fromAddr = parseIpv4(from);
  const toAddr = parseIpv4(to);
  if (fromAddr === undefined || toAddr === undefined) {
    throw new Error(`retargetSegments: not IPv4 addresses: ${from}, ${to}`);
  }
  const out: Uint8Array[] = [];
  for (const original of packets) {
    if (original.length < 40 || original[0] >> 4 !== 4 || original[9] !== 6) continue;
    const p = original.slice();
    const view = new DataView(p.buffer);
    const ihl = (p[0] & 0x0f) * 4;
    const total = view.getUint16(2);
    if (total > p.length || ihl < 20 || total < ihl + 20) continue;
    if (view.getUint32(16) !== fromAddr) continue;
    view.setUint32(16, toAddr);
    view.setUint16(10, 0);
    view.setUint16(10, internetChecksum(p.subarray(0, ihl)));
    const tcpLength = total - ihl;
    view.setUint16(ihl + 16, 0);
    // Pseudo-header: source, destination, protocol, TCP length.
    const pseudo = (view.getUint32(12) >>> 16) + (view.getUint32(12) & 0xffff) +
      (toAddr >>> 16) + (toAddr & 0xffff) + 6 + tcpLength;
    view.setUint16(ihl + 16, internetChecksum(p.subarray(ihl, total), pseudo));
    out.push(p.subarray(0, total));
  }
  return out;
}

/** Where kept segments go: the target's namespace, and the server's old and new address. */
export interface ReplayOptions {
  netnsPath: string;
  from: string;
  to: string;
}

/**
 * How long a tap keeps listening after the first replay: about what BMv2 takes to drain a full
 * 1,024-packet queue toward the old host on a loaded 2-core machine.
 */
export const TAP_LINGER_MS = 300;

/** What a hand-over did: segments the tap kept, and those sent to the target. */
export interface HandOver {
  held: number;
  sent: number;
}

/** A migration report's words for one or more hand-overs (pure). */
export function handOverNote(...handOvers: HandOver[]): string {
  const sent = handOvers.reduce((n, h) => n + h.sent, 0);
  const held = handOvers.reduce((n, h) => n + h.held, 0);
  return `${sent} of ${held} held segment(s) replayed`;
}

/**
 * The last copy of each segment (pure): a frozen client retransmits the same request several
 * times, and the tap keeps every copy. Handing them all over makes the restored server answer
 * each duplicate with a D-SACK, a burst of thousands of packets through the switch beside the
 * answers, and the older copies would fail its timestamp check (PAWS) anyway. A segment is the
 * same when its source, ports, sequence number, length and FIN are; the last copy (the newest
 * timestamp) is kept, in the order the last copies arrived.
 */
export function lastCopies(packets: readonly Uint8Array[]): Uint8Array[] {
  const last = new Map<string, number>();
  packets.forEach((p, i) => {
    if (p.length < 40 || p[0] >> 4 !== 4 || p[9] !== 6) return;
    const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
    const ihl = (p[0] & 0x0f) * 4;
    if (p.length < ihl + 20) return;
    const dataLength = view.getUint16(2) - ihl - (p[ihl + 12] >> 4) * 4;
    const fin = p[ihl + 13] & 1;
    const key = `${view.getUint32(12)}:${view.getUint16(ihl)}:${view.getUint16(ihl + 2)}:` +
      `${view.getUint32(ihl + 4)}:${dataLength}:${fin}`;
    last.delete(key);
    last.set(key, i);
  });
  return [...last.values()].map((i) => packets[i]);
}

/** Where a tap keeps its files. */
export interface SegmentTapFiles {
  ready: string;
  out: string;
  log: string;
  pid: string;
}

/** The tap's files under `dir` (pure). */
export function segmentTapFiles(dir: string): SegmentTapFiles {
  return {
    ready: `${dir}/segment-tap.ready`,
    out: `${dir}/segment-tap.segments`,
    log: `${dir}/segment-tap.log`,
    pid: `${dir}/segment-tap.pid`,
  };
}

/** The tap's argv (pure). */
export function segmentTapArgv(
  binary: string,
  ports: readonly number[],
  files: SegmentTapFiles,
  timeoutMs: number,
  ownerPid: number,
): string[] {
  return [
    binary,
    "capture",
    [...new Set(ports)].join(","),
    files.ready,
    files.out,
    String(timeoutMs),
    String(ownerPid),
  ];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

/**
 * A running tap in one namespace. Start it before the freeze ({@link SegmentTap.start}), let it
 * keep segments from the lock on ({@link record}), and after the switch update hand them to the
 * target ({@link replay}); {@link close} in every case (it also ends by itself after its
 * timeout, so a crashed migration leaves nothing running).
 */
export class SegmentTap {
  private constructor(
    private readonly shell: Shell,
    private readonly binary: string,
    readonly files: SegmentTapFiles,
    readonly pid: number,
  ) {}

  /**
   * Starts a tap for TCP `ports` in the network namespace at `netnsPath` (a file such as
   * /run/netns/<name>, or a CNI_NETNS); resolves once its socket is bound.
   */
  static async start(options: {
    netnsPath: string;
    ports: readonly number[];
    dir: string;
    shell?: Shell;
    /** It ends by itself after this long (default 120 s). */
    timeoutMs?: number;
  }): Promise<SegmentTap> {
    const shell = options.shell ?? defaultShell;
    const binary = await buildCHelper(shell, "p4cf-segment-tap", SEGMENT_TAP_C);
    const files = segmentTapFiles(options.dir);
    await Deno.mkdir(options.dir, { recursive: true });
    for (const f of [files.ready, files.out]) await Deno.remove(f).catch(() => {});
    const argv = segmentTapArgv(
      binary,
      options.ports,
      files,
      options.timeoutMs ?? 120_000,
      Deno.pid,
    );
    const pid = await spawnDetached(shell, inNetnsPath(options.netnsPath, argv), {
      logFile: files.log,
      pidFile: files.pid,
    });
    const tap = new SegmentTap(shell, binary, files, pid);
    const deadline = Date.now() + 5000;
    while (!(await exists(files.ready))) {
      if (!pidAlive(pid) || Date.now() > deadline) {
        tap.close();
        const log = await Deno.readTextFile(files.log).catch(() => "");
        throw new Error(
          `segment tap in ${options.netnsPath} did not start: ${log.trim() || "no output"}`,
        );
      }
      await sleep(2);
    }
    return tap;
  }

  /** From now on the tap keeps what it sees (call right before the lock). */
  record(): void {
    signalProcess(this.pid, "SIGUSR1");
  }

  /**
   * The segments kept so far (the tap goes on keeping), or with `last` all the rest, after which
   * it ends.
   */
  async collect(last: boolean, timeoutMs = 2000): Promise<Uint8Array[]> {
    signalProcess(this.pid, last ? "SIGTERM" : "SIGUSR2");
    const deadline = Date.now() + timeoutMs;
    while (!(await exists(this.files.out))) {
      if (Date.now() > deadline || !pidAlive(this.pid) && !(await exists(this.files.out))) {
        throw new Error(`segment tap ${this.pid} wrote no segments (${this.files.log})`);
      }
      await sleep(1);
    }
    const bytes = await Deno.readFile(this.files.out);
    await Deno.remove(this.files.out);
    return parseSegmentFile(bytes);
  }

  /**
   * Sends what the tap kept for `from` to `to` inside the target's namespace (at `netnsPath`).
   * Call it right after the switch update, then {@link finish} once the switch's queues have
   * drained: segments queued in the switch for the old host before the update still arrive
   * there for a while (with a thousand connections, for hundreds of milliseconds). Best effort,
   * never throws: a segment not handed over is one its client retransmits, as without a tap; a
   * failure ends the tap and {@link finish} reports it.
   */
  async replay(options: ReplayOptions): Promise<void> {
    if (this.failure || this.ended) return;
    this.firstReplayAt ??= Date.now();
    try {
      this.handOvers.push(await this.send(await this.collect(false), options));
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * Waits until {@link TAP_LINGER_MS} after the first replay, sends what arrived since, ends the
   * tap, and says what all the replays did (for a migration's report). Without a replay before,
   * it only ends the tap. Never throws.
   */
  async finish(options: ReplayOptions): Promise<string | undefined> {
    if (!this.failure && !this.ended && this.firstReplayAt !== undefined) {
      const wait = this.firstReplayAt + TAP_LINGER_MS - Date.now();
      if (wait > 0) await sleep(wait);
      try {
        this.handOvers.push(await this.send(await this.collect(true), options));
      } catch (err) {
        this.fail(err);
      }
    }
    this.close();
    if (this.failure) return this.failure;
    return this.handOvers.length ? handOverNote(...this.handOvers) : undefined;
  }

  private firstReplayAt?: number;
  private handOvers: HandOver[] = [];
  private failure?: string;
  private ended = false;

  private fail(err: unknown): void {
    this.failure = `segments not replayed: ${err instanceof Error ? err.message : err}`;
    this.close();
  }

  private async send(held: Uint8Array[], options: ReplayOptions): Promise<HandOver> {
    const segments = retargetSegments(lastCopies(held), options.from, options.to);
    if (segments.length) {
      const file = `${this.files.out}.target`;
      await Deno.writeFile(file, encodeSegmentFile(segments), { mode: 0o600 });
      await this.shell.run(inNetnsPath(options.netnsPath, [this.binary, "inject", file]));
    }
    return { held: held.length, sent: segments.length };
  }

  /** Ends the tap if it still runs; idempotent. */
  close(): void {
    this.ended = true;
    if (pidAlive(this.pid)) signalProcess(this.pid, "SIGKILL");
  }
}
