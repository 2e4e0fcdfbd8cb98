/**
 * The topology planner: a pure function from a {@link Lab} to the ordered steps that make it real
 * (namespaces, pods, veth pairs, addresses, routes, static ARP, switch starts). Each step carries
 * the exact argv it runs and the argv that undoes it; nothing here touches the machine.
 *
 * Wiring (both host kinds end up the same way):
 * - A `netns` host is a named namespace `<id>-<host>`. A `pod` host is a Podman pod created with
 *   `--network none`; its infra container's namespace is attached under the same name
 *   (`ip netns attach`), so every later command treats both kinds alike. Podman never assigns
 *   addresses, so a container restored into another pod finds that pod's address and MAC.
 * - Each host gets one veth pair: `<iface>` (eth0) inside the host, `<id>-<switch>-eth<port>` in
 *   the machine's namespace, where BMv2 binds it as that port. Switch-to-switch links are veth
 *   pairs of two switch-side interfaces.
 * - IPv6 is disabled and checksum/segmentation offloads are turned off on every interface (BMv2
 *   sees packets before any NIC would fill in checksums, so they must be complete).
 * - The host's default route goes via its gateway (an address no interface has); static ARP
 *   entries map the gateway, the VIP and other lab hosts of the same subnet to the switch port's
 *   MAC, so hosts never ARP and the switch sees only IPv4.
 * - The switch-side interfaces keep random MACs and no addresses, so this machine's kernel drops
 *   the frames addressed to the switch port instead of answering or forwarding them.
 *
 * @module
 */
import { inSubnet, parseIpv4 } from "../net/addr.ts";
import { infraName, LAB_LABEL } from "../lab/naming.ts";
import type { Host, Lab, Switch } from "../lab/types.ts";
import { inNetns } from "../shell.ts";
import { portGuardArgv, portGuardTable } from "../net/port_guard.ts";
import { type LabObject, removalArgv } from "./objects.ts";

/** Features `ethtool -K` turns off on every lab interface. */
export const OFFLOADS_OFF = [
  "tx",
  "off",
  "rx",
  "off",
  "sg",
  "off",
  "tso",
  "off",
  "gso",
  "off",
  "gro",
  "off",
];

interface StepBase {
  /** What the step does, for progress lines. */
  title: string;
  /** Objects this step creates; recorded in the state file before it runs. */
  creates: LabObject[];
  /**
   * Commands run in order. An argument `{pid:<container>}` stands for the main pid of that
   * container, looked up when the step runs.
   */
  run: string[][];
  /** Commands that remove what the step created (configuration steps have none). */
  undo: string[][];
}

export type PlanStep =
  | StepBase & { kind: "create-netns"; host: string; netns: string }
  | StepBase & { kind: "create-pod"; host: string; pod: string; infra: string }
  | StepBase & { kind: "attach-pod-netns"; host: string; netns: string; infra: string }
  | StepBase & { kind: "create-veth"; iface: string; peer: string; peerNetns?: string }
  | StepBase & { kind: "configure-switch-iface"; iface: string }
  | StepBase & { kind: "configure-host-iface"; host: string; netns: string; iface: string }
  /** Rejects other users' connections to the switches' gRPC and Thrift ports (nftables). */
  | StepBase & { kind: "guard-switch-ports"; ports: number[] }
  /** Starts a switch through the caller's hook (see `switch_start.ts`); `run` is empty. */
  | StepBase & { kind: "start-switch"; switch: Switch; pidFile: string; logFile: string };

export type StepKind = PlanStep["kind"];

export interface Plan {
  lab: Lab;
  /** The lab's run directory (state file, logs, pcaps). */
  runDir: string;
  steps: PlanStep[];
}

/** Pid file of a switch process in the run directory. */
export function switchPidFile(runDir: string, sw: string): string {
  return `${runDir}/${sw}.pid`;
}

/** Log file of a switch in the run directory. */
export function switchLogFile(runDir: string, sw: string): string {
  return `${runDir}/${sw}.log`;
}

function undoOf(creates: LabObject[]): string[][] {
  return [...creates].reverse().flatMap(removalArgv);
}

function disableIpv6Argv(ifaces: string[]): string[] {
  return ["sysctl", "-q", "-w", ...ifaces.map((i) => `net.ipv6.conf.${i}.disable_ipv6=1`)];
}

function labId(lab: Lab): string {
  if (!lab.id) throw new Error(`Lab ${lab.name} has no id (it was not produced by the lab parser)`);
  return lab.id;
}

function hostNetns(lab: Lab, host: Host): string {
  return host.netns ?? `${labId(lab)}-${host.name}`;
}

