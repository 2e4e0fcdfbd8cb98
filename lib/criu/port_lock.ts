/**
 * Our own connection lock for a process dump, in place of CRIU's (`--network-lock skip`).
 *
 * Why: CRIU's nftables lock adds one set element per connection through libnftables while it
 * holds every dumped socket open; past ~1,000 connections the netlink socket libnftables opens
 * gets a descriptor above FD_SETSIZE, glibc's fortified `FD_SET` aborts CRIU mid-dump, and the
 * half-built lock table it leaves silences those connections for good. Its iptables lock execs
 * a program per connection. One table that drops the process's local ports is set up in a single
 * `nft` call before the dump, whatever the number of connections.
 *
 * What it must do is what CRIU's lock does: from the moment the sockets are frozen until the
 * switch sends their traffic to the restored copy, no packet of theirs may reach the source
 * kernel (it would answer with a reset once the dumped sockets are closed) and none may leave.
 * CRIU's own repair packets carry {@link SOCCR_MARK} and pass (a rollback restores on the source
 * with the lock in place).
 *
 * Arriving segments are refused with an ICMP host-unreachable rather than dropped silently: a
 * Linux client then reverts its retransmission backoff (RFC 6069), so it retries every minimum
 * RTO (200 ms) while the server is frozen instead of at 0.2, 0.6, 1.4, 3 s..., and picks the
 * moved server up at most one minimum RTO after the switch did. That is what keeps the worst
 * connection's outage near the median's when hundreds are frozen for most of a second. The
 * source namespace answers without the kernel's ICMP rate limits (lib/net/icmp_unlimited.ts).
 *
 * @module
 */
import { deleteNftTable } from "../net/nft_table.ts";
import { inNetns, type Shell } from "../shell.ts";
import { SOCCR_MARK } from "./commands.ts";
import { icmpUnlimitedArgv } from "../net/icmp_unlimited.ts";

/** The lock's table (family inet) in the source namespace. */
export const PORT_LOCK_TABLE = "p4cf_lock";

/** How arriving segments are kept out. */
export interface PortLockOptions {
  /** Refuse them with ICMP host-unreachable (default), or drop them silently. */
  refuse?: boolean;
  /**
   * The table is known to be absent (removed beforehand with {@link unlockPorts}): leave out
   * the declare-and-delete that replaces a stale one. Deleting a table, even an empty one, costs
   * 10-15 ms (the kernel tears it down when `nft` closes its netlink socket), inside the frozen
   * window. Default false.
   */
  fresh?: boolean;
}

/** The nft script locking TCP `ports` in both directions (pure; one atomic transaction). */
export function portLockScript(ports: readonly number[], options: PortLockOptions = {}): string {
  const valid = [...new Set(ports)].filter((p) => Number.isInteger(p) && p > 0 && p < 65536);
  if (!valid.length) throw new Error("port lock: no TCP port to lock");
  const set = `{ ${valid.sort((a, b) => a - b).join(", ")} }`;
  const t = `inet ${PORT_LOCK_TABLE}`;
  const mark = `0x${SOCCR_MARK.toString(16)}`;
  const refusal = options.refuse ?? true ? "reject with icmpx type host-unreachable" : "drop";
  return [
    // Declaring then deleting makes the script work whether or not a stale table exists.
    ...(options.fresh ? [] : [`table ${t} {}`, `delete table ${t}`]),
    `table ${t} {`,
    `  chain in {`,
    `    type filter hook input priority -300; policy accept;`,
    `    meta mark != ${mark} tcp dport ${set} ${refusal}`,
    `  }`,
    `  chain out {`,
    `    type filter hook output priority -300; policy accept;`,
    `    meta mark != ${mark} tcp sport ${set} drop`,
    `  }`,
    `}`,
  ].join("\n");
}

/** argv applying {@link portLockScript} in `netns` (pure). */
export function portLockArgv(
  netns: string | undefined,
  ports: readonly number[],
  options: PortLockOptions = {},
): string[] {
  return inNetns(netns, ["nft", portLockScript(ports, options)]);
}

/** argv of an `nft` that applies the script it reads on stdin, e.g. started ahead (pure). */
export function nftStdinArgv(netns: string | undefined): string[] {
  return inNetns(netns, ["nft", "-f", "-"]);
}

/** argv removing the lock from `netns` (pure). */
export function portUnlockArgv(netns: string | undefined): string[] {
  return inNetns(netns, ["nft", "delete", "table", "inet", PORT_LOCK_TABLE]);
}

/** Locks `ports` in `netns`. */
export async function lockPorts(
  shell: Shell,
  netns: string | undefined,
  ports: readonly number[],
  options: PortLockOptions = {},
): Promise<void> {
  if (options.refuse ?? true) await shell.run(inNetns(netns, icmpUnlimitedArgv()));
  await shell.run(portLockArgv(netns, ports, options));
}

/** Removes the lock from `netns`; idempotent. Returns what it removed, for the report. */
export async function unlockPorts(shell: Shell, netns: string | undefined): Promise<string[]> {
  const removed = await deleteNftTable(
    shell,
    portUnlockArgv(netns),
    `Cannot remove the port lock in ${netns ?? "this namespace"}`,
  );
  return removed ? [`nft table inet ${PORT_LOCK_TABLE}`] : [];
}
