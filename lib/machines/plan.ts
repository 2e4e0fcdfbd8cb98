/**
 * The plan of a lab's machines (pure data, like lib/topology/plan.ts): the underlay network, the
 * namespaces simulating the machines other than the switches', their links' rate and delay, and
 * the VXLAN tunnels that cable their hosts to the switch ports.
 *
 * ```
 *  root machine (the switches')                 simulated machine m2 (netns <id>-m2)
 *  bridge <id>-ul 172.30.x.1 ── veth <id>-m2-ul ══ ul0 172.30.x.2   (tbf rate both ways)
 *  switch port <id>-s1-eth2 (vxlan, VNI n) ~~~~~~~~ UDP 4789 ~~~~~~~ vxlan created in <id>-m2,
 *                                                                  moved into host h2 as eth0
 * ```
 *
 * A host's tunnel end is created in its machine's namespace and then moved into the host's: the
 * kernel keeps a VXLAN device's UDP socket in the namespace that created it, so the host's
 * frames leave through its machine's underlay, as they would from a VM. The topology (lib/topology)
 * first cables every host with a veth; the tunnel steps replace a remote host's veth before the
 * switch binds its ports.
 *
 * Everything created is a {@link LabObject} with the lab's prefix, recorded before it exists.
 *
 * @module
 */
import type { Host, Lab, Machine, Underlay } from "../lab/types.ts";
import { portIfaceName } from "../lab/naming.ts";
import { fnv1a } from "../hash.ts";
import { portGuardTable } from "../net/port_guard.ts";
import { inNetns } from "../shell.ts";
import { hostIfaceArgv, OFFLOADS_OFF } from "../topology/plan.ts";
import type { LabObject } from "../topology/objects.ts";

/** UDP port of the tunnels (IANA's VXLAN port). */
export const VXLAN_PORT = 4789;

/** VXLAN's encapsulation overhead: the underlay carries it on top of 1500-byte lab frames. */
export const VXLAN_OVERHEAD = 50;

/** MTU of the lab's own links, tunnels included, as on a veth. */
export const LAB_MTU = 1500;

/** MTU of the underlay links, so a 1500-byte frame fits in a tunnel packet. */
export const UNDERLAY_MTU = LAB_MTU + VXLAN_OVERHEAD;

/** The underlay interface inside a simulated machine's namespace. */
export const MACHINE_UNDERLAY_IFACE = "ul0";

/** How long tbf may queue a packet: enough for a TCP flow at full rate, not a buffer bloat. */
const TBF_LATENCY = "20ms";

export interface MachineStep {
  title: string;
  /** Objects it creates; recorded in the lab's state file before it runs. */
  creates: LabObject[];
  run: string[][];
  /**
   * Alternatives for shaping a link: the commands with the delay (netem) first, then the rate
   * alone, used where `tc` has no netem. Absent for other steps.
   */
  shape?: { withDelay: string[][]; rateOnly: string[][]; iface: string; machine: string };
}

/** The machine a host runs on (the root machine for hosts of a lab without machines). */
export function machineOf(lab: Lab, host: Host): Machine | undefined {
  return lab.machines?.find((m) => m.name === host.machine);
}

/** The root machine of a lab with machines. */
export function rootMachine(lab: Lab): Machine | undefined {
  return lab.machines?.find((m) => m.root);
}

/** True when two hosts of the lab run on different machines. */
export function crossesMachines(lab: Lab, a: Host, b: Host): boolean {
  return (lab.machines?.length ?? 0) > 0 && a.machine !== b.machine;
}

/** A machine's own directory (state, images): `<runDir>/machines/<machine>/`. */
export function machineDir(runDir: string, machine: string): string {
  return `${runDir.replace(/\/+$/, "")}/machines/${machine}`;
}

/** Where a machine keeps what a migration leaves on it: `<machine dir>/migrations/<id>/`. */
export function machineMigrationDir(runDir: string, machine: string, migration: string): string {
  return `${machineDir(runDir, machine)}/migrations/${migration}`;
}

/** The tunnel's VNI of host number `index` (0-based, in file order): lab id hash + index. */
export function tunnelVni(labId: string, index: number): number {
  return (((fnv1a(labId) & 0xffff) << 8) | ((index + 1) & 0xff)) >>> 0;
}

function labId(lab: Lab): string {
  if (!lab.id) throw new Error(`Lab ${lab.name} has no id (it was not produced by the lab parser)`);
  return lab.id;
}

