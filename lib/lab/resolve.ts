/**
 * Turns a structurally checked {@link LabFile} into the fully explicit {@link Lab}: applies the
 * defaults (kinds, MACs, gateways, interface names, device ids, ports) and checks what needs the
 * whole lab: duplicate names, addresses and MACs, subnets, dangling or doubly used links,
 * backends, workloads, and that every derived Linux name fits.
 *
 * @module
 */
import { formatIpv4, inSubnet, parseIpv4 } from "../net/addr.ts";
import { DEFAULT_QUEUE_DEPTH, type Endpoint, type LabFile, type LinkEntry } from "./format.ts";
import type { FieldPath, LabIssue } from "./issues.ts";
import {
  containerName,
  DEFAULT_HOST_IFACE,
  defaultGateway,
  defaultSwitchPorts,
  deriveHostMac,
  deriveLabId,
  derivePortMac,
  IFNAME_MAX,
  LAB_ID_PATTERN,
  netnsName,
  podName,
  portIfaceName,
  subnetBounds,
} from "./naming.ts";
import { labRunDir, labsRunRoot } from "./paths.ts";
import { suggestionHint } from "./suggest.ts";
import type {
  Host,
  Lab,
  Machine,
  PortPeer,
  Switch,
  SwitchPort,
  Underlay,
  Workload,
} from "./types.ts";
import { checkName, IssueList } from "./validate.ts";
import { fnv1a } from "../hash.ts";

export interface ResolveOptions {
  /** Absolute path of the lab file (the default lab name is its base name). */
  file: string;
  /** Parent of the lab's run directory (default `.run/labs/` in the repository). */
  runRoot?: string;
}

/** A connection recorded while resolving links, before switch ports exist. */
interface PortUse {
  sw: string;
  port: number;
  peer: PortPeer;
  path: FieldPath;
}

function fileStem(file: string): string {
  const base = file.split("/").pop() ?? file;
  return base.replace(/\.ya?ml$/, "");
}

/**
 * Applies defaults and cross-checks the lab. Returns the lab only when there are no issues.
 */
export function resolveLab(
  file: LabFile,
  options: ResolveOptions,
): { lab?: Lab; issues: LabIssue[] } {
  const issues = new IssueList();
  let name = file.name;
  if (name === undefined) {
    const stem = fileStem(options.file);
    if (checkName(issues, stem, ["name"], "lab (taken from the file name)")) name = stem;
  }
  const id = file.id ?? (name ? deriveLabId(name) : undefined);
  if (file.id === undefined && id !== undefined && !LAB_ID_PATTERN.test(id)) {
    issues.add(
      ["id"],
      `the id derived from the lab name, ${JSON.stringify(id)}, is not usable`,
      "add id: <1-5 letters/digits>",
    );
  }
  const labId = id ?? "lab";

  checkDuplicateNames(issues, file);

  const hosts = resolveHosts(issues, file, labId);
  const switches = resolveSwitches(issues, file, labId);
  const uses = resolveLinks(issues, file, hosts, switches);
  const ports = buildPorts(issues, labId, switches, uses);
  for (const sw of switches) sw.ports = ports.get(sw.name) ?? [];
  for (const host of hosts.values()) {
    const use = uses.find((u) => u.peer.kind === "host" && u.peer.host === host.name);
    if (!use) {
      issues.add(
        ["hosts", host.name],
        "is not linked to a switch",
        `add - [${host.name}, <switch>:<port>] to links`,
      );
      continue;
    }
    host.switch = use.sw;
    host.switchPort = use.port;
    host.gatewayMac = ports.get(use.sw)?.find((p) => p.port === use.port)?.mac ?? "";
  }
  checkAddresses(issues, file, [...hosts.values()]);

  const lb = file.loadBalancer;
  let loadBalancer: Lab["loadBalancer"] | undefined;
  if (lb && switches.length) {
    const lbSwitch = lb.switch ?? switches[0].name;
    if (!switches.some((s) => s.name === lbSwitch)) {
      issues.add(
        ["load_balancer", "switch"],
        `${JSON.stringify(lbSwitch)} is not a switch`,
        suggestionHint(lbSwitch, switches.map((s) => s.name), "switches"),
      );
    } else checkReachable(issues, lbSwitch, [...hosts.values()], switches);
    const seen = new Set<string>();
    lb.backends.forEach((b, i) => {
      if (seen.has(b)) {
        issues.add(["load_balancer", "backends", i], `${JSON.stringify(b)} is listed twice`);
      }
      seen.add(b);
      if (!hosts.has(b)) {
        const isSwitch = switches.some((s) => s.name === b);
        issues.add(
          ["load_balancer", "backends", i],
          `${JSON.stringify(b)} is ${isSwitch ? "a switch, not a host" : "not a host"}`,
          suggestionHint(b, [...hosts.keys()], "hosts"),
        );
      }
    });
    if (lb.vip && lb.port !== undefined) {
      loadBalancer = {
        switch: lbSwitch,
        vip: lb.vip.text,
        servicePort: lb.port,
        backends: [...lb.backends],
      };
    }
  }

  const workloads = resolveWorkloads(issues, file, hosts, labId, lb?.backends ?? []);
  const machines = resolveMachines(issues, file, hosts, labId);

  if (issues.items.length || !name || !loadBalancer) {
    return { issues: issues.items };
  }
  return {
    issues: [],
    lab: {
      name,
      id: labId,
      runDir: labRunDir(name, options.runRoot ?? labsRunRoot()),
      description: file.description ?? "",
      runtime: machines ? "machines" : file.runtime ?? "local",
      file: options.file,
      hosts: [...hosts.values()],
      switches,
      loadBalancer,
      workloads,
      ...(machines ?? {}),
    },
  };
}

