/**
 * How a lab's names become Linux and Podman object names, and the deterministic defaults (MACs,
 * gateway, ports) a lab file may leave out.
 *
 * Every object a lab creates outside its own namespaces carries the lab's short id as a prefix
 * (`<id>-...`), so two labs never collide and `lab down` can sweep leftovers by prefix. Podman
 * objects additionally carry the label {@link LAB_LABEL}`=<lab name>`.
 *
 * @module
 */
import { fnv1a } from "../hash.ts";
import { formatIpv4, formatMac, prefixMask } from "../net/addr.ts";

/** Podman label put on every pod and container of a lab; the value is the lab's name. */
export const LAB_LABEL = "p4cf.lab";

/** Linux's limit on interface names (IFNAMSIZ - 1). */
export const IFNAME_MAX = 15;

/** Longest lab id: keeps `<id>-<switch>-eth<port>` within {@link IFNAME_MAX}. */
export const LAB_ID_MAX = 5;

/** Lab, host, switch and workload names: lower-case words joined by single dashes. */
export const NAME_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/** Lab ids: a letter then letters or digits, no dash (the dash separates the id from the rest). */
export const LAB_ID_PATTERN = new RegExp(`^[a-z][a-z0-9]{0,${LAB_ID_MAX - 1}}$`);

/** Interface names inside a host's namespace: safe for `ip`, sysctl paths and shells. */
export const IFACE_PATTERN = /^[a-z][a-z0-9_-]{0,14}$/;

/** Name of the interface inside a host's namespace when the lab file gives none. */
export const DEFAULT_HOST_IFACE = "eth0";

/** Lowest default switch port: below it lie well-known services' ports. */
export const SWITCH_PORT_FLOOR = 20000;

/** Ports a lab reserves for its switches by default: 2 per switch, 8 switches before overlap. */
const SWITCH_PORT_BLOCK = 16;

/** Blocks between the floor and Linux's ephemeral range (32768-), where clients' ports live. */
const SWITCH_PORT_BLOCKS = 780;

/**
 * Default P4Runtime gRPC and BMv2 Thrift ports of switch `index` (0-based, in file order): a
 * block of ports derived from the lab id, so two labs that pin no ports can be up at once (and a
 * clash is caught by the port check at `up`). Below the ephemeral range, so no client's
 * connection holds them.
 */
export function defaultSwitchPorts(labId: string, index: number): { grpc: number; thrift: number } {
  const base = SWITCH_PORT_FLOOR + (fnv1a(labId) % SWITCH_PORT_BLOCKS) * SWITCH_PORT_BLOCK;
  const offset = (2 * index) % SWITCH_PORT_BLOCK;
  return { grpc: base + offset, thrift: base + offset + 1 };
}

/**
 * The default lab id: the initials of a multi-word name (`process-migration` -> `pm`,
 * `process-migration-4sw` -> `pm4`), or a one-word name cut to {@link LAB_ID_MAX} characters.
 */
export function deriveLabId(labName: string): string {
  const words = labName.split("-").filter((w) => w.length > 0);
  const id = words.length > 1 ? words.map((w) => w[0]).join("") : (words[0] ?? "");
  return id.slice(0, LAB_ID_MAX);
}

/** Named network namespace of a host (also used for pod hosts: the pod's netns is attached). */
export function netnsName(labId: string, host: string): string {
  return `${labId}-${host}`;
}

/** Podman pod of a `pod` host. */
export function podName(labId: string, host: string): string {
  return `${labId}-${host}`;
}

/** Infra container of a `pod` host's pod. */
export function infraName(labId: string, host: string): string {
  return `${labId}-${host}-infra`;
}

/** Container of a workload or of a containerised switch. */
export function containerName(labId: string, name: string): string {
  return `${labId}-${name}`;
}

/** Switch-side interface of a switch port, in the machine's namespace. */
export function portIfaceName(labId: string, sw: string, port: number): string {
  return `${labId}-${sw}-eth${port}`;
}

/** True for a root-namespace interface name this lab's naming scheme produces. */
export function isLabIfaceName(labId: string, iface: string): boolean {
  return iface.startsWith(`${labId}-`) && /-eth\d+$/.test(iface);
}

/**
 * Default host MAC: locally administered, unicast, with the host's IPv4 address in the last four
 * bytes (10.0.2.2 -> 02:00:0a:00:02:02), so it is unique whenever the addresses are.
 */
export function deriveHostMac(ip: number): string {
  return formatMac(
    Uint8Array.of(0x02, 0x00, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255),
  );
}

/**
 * MAC of a switch port (the source MAC the switch writes, and the gateway MAC of the host on
 * that port): 02:01:<device id, 2 bytes>:<port, 2 bytes>. Never equal to a derived host MAC.
 */
export function derivePortMac(deviceId: number, port: number): string {
  return formatMac(
    Uint8Array.of(
      0x02,
      0x01,
      (deviceId >>> 8) & 255,
      deviceId & 255,
      (port >>> 8) & 255,
      port & 255,
    ),
  );
}

/** Default gateway of a host: the last usable address of its subnet (.254 in a /24). */
export function defaultGateway(ip: number, prefix: number): string {
  const broadcast = ((ip & prefixMask(prefix)) | ~prefixMask(prefix)) >>> 0;
  return formatIpv4(broadcast - 1);
}

/** The network and broadcast addresses of `ip`/`prefix`, as numbers. */
export function subnetBounds(ip: number, prefix: number): { network: number; broadcast: number } {
  const network = (ip & prefixMask(prefix)) >>> 0;
  return { network, broadcast: (network | ~prefixMask(prefix)) >>> 0 };
}

/** True when a command line is a `simple_switch_grpc` bound to this lab's interfaces. */
export function isLabSwitchCmdline(args: readonly string[], labId: string): boolean {
  if (!args.length || !/(^|\/)simple_switch(_grpc)?$/.test(args[0])) return false;
  return args.some((a) => {
    const m = /^\d+@(.+)$/.exec(a);
    return m !== null && isLabIfaceName(labId, m[1]);
  });
}
