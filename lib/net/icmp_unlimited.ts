/**
 * A namespace that refuses a frozen server's segments with ICMP errors must send one per segment:
 * the kernel's ICMP rate limits (per network namespace) would let about one a second through per
 * client host. Why the errors matter: see lib/criu/port_lock.ts.
 *
 * @module
 */

/** Sysctls lifting the ICMP rate limits of one network namespace. */
export const ICMP_UNLIMITED: Readonly<Record<string, string>> = {
  "net.ipv4.icmp_ratelimit": "0",
  "net.ipv4.icmp_msgs_per_sec": "1000000",
  "net.ipv4.icmp_msgs_burst": "1000000",
};

/** argv setting {@link ICMP_UNLIMITED}, to run inside the namespace (pure). */
export function icmpUnlimitedArgv(): string[] {
  return ["sysctl", "-q", "-w", ...Object.entries(ICMP_UNLIMITED).map(([k, v]) => `${k}=${v}`)];
}