function checkDuplicateNames(issues: IssueList, file: LabFile): void {
  const owners = new Map<string, string>();
  const sections: [string, { name: string }[]][] = [
    ["hosts", file.hosts],
    ["switches", file.switches],
    ["workloads", file.workloads],
    ["machines", file.machines ?? []],
  ];
  for (const [section, entries] of sections) {
    for (const { name } of entries) {
      const other = owners.get(name);
      if (other) {
        issues.add(
          [section, name],
          `duplicates the name ${JSON.stringify(name)} of ${other}`,
          "hosts, switches and workloads need distinct names (they name pods, containers and interfaces)",
        );
      } else owners.set(name, `${section}.${name}`);
      if (name.endsWith("-infra")) {
        issues.add(
          [section, name],
          "ends with -infra, which is reserved for pod infra containers",
          "choose another name",
        );
      }
    }
  }
}

function resolveHosts(issues: IssueList, file: LabFile, labId: string): Map<string, Host> {
  const hosts = new Map<string, Host>();
  for (const h of file.hosts) {
    if (!h.ip) continue;
    const path = ["hosts", h.name];
    const { ip, prefix } = { ip: h.ip.addr, prefix: h.ip.prefix };
    const { network, broadcast } = subnetBounds(ip, prefix);
    if (ip === network || ip === broadcast) {
      issues.add(
        [...path, "ip"],
        `${JSON.stringify(h.ip.text)} is the ${
          ip === network ? "network" : "broadcast"
        } address of its subnet`,
        "pick an address inside the subnet",
      );
    }
    const gateway = h.gateway?.text ?? defaultGateway(ip, prefix);
    const gw = parseIpv4(gateway) ?? 0;
    if (!inSubnet(gw, ip, prefix)) {
      issues.add(
        [...path, "gateway"],
        `${JSON.stringify(gateway)} is outside the host's subnet ${formatIpv4(network)}/${prefix}`,
        "the gateway must be in the same subnet as ip",
      );
    } else if (gw === ip || gw === network || gw === broadcast) {
      issues.add(
        [...path, "gateway"],
        `${JSON.stringify(gateway)} is the host's own, network or broadcast address`,
        "leave gateway out to use the subnet's .254 (last usable) address",
      );
    }
    const kind = h.kind ?? file.defaults.hostKind ??
      (file.runtime === "kubernetes" ? "slot" : "netns");
    if ((kind === "slot") !== (file.runtime === "kubernetes")) {
      issues.add(
        ["hosts", h.name, "kind"],
        kind === "slot"
          ? "a slot host is for pods of a Kubernetes lab"
          : `a ${kind} host cannot be part of a Kubernetes lab (its pods take slots)`,
        kind === "slot" ? "add runtime: kubernetes, or use kind: netns or pod" : "use kind: slot",
      );
    }
    hosts.set(h.name, {
      name: h.name,
      kind,
      ip: formatIpv4(ip),
      prefix,
      mac: h.mac ?? deriveHostMac(ip),
      iface: h.iface ?? DEFAULT_HOST_IFACE,
      gateway,
      gatewayMac: "",
      switch: "",
      switchPort: -1,
      netns: netnsName(labId, h.name),
      ...(kind === "pod" ? { pod: podName(labId, h.name) } : {}),
    });
  }
  return hosts;
}

