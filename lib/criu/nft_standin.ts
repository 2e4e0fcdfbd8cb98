/**
 * nft-stand-in: a stateless nftables stand-in for the P4 load balancer, so the CRIU tier can be
 * checked without BMv2.
 *
 * In a router namespace it does what the switch does: traffic to VIP:port gets the active
 * backend's address as destination, and replies from any backend get the VIP as source. It is
 * stateless like the switch (`notrack`, payload rewrites in filter chains, no conntrack NAT), so
 * an established connection follows the rule the moment it changes. The reply rule covers every
 * backend, not only the active one: a restored socket starts retransmitting before the forward
 * rule is flipped, and those packets must already look like the VIP's.
 *
 * @module
 */
import { defaultShell, inNetns, type Shell } from "../shell.ts";

export interface StandInConfig {
  /** nftables table name (family ip). */
  table: string;
  vip: string;
  port: number;
  /** Every backend address that may answer for the VIP. */
  backends: string[];
  /** The backend receiving the VIP's traffic now. */
  active: string;
}

/** The nft script (re)defining the stand-in's table atomically: one transaction. */
export function standInRuleset(c: StandInConfig): string {
  if (!c.backends.includes(c.active)) {
    throw new Error(
      `nft-stand-in: active backend ${c.active} is not one of ${c.backends.join(", ")}`,
    );
  }
  return [
    // Declaring then deleting the table makes the script work whether or not it exists yet.
    `table ip ${c.table} {}`,
    `delete table ip ${c.table}`,
    `table ip ${c.table} {`,
    `  chain prerouting {`,
    `    type filter hook prerouting priority raw; policy accept;`,
    `    notrack`,
    `    ip daddr ${c.vip} tcp dport ${c.port} ip daddr set ${c.active}`,
    `  }`,
    `  chain postrouting {`,
    `    type filter hook postrouting priority srcnat; policy accept;`,
    `    ip saddr { ${c.backends.join(", ")} } tcp sport ${c.port} ip saddr set ${c.vip}`,
    `  }`,
    `}`,
    "",
  ].join("\n");
}

/** Applies (or flips) the stand-in in a router namespace. */
export async function applyStandIn(
  netns: string,
  config: StandInConfig,
  shell: Shell = defaultShell,
): Promise<void> {
  await shell.run(inNetns(netns, ["nft", "-f", "-"]), { stdin: standInRuleset(config) });
}

/** Argv removing the stand-in's table. */
export function removeStandInArgv(netns: string, table: string): string[] {
  return inNetns(netns, ["nft", "delete", "table", "ip", table]);
}
