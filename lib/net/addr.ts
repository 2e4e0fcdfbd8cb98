/**
 * IPv4 and MAC address parsing shared by lab files, P4Runtime encoding and CRIU image rewriting.
 * Parsers return `undefined` for malformed text so callers can attach their own context.
 *
 * @module
 */

/** Parses dotted-quad IPv4 text into a 32-bit unsigned number (host order). */
export function parseIpv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text.trim());
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

/** Formats a 32-bit unsigned number as dotted-quad IPv4 text. */
export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

/** Parses `a.b.c.d/len` into address and prefix length. */
export function parseCidr(text: string): { addr: number; prefix: number } | undefined {
  const [ip, len, ...rest] = text.trim().split("/");
  if (rest.length || len === undefined || !/^\d{1,2}$/.test(len)) return undefined;
  const addr = parseIpv4(ip);
  const prefix = Number(len);
  if (addr === undefined || prefix > 32) return undefined;
  return { addr, prefix };
}

/** The netmask of a prefix length as a 32-bit unsigned number. */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** True when `addr` lies inside `net`/`prefix`. */
export function inSubnet(addr: number, net: number, prefix: number): boolean {
  const mask = prefixMask(prefix);
  return ((addr & mask) >>> 0) === ((net & mask) >>> 0);
}

/** Parses `aa:bb:cc:dd:ee:ff` (case-insensitive, `-` also accepted) into 6 bytes. */
export function parseMac(text: string): Uint8Array | undefined {
  const m =
    /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i
      .exec(text.trim());
  if (!m) return undefined;
  return Uint8Array.from(m.slice(1).map((h) => Number.parseInt(h, 16)));
}

/** Formats 6 bytes as lower-case colon-separated MAC text. */
export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** IPv4 number to its 4 network-order bytes. */
export function ipv4Bytes(value: number): Uint8Array {
  return Uint8Array.of(value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255);
}