function resolveSwitches(issues: IssueList, file: LabFile, labId: string): Switch[] {
  const switches: Switch[] = [];
  const used = { deviceId: new Map<number, string>(), tcp: new Map<number, string>() };
  file.switches.forEach((s, i) => {
    const sw: Switch = {
      name: s.name,
      kind: s.kind ?? file.defaults.switchKind ?? "bmv2",
      deviceId: s.deviceId ?? i,
      grpcPort: s.grpcPort ?? defaultSwitchPorts(labId, i).grpc,
      thriftPort: s.thriftPort ?? defaultSwitchPorts(labId, i).thrift,
      queueDepth: s.queueDepth ?? DEFAULT_QUEUE_DEPTH,
      ports: [],
    };
    if (sw.kind === "bmv2-container") sw.container = containerName(labId, s.name);
    const path = ["switches", s.name];
    const other = used.deviceId.get(sw.deviceId);
    if (other) {
      issues.add(
        [...path, "device_id"],
        `${sw.deviceId} is also the device id of ${other}`,
        "give each switch its own device_id",
      );
    }
    used.deviceId.set(sw.deviceId, s.name);
    for (
      const [key, port] of [["grpc_port", sw.grpcPort], ["thrift_port", sw.thriftPort]] as const
    ) {
      const owner = used.tcp.get(port);
      if (owner) {
        issues.add(
          [...path, key],
          `${port} is also used by ${owner}`,
          "give every switch distinct grpc_port and thrift_port values",
        );
      }
      used.tcp.set(port, `${s.name} (${key})`);
    }
    switches.push(sw);
  });
  return switches;
}

function resolveLinks(
  issues: IssueList,
  file: LabFile,
  hosts: Map<string, Host>,
  switches: Switch[],
): PortUse[] {
  const hostNames = new Set(file.hosts.map((h) => h.name));
  const switchNames = new Set(switches.map((s) => s.name));
  const allNames = [...hostNames, ...switchNames];
  const taken = new Map<string, FieldPath>(); // "sw:port" -> where first used
  const hostLinked = new Map<string, FieldPath>();
  type Side = { end: Endpoint; path: FieldPath; isHost: boolean };
  const pending: { link: LinkEntry; sides: [Side, Side] }[] = [];

  for (const link of file.links) {
    const sides = link.ends.map((end, k): Side | undefined => {
      const path: FieldPath = ["links", link.index, k];
      if (end.port !== undefined && switchNames.has(end.node)) return { end, path, isHost: false };
      if (hostNames.has(end.node)) {
        if (end.port !== undefined) {
          issues.add(
            path,
            `${JSON.stringify(end.text)}: hosts have a single interface, so no port`,
            `write just ${end.node}`,
          );
          return undefined;
        }
        return { end, path, isHost: true };
      }
      if (switchNames.has(end.node)) return { end, path, isHost: false };
      issues.add(
        path,
        `${JSON.stringify(end.text)} names no host or switch`,
        suggestionHint(end.node, allNames, "hosts and switches"),
      );
      return undefined;
    });
    const [a, b] = sides;
    if (!a || !b) continue;
    if (a.isHost && b.isHost) {
      issues.add(["links", link.index], "links two hosts", "cable every host to a switch port");
      continue;
    }
    if (!a.isHost && !b.isHost && a.end.node === b.end.node) {
      issues.add(
        ["links", link.index],
        `links switch ${a.end.node} to itself`,
        "connect two different switches",
      );
      continue;
    }
    let ok = true;
    for (const side of [a, b]) {
      if (side.isHost) {
        const first = hostLinked.get(side.end.node);
        if (first) {
          ok = false;
          issues.add(
            side.path,
            `host ${side.end.node} is already linked (at links${pathTail(first)})`,
            "a host has one interface: link it once",
          );
        } else if (hosts.has(side.end.node)) hostLinked.set(side.end.node, side.path);
      } else if (side.end.port !== undefined) {
        const key = `${side.end.node}:${side.end.port}`;
        const first = taken.get(key);
        if (first) {
          ok = false;
          issues.add(
            side.path,
            `port ${key} is already used (at links${pathTail(first)})`,
            "use each switch port once",
          );
        } else taken.set(key, side.path);
      }
    }
    if (ok) pending.push({ link, sides: [a, b] });
  }

  // Ends without a port get the lowest port of their switch that no link names, in link order.
  const portOf = (side: Side): number => {
    if (side.end.port !== undefined) return side.end.port;
    let p = 1;
    while (taken.has(`${side.end.node}:${p}`)) p++;
    taken.set(`${side.end.node}:${p}`, side.path);
    side.end.port = p;
    return p;
  };
  const uses: PortUse[] = [];
  for (const { sides: [a, b] } of pending) {
    if (a.isHost || b.isHost) {
      const [h, s] = a.isHost ? [a, b] : [b, a];
      uses.push({
        sw: s.end.node,
        port: portOf(s),
        peer: { kind: "host", host: h.end.node },
        path: s.path,
      });
    } else {
      const pa = portOf(a);
      const pb = portOf(b);
      uses.push({
        sw: a.end.node,
        port: pa,
        peer: { kind: "switch", switch: b.end.node, port: pb },
        path: a.path,
      });
      uses.push({
        sw: b.end.node,
        port: pb,
        peer: { kind: "switch", switch: a.end.node, port: pa },
        path: b.path,
      });
    }
  }
  return uses;
}