function disableIpv6(netns: string | undefined, ifaces: string[]): string[] {
  return inNetns(netns, [
    "sysctl",
    "-q",
    "-w",
    ...ifaces.map((i) => `net.ipv6.conf.${i}.disable_ipv6=1`),
  ]);
}

/** tbf's bucket: 10 ms at the rate, at least 16 KB (a few full frames). */
export function tbfBurstBytes(bitS: number): number {
  return Math.max(16 * 1024, Math.round(bitS / 8 / 100));
}

/** The `tc` commands shaping one direction of a link (`netns` undefined: the root machine). */
export function shapeArgvs(
  netns: string | undefined,
  iface: string,
  m: Pick<Machine, "rateBitS" | "delayMs">,
  withDelay: boolean,
): string[][] {
  const tc = (...args: string[]) => inNetns(netns, ["tc", "qdisc", ...args]);
  const tbf = (parent: string[]) =>
    m.rateBitS === undefined ? [] : [
      tc(
        "add",
        "dev",
        iface,
        ...parent,
        "tbf",
        "rate",
        `${m.rateBitS}bit`,
        "burst",
        String(tbfBurstBytes(m.rateBitS)),
        "latency",
        TBF_LATENCY,
      ),
    ];
  if (withDelay && m.delayMs !== undefined) {
    return [
      tc("add", "dev", iface, "root", "handle", "1:", "netem", "delay", `${m.delayMs}ms`),
      ...tbf(["parent", "1:", "handle", "10:"]),
    ];
  }
  return tbf(["root", "handle", "1:"]);
}

/** The underlay bridge on the root machine, with its address. */
function bridgeSteps(lab: Lab, underlay: Underlay, root: Machine): MachineStep[] {
  const br = underlay.bridge;
  return [{
    title: `underlay ${underlay.subnet}/${underlay.prefix}: bridge ${br} (${root.underlayIp})`,
    creates: [{ kind: "link", name: br }],
    run: [
      ["ip", "link", "add", br, "type", "bridge"],
      disableIpv6(undefined, [br]),
      ["ip", "link", "set", "dev", br, "mtu", String(UNDERLAY_MTU)],
      ["ip", "addr", "add", `${root.underlayIp}/${underlay.prefix}`, "dev", br],
      ["ip", "link", "set", "dev", br, "up"],
    ],
  }, guardStep(lab, underlay)];
}

/**
 * Keeps the underlay the lab's own: other local users may not reach the machines' addresses (the
 * page servers and image receivers listen there during a migration), and no tunnel packet is
 * taken from anywhere but the bridge. The chains live in the lab's nftables table (the switch
 * ports' guard), removed with it.
 */
export function underlayGuardArgv(labId: string, underlay: Underlay): string[] {
  const table = `inet ${portGuardTable(labId)}`;
  const subnet = `${underlay.subnet}/${underlay.prefix}`;
  return [
    "nft",
    [
      `add table ${table}`,
      `add chain ${table} underlay_out { type filter hook output priority -300; policy accept; }`,
      `add rule ${table} underlay_out ip daddr ${subnet} meta skuid != 0 reject`,
      `add rule ${table} underlay_out udp dport ${VXLAN_PORT} meta skuid != 0 reject`,
      `add chain ${table} underlay_in { type filter hook input priority -300; policy accept; }`,
      `add rule ${table} underlay_in udp dport ${VXLAN_PORT} iifname != "${underlay.bridge}" drop`,
    ].join("; "),
  ];
}

function guardStep(lab: Lab, underlay: Underlay): MachineStep {
  return {
    title: `underlay: root only, tunnels from ${underlay.bridge} only (nftables)`,
    creates: [{ kind: "nft-table", name: portGuardTable(labId(lab)) }],
    run: [underlayGuardArgv(labId(lab), underlay)],
  };
}

