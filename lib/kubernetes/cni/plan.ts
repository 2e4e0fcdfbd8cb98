/**
 * What the plugin runs, as pure argv lists: moving a slot's interface into a pod's namespace and
 * configuring it there exactly as the topology configures the slot (same MAC, address, static
 * ARP and route), moving it back on DEL, and re-creating the veth pair when the pod's namespace
 * took it with it. Also the ADD result and the CHECK comparison. Kept pure so the exact commands
 * are tested without root; `main.ts` is the one place that runs them.
 *
 * @module
 */
import type { Host, Lab } from "../../lab/types.ts";
import { inNetns } from "../../shell.ts";
import { hostIfaceArgv, OFFLOADS_OFF, vethArgv } from "../../topology/plan.ts";
import { CNI_CODES, CniError } from "./args.ts";

/** Wraps argv to run in a namespace (a path: `/var/run/netns/x`, `/proc/<pid>/ns/net`). */
export type Inside = (argv: string[]) => string[];

/** Runs argv in the pod's network namespace, given as the path in CNI_NETNS. */
export function inPod(netnsPath: string): Inside {
  return (argv) => ["nsenter", `--net=${netnsPath}`, "--", ...argv];
}

/** Runs argv in a slot's parking namespace (`/run/netns/<netns>`). */
export function inParking(lab: Lab, host: Host): Inside {
  return (argv) => inNetns(parkingNetns(lab, host), argv);
}

/** A slot's parking namespace name, e.g. `k8s-h2`. */
export function parkingNetns(lab: Lab, host: Host): string {
  return host.netns ?? `${lab.id}-${host.name}`;
}

/** The switch-side interface a slot is cabled to (BMv2 binds it), e.g. `k8s-s1-eth2`. */
export function switchIface(lab: Lab, host: Host): string {
  const port = lab.switches.find((s) => s.name === host.switch)?.ports
    .find((p) => p.port === host.switchPort);
  if (!port) {
    throw new CniError(
      CNI_CODES.invalidConfig,
      `Slot ${host.name} is cabled to ${host.switch}:${host.switchPort}, which lab ${lab.name} lacks`,
      `check the links of ${lab.file}`,
    );
  }
  return port.iface;
}

/**
 * How `ip link set ... netns <target>` names a namespace given by path: a name under /run/netns
 * (`/var/run/netns/x` and `/run/netns/x` give `x`), a pid (`/proc/<pid>/ns/net`), or the path
 * itself (iproute2 opens a target containing a slash as a file: CRI-O pins namespaces under its
 * own `namespaces_dir`).
 *
 * @throws {CniError} code 4 for a path that is not absolute or not normal.
 */
export function netnsTarget(path: string): string {
  const named = /^\/(?:var\/)?run\/netns\/([^/]+)$/.exec(path);
  if (named && named[1] !== "." && named[1] !== "..") return named[1];
  const pid = /^\/proc\/([1-9]\d*)\/ns\/net$/.exec(path);
  if (pid) return pid[1];
  const parts = path.split("/");
  if (
    path.startsWith("/") && !path.endsWith("/") && !parts.includes("..") && !parts.includes(".")
  ) {
    return path;
  }
  throw new CniError(
    CNI_CODES.invalidEnvironment,
    `CNI_NETNS ${JSON.stringify(path)} is not an absolute path to a network namespace`,
    "the runtime must pass the pod's namespace as an absolute path (e.g. /var/run/netns/<name>)",
  );
}

/**
 * Commands that give `host`'s interface, named `ifname` in the namespace `inside` enters, the
 * slot's configuration. Starts from a clean interface (addresses, and with them routes,
 * flushed), so it also repairs an interface left half-configured; IPv6 goes off first.
 */
export function configureArgv(
  lab: Lab,
  host: Host,
  inside: Inside,
  ifname: string = host.iface,
): string[][] {
  // The topology's own commands, for the slot renamed as the pod wants it (the lab's other hosts
  // stay as they are: they are the slot's static ARP neighbours).
  const named = { ...host, iface: ifname };
  const renamed = { ...lab, hosts: lab.hosts.map((h) => h === host ? named : h) };
  return [
    inside(["ip", "addr", "flush", "dev", ifname]),
    inside(["sysctl", "-q", "-w", `net.ipv6.conf.${ifname}.disable_ipv6=1`]),
    ...hostIfaceArgv(renamed, named, inside),
  ];
}

/** Where an ADD or DEL finds the pod. */
export interface PodNet {
  /** CNI_NETNS. */
  netns: string;
  /** CNI_IFNAME. */
  ifname: string;
}

/**
 * ADD: prepare the pod's namespace (lo up, IPv6 off, before any interface arrives so none
 * inherits IPv6), move the slot's interface in under the name the pod wants, configure it.
 */
export function addArgv(lab: Lab, host: Host, pod: PodNet): string[][] {
  const inside = inPod(pod.netns);
  return [
    inside(["ip", "link", "set", "dev", "lo", "up"]),
    inside([
      "sysctl",
      "-q",
      "-w",
      "net.ipv6.conf.all.disable_ipv6=1",
      "net.ipv6.conf.default.disable_ipv6=1",
    ]),
    inParking(lab, host)([
      "ip",
      "link",
      "set",
      "dev",
      host.iface,
      "netns",
      netnsTarget(pod.netns),
      "name",
      pod.ifname,
    ]),
    ...configureArgv(lab, host, inside, pod.ifname),
  ];
}