function pathTail(path: FieldPath): string {
  return path.slice(1).map((p) => `[${p}]`).join("");
}

function buildPorts(
  issues: IssueList,
  labId: string,
  switches: Switch[],
  uses: PortUse[],
): Map<string, SwitchPort[]> {
  const ports = new Map<string, SwitchPort[]>();
  for (const use of uses) {
    const sw = switches.find((s) => s.name === use.sw);
    if (!sw) continue;
    const iface = portIfaceName(labId, sw.name, use.port);
    if (iface.length > IFNAME_MAX) {
      issues.add(
        use.path,
        `gives switch port interface ${
          JSON.stringify(iface)
        } (${iface.length} characters; Linux allows ${IFNAME_MAX})`,
        "shorten the lab id (id: ...) or the switch name",
      );
    }
    const list = ports.get(sw.name) ?? [];
    list.push({ port: use.port, iface, mac: derivePortMac(sw.deviceId, use.port), peer: use.peer });
    ports.set(sw.name, list);
  }
  for (const list of ports.values()) list.sort((a, b) => a.port - b.port);
  return ports;
}

function checkAddresses(issues: IssueList, file: LabFile, hosts: Host[]): void {
  const ips = new Map<string, string>();
  for (const h of hosts) {
    const other = ips.get(h.ip);
    if (other) {
      issues.add(
        ["hosts", h.name, "ip"],
        `${h.ip} is also the address of ${other}`,
        "give every host its own address",
      );
    } else ips.set(h.ip, `host ${h.name}`);
  }
  for (const h of hosts) {
    const owner = ips.get(h.gateway);
    if (owner) {
      issues.add(
        ["hosts", h.name, "gateway"],
        `${h.gateway} is the address of ${owner}`,
        "the gateway must not be a host's address",
      );
    }
  }
  const vip = file.loadBalancer?.vip?.text;
  if (vip !== undefined) {
    const vipNorm = formatIpv4(parseIpv4(vip) ?? 0);
    const host = ips.get(vipNorm);
    const gwOf = hosts.find((h) => h.gateway === vipNorm);
    if (host) {
      issues.add(
        ["load_balancer", "vip"],
        `${vip} collides with the address of ${host}`,
        "the VIP must be an address no host uses",
      );
    } else if (gwOf) {
      issues.add(
        ["load_balancer", "vip"],
        `${vip} collides with the gateway of host ${gwOf.name}`,
        "pick a VIP outside the hosts' gateways, e.g. 10.0.0.100",
      );
    }
  }
  const macs = new Map<string, string>();
  for (const h of hosts) {
    const other = macs.get(h.mac);
    if (other) {
      issues.add(
        ["hosts", h.name, "mac"],
        `${h.mac} is also the MAC of ${other}`,
        "give every host its own MAC, or leave mac out to derive it from the address",
      );
    } else macs.set(h.mac, `host ${h.name}`);
  }
  for (const h of hosts) {
    if (h.gatewayMac && macs.has(h.gatewayMac)) {
      issues.add(
        ["hosts", h.name, "mac"],
        `${h.gatewayMac} is the MAC of switch port ${h.switch}:${h.switchPort}`,
        "leave mac out to derive it from the address",
      );
    }
  }
}

