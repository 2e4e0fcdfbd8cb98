/**
 * Keeps other local users off a lab's switch ports. BMv2's P4Runtime and Thrift servers have no
 * authentication: any local process reaching 127.0.0.1:<port> could take over the switch (a
 * higher election id makes it the primary controller). An nftables table per lab rejects
 * connections to those ports from sockets not owned by root, before NAT (so ports published from
 * a container are covered too). Removed with the lab.
 *
 * @module
 */

/** The nftables table (family inet) guarding a lab's ports. */
export function portGuardTable(labId: string): string {
  return `p4cf_${labId}`;
}

/** The `nft` argv that creates the guard table for `ports` (pure). */
export function portGuardArgv(labId: string, ports: readonly number[]): string[] {
  const table = `inet ${portGuardTable(labId)}`;
  const set = `{ ${[...new Set(ports)].sort((a, b) => a - b).join(", ")} }`;
  const reject = `tcp dport ${set} meta skuid != 0 reject with tcp reset`;
  return [
    "nft",
    [
      `add table ${table}`,
      // Priority raw (-300): before conntrack and DNAT, while the destination port is still ours.
      `add chain ${table} guard { type filter hook output priority -300; policy accept; }`,
      `add rule ${table} guard ip daddr 127.0.0.0/8 ${reject}`,
      `add rule ${table} guard ip6 daddr ::1 ${reject}`,
    ].join("; "),
  ];
}

/** The `nft` argv that removes a guard table. */
export function portGuardRemovalArgv(table: string): string[] {
  return ["nft", "delete", "table", "inet", table];
}

/** Parses `nft list tables` (`table inet p4cf_pm` per line) into inet table names. */
export function parseNftTables(out: string): Set<string> {
  const names = new Set<string>();
  for (const line of out.split("\n")) {
    const m = /^table\s+inet\s+(\S+)/.exec(line.trim());
    if (m) names.add(m[1]);
  }
  return names;
}