/**
 * DEL: move the interface back into the parking namespace under its slot name and configure the
 * slot again (a move drops addresses and routes), so BMv2's port keeps a configured peer.
 */
export function delArgv(lab: Lab, host: Host, pod: PodNet): string[][] {
  return [
    inPod(pod.netns)([
      "ip",
      "link",
      "set",
      "dev",
      pod.ifname,
      "netns",
      parkingNetns(lab, host),
      "name",
      host.iface,
    ]),
    ...configureSlotArgv(lab, host),
  ];
}

/** The slot's configuration in its parking namespace (the topology's own, re-applied). */
export function configureSlotArgv(lab: Lab, host: Host): string[][] {
  return configureArgv(lab, host, inParking(lab, host));
}

/**
 * A veth pair dies with the namespace of either end: when a pod's namespace went away holding the
 * slot's interface, this re-creates the pair (switch side in the machine's namespace, slot side
 * parked) and configures both ends as the topology does.
 */
export function recreateVethArgv(lab: Lab, host: Host): string[][] {
  const iface = switchIface(lab, host);
  return [
    vethArgv(iface, host.iface, parkingNetns(lab, host)),
    ["sysctl", "-q", "-w", `net.ipv6.conf.${iface}.disable_ipv6=1`],
    ["ethtool", "-K", iface, ...OFFLOADS_OFF],
    ["ip", "link", "set", "dev", iface, "up"],
    ...configureSlotArgv(lab, host),
  ];
}

/** Argv that exits 0 when `ifname` exists in the namespace `inside` enters. */
export function linkExistsArgv(inside: Inside, ifname: string): string[] {
  return inside(["ip", "link", "show", "dev", ifname]);
}

/** Argv printing the interface's addresses as JSON (for CHECK). */
export function addrShowArgv(inside: Inside, ifname: string): string[] {
  return inside(["ip", "-j", "addr", "show", "dev", ifname]);
}

/** Argv printing the namespace's IPv4 default routes as JSON (for CHECK). */
export function defaultRouteArgv(inside: Inside): string[] {
  return inside(["ip", "-j", "-4", "route", "show", "default"]);
}

/** The ADD result (CNI 1.0.0; 0.4.0 results also carry `version` on each IP). */
export interface AddResult {
  cniVersion: string;
  interfaces: { name: string; mac: string; sandbox: string }[];
  ips: { version?: "4"; address: string; gateway: string; interface: number }[];
  routes: { dst: string; gw: string }[];
}

/**
 * The result ADD prints: the pod's interface with the slot's MAC, its address and gateway, and
 * the default route.
 */
export function addResult(cniVersion: string, host: Host, pod: PodNet): AddResult {
  const legacy = cniVersion.startsWith("0.");
  return {
    cniVersion,
    interfaces: [{ name: pod.ifname, mac: host.mac, sandbox: pod.netns }],
    ips: [{
      ...(legacy ? { version: "4" as const } : {}),
      address: `${host.ip}/${host.prefix}`,
      gateway: host.gateway,
      interface: 0,
    }],
    routes: [{ dst: "0.0.0.0/0", gw: host.gateway }],
  };
}

interface IpAddrJson {
  address?: string;
  flags?: string[];
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

interface IpRouteJson {
  dst?: string;
  gateway?: string;
  dev?: string;
}

/**
 * What CHECK finds wrong, from `ip -j addr show dev <ifname>` and `ip -j -4 route show default`
 * run in the pod: the MAC, the one IPv4 address, UP, and the default route. Empty when fine.
 */
export function checkProblems(
  host: Host,
  ifname: string,
  addrJson: string,
  routeJson: string,
): string[] {
  const problems: string[] = [];
  let link: IpAddrJson | undefined;
  let routes: IpRouteJson[] = [];
  try {
    link = (JSON.parse(addrJson) as IpAddrJson[])[0];
    routes = JSON.parse(routeJson) as IpRouteJson[];
  } catch {
    return [`cannot read the output of ip -j for ${ifname}`];
  }
  if (!link) return [`${ifname} is not in the pod's namespace`];
  if (link.address?.toLowerCase() !== host.mac.toLowerCase()) {
    problems.push(`${ifname} has MAC ${link.address}, not ${host.mac}`);
  }
  const v4 = (link.addr_info ?? []).filter((a) => a.family === "inet")
    .map((a) => `${a.local}/${a.prefixlen}`);
  const want = `${host.ip}/${host.prefix}`;
  if (v4.length !== 1 || v4[0] !== want) {
    problems.push(`${ifname} has ${v4.length ? v4.join(", ") : "no IPv4 address"}, not ${want}`);
  }
  if (!link.flags?.includes("UP")) problems.push(`${ifname} is down`);
  if (!routes.some((r) => r.gateway === host.gateway && r.dev === ifname)) {
    problems.push(`no default route via ${host.gateway} dev ${ifname}`);
  }
  return problems;
}
