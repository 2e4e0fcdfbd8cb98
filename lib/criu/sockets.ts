/**
 * The inet sockets recorded in a CRIU dump's files.img.
 *
 * files.img holds one `file_entry` per open file (images/fdinfo.proto): type (1), id (2), and
 * for type INETSK (4) an `inet_sk_entry` in field isk (4) (images/sk-inet.proto): id 1, ino 2,
 * family 3, type 4, proto 5, state 6, src_port 7, dst_port 8, src_addr 11, dst_addr 12. The
 * addresses are proto2 `repeated uint32` (unpacked varints): one word for IPv4, four for IPv6,
 * each word the address's network-order bytes read as a little-endian u32 (CRIU copies the
 * kernel's big-endian value into a host-order integer on x86), so 10.0.0.1 is 0x0100000a.
 *
 * @module
 */
import { formatIpv4 } from "../net/addr.ts";
import type { CriuImage } from "./images.ts";
import { decodeMessage, fieldUint, findField, repeatedVarints, WireType } from "./protobuf_wire.ts";

export const AF_INET = 2;
export const AF_INET6 = 10;
/** fd_types.INETSK in images/fdinfo.proto. */
export const FD_TYPE_INETSK = 4;

/** Field numbers of file_entry. */
export const FILE_ENTRY = { type: 1, id: 2, isk: 4 } as const;
/** Field numbers of inet_sk_entry. */
export const INET_SK = {
  id: 1,
  ino: 2,
  family: 3,
  type: 4,
  proto: 5,
  state: 6,
  srcPort: 7,
  dstPort: 8,
  srcAddr: 11,
  dstAddr: 12,
} as const;

/** Linux TCP states (include/net/tcp_states.h), as CRIU records them. */
const TCP_STATES: Record<number, string> = {
  1: "ESTABLISHED",
  2: "SYN_SENT",
  3: "SYN_RECV",
  4: "FIN_WAIT1",
  5: "FIN_WAIT2",
  6: "TIME_WAIT",
  7: "CLOSE",
  8: "CLOSE_WAIT",
  9: "LAST_ACK",
  10: "LISTEN",
  11: "CLOSING",
};

/** A TCP state number's name (e.g. 10 -> "LISTEN"). */
export function tcpStateName(state: number): string {
  return TCP_STATES[state] ?? `STATE_${state}`;
}

/** Converts an image address word to a host-order IPv4 number (see the module doc). */
export function wordToIpv4(word: bigint | number): number {
  const w = Number(word) >>> 0;
  return (((w & 0xff) << 24) | (((w >>> 8) & 0xff) << 16) | (((w >>> 16) & 0xff) << 8) |
    (w >>> 24)) >>> 0;
}

/** Converts a host-order IPv4 number to the word CRIU stores. */
export function ipv4ToWord(ip: number): bigint {
  return BigInt(wordToIpv4(ip));
}

/** The word that marks an IPv4-mapped IPv6 address (::ffff:a.b.c.d) in the third position. */
export const V4_MAPPED_WORD = ipv4ToWord(0x0000ffff);

/** Formats an address as stored in an image (1 word: IPv4, 4 words: IPv6). */
export function formatImageAddress(words: readonly bigint[]): string {
  if (words.length === 1) return formatIpv4(wordToIpv4(words[0]));
  if (words.length === 4) {
    if (words[0] === 0n && words[1] === 0n && words[2] === V4_MAPPED_WORD) {
      return `::ffff:${formatIpv4(wordToIpv4(words[3]))}`;
    }
    const groups: string[] = [];
    for (const w of words) {
      const ip = wordToIpv4(w);
      groups.push((ip >>> 16).toString(16), (ip & 0xffff).toString(16));
    }
    return groups.join(":");
  }
  return words.length === 0 ? "" : `?${words.join(",")}`;
}

/** An inet socket as recorded in files.img. */
export interface InetSocket {
  /** Index of its entry in files.img. */
  entryIndex: number;
  /** The file id (fdinfo entries refer to it). */
  id: number;
  /** Socket inode; tcp-stream-<ino hex>.img holds its TCP state. */
  ino: number;
  family: number;
  /** SOCK_STREAM (1), SOCK_DGRAM (2)... */
  type: number;
  /** IPPROTO_TCP (6), IPPROTO_UDP (17)... */
  proto: number;
  state: number;
  srcAddr: string;
  srcPort: number;
  dstAddr: string;
  dstPort: number;
}

/** Decodes the inet sockets of a files.img. */
export function inetSockets(files: CriuImage): InetSocket[] {
  const out: InetSocket[] = [];
  files.entries.forEach((entry, entryIndex) => {
    const fe = decodeMessage(entry.payload);
    if (fieldUint(findField(fe, FILE_ENTRY.type)) !== FD_TYPE_INETSK) return;
    const isk = findField(fe, FILE_ENTRY.isk);
    if (!isk || isk.wireType !== WireType.Len) return;
    const f = decodeMessage(isk.payload!);
    const num = (n: number) => fieldUint(findField(f, n)) ?? 0;
    out.push({
      entryIndex,
      id: num(INET_SK.id),
      ino: num(INET_SK.ino),
      family: num(INET_SK.family),
      type: num(INET_SK.type),
      proto: num(INET_SK.proto),
      state: num(INET_SK.state),
      srcAddr: formatImageAddress(repeatedVarints(f, INET_SK.srcAddr)),
      srcPort: num(INET_SK.srcPort),
      dstAddr: formatImageAddress(repeatedVarints(f, INET_SK.dstAddr)),
      dstPort: num(INET_SK.dstPort),
    });
  });
  return out;
}