/** Steps that make the host's namespace exist, with loopback up and IPv6 off. */
function hostNamespaceSteps(lab: Lab, host: Host): PlanStep[] {
  const netns = hostNetns(lab, host);
  const setup = [
    inNetns(netns, ["ip", "link", "set", "dev", "lo", "up"]),
    inNetns(netns, disableIpv6Argv(["all", "default"])),
  ];
  if (host.kind === "netns" || host.kind === "slot") {
    // A slot is a parking namespace until a pod takes its interface (lib/kubernetes/cni/).
    const creates: LabObject[] = [{ kind: "netns", name: netns }];
    return [{
      kind: "create-netns",
      title: `host ${host.name}: network namespace ${netns}`,
      host: host.name,
      netns,
      creates,
      run: [["ip", "netns", "add", netns], ...setup],
      undo: undoOf(creates),
    }];
  }
  const pod = host.pod ?? netns;
  const infra = infraName(labId(lab), host.name);
  const podCreates: LabObject[] = [{ kind: "pod", name: pod }];
  const nsCreates: LabObject[] = [{ kind: "netns", name: netns, pod }];
  return [
    {
      kind: "create-pod",
      title: `host ${host.name}: pod ${pod}`,
      host: host.name,
      pod,
      infra,
      creates: podCreates,
      run: [
        [
          "podman",
          "pod",
          "create",
          "--name",
          pod,
          "--infra-name",
          infra,
          "--network",
          "none",
          "--hostname",
          host.name,
          "--label",
          `${LAB_LABEL}=${lab.name}`,
        ],
        ["podman", "pod", "start", pod],
      ],
      undo: undoOf(podCreates),
    },
    {
      kind: "attach-pod-netns",
      title: `host ${host.name}: attach the pod's namespace as ${netns}`,
      host: host.name,
      netns,
      infra,
      creates: nsCreates,
      run: [["ip", "netns", "attach", netns, `{pid:${infra}}`], ...setup],
      undo: undoOf(nsCreates),
    },
  ];
}

function configureSwitchIface(iface: string): PlanStep {
  return {
    kind: "configure-switch-iface",
    title: `switch port ${iface}: IPv6 and offloads off, up`,
    iface,
    creates: [],
    run: [
      disableIpv6Argv([iface]),
      ["ethtool", "-K", iface, ...OFFLOADS_OFF],
      ["ip", "link", "set", "dev", iface, "up"],
    ],
    undo: [],
  };
}

/** Addresses a host must reach through its gateway MAC without ARP, besides the gateway. */
function onLinkNeighbours(lab: Lab, host: Host): string[] {
  const own = parseIpv4(host.ip) ?? 0;
  const inHostSubnet = (ip: string) => inSubnet(parseIpv4(ip) ?? 0, own, host.prefix);
  const others = [lab.loadBalancer.vip, ...lab.hosts.filter((h) => h !== host).map((h) => h.ip)];
  return [...new Set(others.filter((ip) => ip !== host.gateway && inHostSubnet(ip)))];
}

function configureHostIface(lab: Lab, host: Host): PlanStep {
  const netns = hostNetns(lab, host);
  const dev = host.iface;
  return {
    kind: "configure-host-iface",
    title: `host ${host.name}: ${dev} ${host.ip}/${host.prefix} ${host.mac}, via ${host.gateway}`,
    host: host.name,
    netns,
    iface: dev,
    creates: [],
    run: hostIfaceArgv(lab, host, (argv) => inNetns(netns, argv)),
    undo: [],
  };
}

/**
 * The commands that give a host's interface its MAC, address, static ARP entries and default
 * route, each wrapped by `inside` to run in the namespace holding the interface (the host's own,
 * or the pod's that took a slot: lib/kubernetes/cni/).
 */
export function hostIfaceArgv(
  lab: Lab,
  host: Host,
  inside: (argv: string[]) => string[],
): string[][] {
  const dev = host.iface;
  const neighbour = (ip: string) =>
    inside([
      "ip",
      "neigh",
      "replace",
      ip,
      "lladdr",
      host.gatewayMac,
      "dev",
      dev,
      "nud",
      "permanent",
    ]);
  return [
    inside(["ip", "link", "set", "dev", dev, "address", host.mac]),
    inside(["ethtool", "-K", dev, ...OFFLOADS_OFF]),
    inside(["ip", "addr", "add", `${host.ip}/${host.prefix}`, "dev", dev]),
    inside(["ip", "link", "set", "dev", dev, "up"]),
    neighbour(host.gateway),
    ...onLinkNeighbours(lab, host).map(neighbour),
    inside(["ip", "route", "add", "default", "via", host.gateway, "dev", dev]),
  ];
}