function checkReachable(
  issues: IssueList,
  lbSwitch: string,
  hosts: Host[],
  switches: Switch[],
): void {
  const adjacent = new Map<string, Set<string>>(switches.map((s) => [s.name, new Set()]));
  for (const sw of switches) {
    for (const p of sw.ports) {
      if (p.peer.kind === "switch") adjacent.get(sw.name)?.add(p.peer.switch);
    }
  }
  const seen = new Set([lbSwitch]);
  const queue = [lbSwitch];
  while (queue.length) {
    for (const next of adjacent.get(queue.shift()!) ?? []) {
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  for (const h of hosts) {
    if (h.switch && !seen.has(h.switch)) {
      issues.add(
        ["hosts", h.name],
        `is on switch ${h.switch}, which has no path to the load balancer switch ${lbSwitch}`,
        `link ${h.switch} to ${lbSwitch} (directly or through other switches)`,
      );
    }
  }
}

function resolveWorkloads(
  issues: IssueList,
  file: LabFile,
  hosts: Map<string, Host>,
  labId: string,
  backends: string[],
): Workload[] {
  const workloads: Workload[] = [];
  for (const w of file.workloads) {
    const path = ["workloads", w.name];
    if (!w.host || !w.command) continue;
    const host = hosts.get(w.host);
    if (!host) {
      issues.add(
        [...path, "host"],
        `${JSON.stringify(w.host)} is not a host`,
        suggestionHint(w.host, [...hosts.keys()], "hosts"),
      );
      continue;
    }
    const kind = w.kind ?? (host.kind === "netns" ? "process" : "container");
    if (kind === "container" && host.kind === "netns") {
      issues.add(
        [...path, "kind"],
        `a container needs a pod host, but ${host.name} is a netns host`,
        `set hosts.${host.name}.kind: pod, or kind: process`,
      );
    }
    if (kind === "process" && host.kind !== "netns") {
      issues.add(
        [...path, "kind"],
        `a process needs a netns host, but ${host.name} is a ${host.kind} host`,
        "use kind: container",
      );
    }
    const pool = [host.name, ...(w.hosts ?? []).filter((h) => h !== host.name)];
    (w.hosts ?? []).forEach((h, i) => {
      const other = hosts.get(h);
      if (!other) {
        issues.add(
          [...path, "hosts", i],
          `${JSON.stringify(h)} is not a host`,
          suggestionHint(h, [...hosts.keys()], "hosts"),
        );
      } else if (other.kind !== host.kind) {
        issues.add(
          [...path, "hosts", i],
          `${h} is a ${other.kind} host, ${host.name} a ${host.kind}`,
        );
      }
    });
    if (kind === "container" && !w.image) {
      issues.add(
        [...path, "image"],
        "is missing",
        "a container workload needs image: <locally built image>",
      );
    }
    const role = w.role ?? (backends.includes(host.name) ? "server" : "client");
    if (role === "server" && !backends.includes(host.name)) {
      issues.add(
        [...path, "host"],
        `server ${w.name} starts on ${host.name}, which is not a load balancer backend`,
        `add ${host.name} to load_balancer.backends or move the server`,
      );
    }
    workloads.push({
      name: w.name,
      host: host.name,
      kind,
      role,
      ...(w.image ? { image: w.image } : {}),
      command: w.command,
      ...(kind === "container" ? { container: containerName(labId, w.name) } : {}),
      hosts: pool,
    });
  }
  return workloads;
}

/** Machine-side interface names: `<id>-<machine>-ul` must fit Linux's limit. */
function underlayIfaceName(labId: string, machine: string): string {
  return `${labId}-${machine}-ul`;
}

/**
 * The default underlay subnet: a /24 in 172.30.0.0/16 derived from the lab id, so two labs with
 * machines can be up side by side (a clash is refused by `ip` when the bridge gets its address).
 */
function defaultUnderlay(labId: string): { addr: number; prefix: number } {
  return { addr: parseIpv4(`172.30.${fnv1a(labId) % 256}.0`)!, prefix: 24 };
}

/**
 * The machines of a lab with `machines`: which one is the switches' (the root machine, this
 * one), the others' namespaces, underlay links and addresses, and every host's machine. Checks
 * the names hosts and switches give, that the switches share one machine, and that the underlay
 * fits and overlaps no host's subnet. Undefined for a lab without machines.
 */
function resolveMachines(
  issues: IssueList,
  file: LabFile,
  hosts: Map<string, Host>,
  labId: string,
): { machines: Machine[]; underlay: Underlay } | undefined {
  const entries = file.machines;
  const named = [
    ...file.hosts.filter((h) => h.machine !== undefined).map((h) => ["hosts", h.name] as const),
    ...file.switches.filter((s) => s.machine !== undefined).map((s) =>
      ["switches", s.name] as const
    ),
  ];
  if (!entries) {
    for (const [section, name] of named) {
      issues.add(
        [section, name, "machine"],
        "names a machine, but the lab declares no machines",
        "add machines: { m1: {}, m2: { rate: 1gbit } } (the first is the switches' machine)",
      );
    }
    if (file.underlay) {
      issues.add(["underlay"], "is set, but the lab declares no machines", "add machines: ...");
    }
    return undefined;
  }
  if (!entries.length) return undefined;
  if (file.runtime === "kubernetes") {
    issues.add(
      ["machines"],
      "a Kubernetes lab runs on one machine",
      "remove machines, or use runtime: local",
    );
  }
  const names = entries.map((m) => m.name);
  const known = (value: string | undefined, path: FieldPath): boolean => {
    if (value === undefined || names.includes(value)) return true;
    issues.add(
      path,
      `${JSON.stringify(value)} is not a machine`,
      suggestionHint(value, names, "machines"),
    );
    return false;
  };
  const switchMachines = new Set<string>();
  for (const s of file.switches) {
    if (known(s.machine, ["switches", s.name, "machine"])) {
      switchMachines.add(s.machine ?? names[0]);
    }
  }
  if (switchMachines.size > 1) {
    issues.add(
      ["switches"],
      `the switches are on different machines (${[...switchMachines].join(", ")})`,
      "put every switch on one machine: hosts elsewhere reach it through tunnels",
    );
  }
  const rootName = [...switchMachines][0] ?? names[0];
  let podByDefault = 0; // defaults.host_kind: pod is reported once
  for (const h of file.hosts) {
    const host = hosts.get(h.name);
    if (!known(h.machine, ["hosts", h.name, "machine"]) || !host) continue;
    host.machine = h.machine ?? rootName;
    if (host.kind !== "netns" && (h.kind || !podByDefault++)) {
      issues.add(
        [h.kind ? "hosts" : "defaults", ...(h.kind ? [h.name, "kind"] : ["host_kind"])],
        `a ${host.kind} host cannot be part of a lab with machines`,
        "Podman's storage is one machine's, so a container could not cross the underlay " +
          "(and Podman 4.3 restores none with lazy pages): use kind: netns",
      );
    }
  }

  const subnet = file.underlay ?? defaultUnderlay(labId);
  const { network, broadcast } = subnetBounds(subnet.addr, subnet.prefix);
  if (network + entries.length >= broadcast) {
    issues.add(
      ["underlay"],
      `${
        formatIpv4(network)
      }/${subnet.prefix} has too few addresses for ${entries.length} machines`,
      "use a larger subnet",
    );
  }
  for (const host of hosts.values()) {
    const hostNet = parseIpv4(host.ip) ?? 0;
    const prefix = Math.min(host.prefix, subnet.prefix);
    if (inSubnet(hostNet, network, prefix) || inSubnet(network, hostNet, prefix)) {
      issues.add(
        [file.underlay ? "underlay" : "machines"],
        `the underlay ${formatIpv4(network)}/${subnet.prefix} overlaps host ${host.name}'s ` +
          `subnet ${host.ip}/${host.prefix}`,
        "set underlay: to a subnet no host uses, e.g. underlay: 172.30.7.0/24",
      );
      break;
    }
  }
  // The root machine takes the first address, the others the next ones in file order.
  const ordered = [
    ...entries.filter((m) => m.name === rootName),
    ...entries.filter((m) => m.name !== rootName),
  ];
  const machines = ordered.map((m, i): Machine => {
    const root = m.name === rootName;
    const iface = underlayIfaceName(labId, m.name);
    if (!root && iface.length > IFNAME_MAX) {
      issues.add(
        ["machines", m.name],
        `gives underlay interface ${JSON.stringify(iface)} (${iface.length} characters; ` +
          `Linux allows ${IFNAME_MAX})`,
        "shorten the machine's name or the lab id",
      );
    }
    return {
      name: m.name,
      root,
      ...(root ? {} : { netns: netnsName(labId, m.name), underlayIface: iface }),
      underlayIp: formatIpv4(network + 1 + i),
      ...(m.rate ? { rate: m.rate.text, rateBitS: m.rate.bitS } : {}),
      ...(m.delay ? { delay: m.delay.text, delayMs: m.delay.ms } : {}),
    };
  });
  return {
    machines,
    underlay: { subnet: formatIpv4(network), prefix: subnet.prefix, bridge: `${labId}-ul` },
  };
}