/** A simulated machine: its namespace, its underlay link, the link's rate and delay. */
function machineSteps(underlay: Underlay, m: Machine): MachineStep[] {
  const netns = m.netns!;
  const outer = m.underlayIface!;
  const inner = MACHINE_UNDERLAY_IFACE;
  const steps: MachineStep[] = [
    {
      title: `machine ${m.name}: network namespace ${netns}`,
      creates: [{ kind: "netns", name: netns }],
      run: [
        ["ip", "netns", "add", netns],
        inNetns(netns, ["ip", "link", "set", "dev", "lo", "up"]),
        disableIpv6(netns, ["all", "default"]),
      ],
    },
    {
      title: `machine ${m.name}: underlay ${outer} <-> ${netns}/${inner} ${m.underlayIp}`,
      creates: [{ kind: "link", name: outer }],
      run: [
        ["ip", "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", netns],
        disableIpv6(undefined, [outer]),
        ["ip", "link", "set", "dev", outer, "mtu", String(UNDERLAY_MTU)],
        ["ip", "link", "set", "dev", outer, "master", underlay.bridge],
        ["ip", "link", "set", "dev", outer, "up"],
        inNetns(netns, ["ip", "link", "set", "dev", inner, "mtu", String(UNDERLAY_MTU)]),
        inNetns(netns, ["ip", "addr", "add", `${m.underlayIp}/${underlay.prefix}`, "dev", inner]),
        inNetns(netns, ["ip", "link", "set", "dev", inner, "up"]),
      ],
    },
  ];
  if (m.rateBitS !== undefined || m.delayMs !== undefined) {
    // Both directions: towards the machine on the bridge's port, from it on its own interface.
    for (const [ns, iface, dir] of [[undefined, outer, "to"], [netns, inner, "from"]] as const) {
      steps.push({
        title: `machine ${m.name}: shape traffic ${dir} it (${
          [m.rate, m.delay && `${m.delay} delay`].filter(Boolean).join(", ")
        })`,
        creates: [],
        run: [],
        shape: {
          withDelay: shapeArgvs(ns, iface, m, true),
          rateOnly: shapeArgvs(ns, iface, m, false),
          iface,
          machine: m.name,
        },
      });
    }
  }
  return steps;
}

/**
 * The tunnel of a host on a simulated machine: the topology's veth is replaced by a VXLAN
 * device on the switch's side and one created in the machine's namespace, moved into the host's
 * and configured as its interface.
 */
export function tunnelSteps(lab: Lab, host: Host, index: number): MachineStep[] {
  const id = labId(lab);
  const machine = machineOf(lab, host);
  const root = rootMachine(lab);
  if (!machine || machine.root || !root || !lab.underlay) return [];
  const netns = host.netns ?? `${id}-${host.name}`;
  const portIface = portIfaceName(id, host.switch, host.switchPort);
  const vni = String(tunnelVni(id, index));
  const temp = `vxtmp${index}`;
  const vxlan = (local: string, remote: string, dev: string) => [
    "type",
    "vxlan",
    "id",
    vni,
    "local",
    local,
    "remote",
    remote,
    "dstport",
    String(VXLAN_PORT),
    "dev",
    dev,
  ];
  const mnet = machine.netns!;
  return [{
    title: `tunnel ${host.name} (${machine.name}) -- ${host.switch}:${host.switchPort}: ` +
      `VXLAN ${vni} ${machine.underlayIp} <-> ${root.underlayIp}`,
    creates: [{ kind: "link", name: portIface }],
    run: [
      // The topology's veth (its host end goes with it).
      ["ip", "link", "del", "dev", portIface],
      [
        "ip",
        "link",
        "add",
        portIface,
        "mtu",
        String(LAB_MTU),
        ...vxlan(root.underlayIp, machine.underlayIp, lab.underlay.bridge),
      ],
      disableIpv6(undefined, [portIface]),
      ["ethtool", "-K", portIface, ...OFFLOADS_OFF],
      ["ip", "link", "set", "dev", portIface, "up"],
      inNetns(mnet, [
        "ip",
        "link",
        "add",
        temp,
        "mtu",
        String(LAB_MTU),
        ...vxlan(machine.underlayIp, root.underlayIp, MACHINE_UNDERLAY_IFACE),
      ]),
      inNetns(mnet, ["ip", "link", "set", "dev", temp, "netns", netns]),
      inNetns(netns, ["ip", "link", "set", "dev", temp, "name", host.iface]),
      disableIpv6(netns, [host.iface]),
      ...hostIfaceArgv(lab, host, (argv) => inNetns(netns, argv)),
    ],
  }];
}

/** The machines and their underlay (no tunnels): run after the topology, before tunnels. */
export function planMachines(lab: Lab): MachineStep[] {
  const root = rootMachine(lab);
  if (!root || !lab.underlay) return [];
  const steps = bridgeSteps(lab, lab.underlay, root);
  for (const m of lab.machines ?? []) if (!m.root) steps.push(...machineSteps(lab.underlay, m));
  return steps;
}

/** The tunnels of every host on a simulated machine. */
export function planTunnels(lab: Lab): MachineStep[] {
  return lab.hosts.flatMap((h, i) => tunnelSteps(lab, h, i));
}