/** `ip link add` of a host's veth pair: `iface` here, its peer `peer` in namespace `netns`. */
export function vethArgv(iface: string, peer: string, netns: string): string[] {
  return ["ip", "link", "add", iface, "type", "veth", "peer", "name", peer, "netns", netns];
}

function portOf(sw: Switch, port: number) {
  const p = sw.ports.find((x) => x.port === port);
  if (!p) throw new Error(`Switch ${sw.name} has no port ${port}`);
  return p;
}

function startSwitchStep(lab: Lab, runDir: string, sw: Switch): PlanStep {
  const pidFile = switchPidFile(runDir, sw.name);
  const creates: LabObject[] = sw.kind === "bmv2-container"
    ? [{ kind: "container", name: sw.container ?? `${labId(lab)}-${sw.name}` }]
    : [{ kind: "process", name: sw.name, pidFile, comm: "simple_switch_grpc" }];
  const ports = sw.ports.map((p) => `${p.port}@${p.iface}`).join(" ");
  return {
    kind: "start-switch",
    title:
      `switch ${sw.name}: start ${sw.kind} (device ${sw.deviceId}, gRPC ${sw.grpcPort}, ports ${ports})`,
    switch: sw,
    pidFile,
    logFile: switchLogFile(runDir, sw.name),
    creates,
    run: [],
    undo: undoOf(creates),
  };
}

function guardSwitchPortsStep(lab: Lab): PlanStep {
  const ports = lab.switches.flatMap((sw) => [sw.grpcPort, sw.thriftPort]);
  const creates: LabObject[] = [{ kind: "nft-table", name: portGuardTable(labId(lab)) }];
  return {
    kind: "guard-switch-ports",
    title: `switch ports ${ports.join(", ")}: root only (nftables ${creates[0].name})`,
    ports,
    creates,
    run: [portGuardArgv(labId(lab), ports)],
    undo: undoOf(creates),
  };
}

export interface PlanOptions {
  /** Leave out the switch start steps (topology only). */
  withoutSwitches?: boolean;
}

/**
 * Plans a lab: per host its namespace (or pod), veth pair and addresses; then switch-to-switch
 * links; then the switches. Pure: the same lab always gives the same steps.
 */
export function planLab(lab: Lab, options: PlanOptions = {}): Plan {
  labId(lab); // fails early for a hand-made Lab without an id
  const runDir = lab.runDir ?? `.run/labs/${lab.name}`;
  const steps: PlanStep[] = [];
  const switches = new Map(lab.switches.map((s) => [s.name, s]));
  for (const host of lab.hosts) {
    steps.push(...hostNamespaceSteps(lab, host));
    const sw = switches.get(host.switch);
    if (!sw) throw new Error(`Host ${host.name} is cabled to unknown switch ${host.switch}`);
    const iface = portOf(sw, host.switchPort).iface;
    const netns = hostNetns(lab, host);
    const creates: LabObject[] = [{ kind: "link", name: iface }];
    steps.push({
      kind: "create-veth",
      title:
        `link ${host.name} -- ${sw.name}:${host.switchPort} (${iface} <-> ${netns}/${host.iface})`,
      iface,
      peer: host.iface,
      peerNetns: netns,
      creates,
      run: [vethArgv(iface, host.iface, netns)],
      undo: undoOf(creates),
    });
    steps.push(configureSwitchIface(iface), configureHostIface(lab, host));
  }
  for (const sw of lab.switches) {
    for (const p of sw.ports) {
      if (p.peer.kind !== "switch") continue;
      const other = switches.get(p.peer.switch);
      if (!other) {
        throw new Error(`Switch ${sw.name} port ${p.port} is cabled to unknown ${p.peer.switch}`);
      }
      // Each switch-switch link appears on both switches: create it from the first one only.
      const otherIndex = lab.switches.indexOf(other);
      if (otherIndex < lab.switches.indexOf(sw)) continue;
      const peer = portOf(other, p.peer.port).iface;
      const creates: LabObject[] = [{ kind: "link", name: p.iface, peer }];
      steps.push({
        kind: "create-veth",
        title: `link ${sw.name}:${p.port} -- ${other.name}:${p.peer.port} (${p.iface} <-> ${peer})`,
        iface: p.iface,
        peer,
        creates,
        run: [["ip", "link", "add", p.iface, "type", "veth", "peer", "name", peer]],
        undo: undoOf(creates),
      });
      steps.push(configureSwitchIface(p.iface), configureSwitchIface(peer));
    }
  }
  if (!options.withoutSwitches && lab.switches.length) {
    steps.push(guardSwitchPortsStep(lab));
    for (const sw of lab.switches) steps.push(startSwitchStep(lab, runDir, sw));
  }
  return { lab, runDir, steps };
}
