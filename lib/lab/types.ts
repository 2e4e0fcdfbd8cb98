/**
 * The resolved lab model: what a validated lab file becomes. Every name, address, port and MAC is
 * concrete here, so planners (topology, switch entries, migration) are pure functions of a `Lab`.
 *
 * @module
 */

/** How a host is realised. */
export type HostKind =
  /** A network namespace on the machine (`ip netns`). */
  | "netns"
  /** A Podman pod whose network namespace is wired to the switch. */
  | "pod"
  /**
   * A place for a Kubernetes pod (runtime `kubernetes`): a parking namespace holding the cabled
   * interface, which the lab's CNI plugin moves into the pod that takes the slot (and back).
   */
  | "slot";

/** What runs a lab's hosts and workloads. */
export type LabRuntime =
  /** Network namespaces, Podman pods, processes and containers on this machine. */
  | "local"
  /** A Kubernetes cluster whose pods are cabled to the switch by the lab's CNI plugin. */
  | "kubernetes"
  /**
   * Like local, with hosts on several machines (a lab with `machines`): each machine other than
   * the switches' is simulated by a namespace on an underlay link, its hosts reach their switch
   * ports through VXLAN tunnels (lib/machines/).
   */
  | "machines";

/** How a switch is realised. */
export type SwitchKind =
  /** `simple_switch_grpc` as a process on the machine. */
  | "bmv2"
  /** `simple_switch_grpc` inside a container built from the machine's BMv2. */
  | "bmv2-container";

export interface Host {
  name: string;
  kind: HostKind;
  /** IPv4 address, without prefix. */
  ip: string;
  prefix: number;
  mac: string;
  /** Interface name inside the host's namespace. */
  iface: string;
  /** Default gateway: an address on the switch side (answered by a static ARP entry). */
  gateway: string;
  /** MAC used for the gateway (the switch port's MAC). */
  gatewayMac: string;
  /** The switch and port this host is cabled to. */
  switch: string;
  switchPort: number;
  /**
   * Named network namespace of the host (`/run/netns/<netns>`), for both kinds: a `pod` host's
   * pod namespace is attached under this name too. Always set by the lab parser.
   */
  netns?: string;
  /** Podman pod name (kind `pod`); its infra container is `<pod>-infra`. */
  pod?: string;
  /** The machine it runs on (labs with `machines`; always set there by the lab parser). */
  machine?: string;
}

/** A machine of a lab with `machines` (lib/machines/ makes the simulated ones). */
export interface Machine {
  name: string;
  /** The switches' machine: this machine itself, not simulated. */
  root: boolean;
  /** Network namespace simulating the machine (`<id>-<machine>`); absent for the root one. */
  netns?: string;
  /** Its address on the underlay. */
  underlayIp: string;
  /** The underlay interface: on the root machine's bridge (`<id>-<m>-ul`); absent for root. */
  underlayIface?: string;
  /** Underlay rate limit in bit/s, and as written; absent: as fast as the link goes. */
  rateBitS?: number;
  rate?: string;
  /** One-way underlay delay in ms, and as written (applied only where `tc` has netem). */
  delayMs?: number;
  delay?: string;
}

/** The network connecting a lab's machines. */
export interface Underlay {
  /** Subnet address and prefix (the root machine takes the first address). */
  subnet: string;
  prefix: number;
  /** The root machine's bridge every simulated machine's underlay link joins (`<id>-ul`). */
  bridge: string;
}

/** What the other end of a switch port is. */
export type PortPeer =
  | { kind: "host"; host: string }
  | { kind: "switch"; switch: string; port: number };

export interface SwitchPort {
  /** BMv2 port number. */
  port: number;
  /** Name of the switch-side interface on the machine (or in the switch's namespace). */
  iface: string;
  /** Source MAC the switch writes on packets leaving this port. */
  mac: string;
  peer: PortPeer;
}

export interface Switch {
  name: string;
  kind: SwitchKind;
  deviceId: number;
  /** P4Runtime gRPC port, bound on 127.0.0.1 (or published there from the container). */
  grpcPort: number;
  /** BMv2 Thrift port (for simple_switch_CLI), bound on 127.0.0.1. */
  thriftPort: number;
  /**
   * Packets each egress queue holds (default DEFAULT_QUEUE_DEPTH of lib/lab/format.ts;
   * lib/bmv2/thrift.ts says why it is not BMv2's 64).
   */
  queueDepth?: number;
  ports: SwitchPort[];
  /** Container name (kind `bmv2-container`). */
  container?: string;
}

/** The virtual service clients connect to. */
export interface LoadBalancer {
  /** The switch that rewrites addresses (clients' traffic must cross it). */
  switch: string;
  vip: string;
  /** TCP port of the service behind the VIP. */
  servicePort: number;
  /** Host names serving the VIP initially, in slot order. */
  backends: string[];
}

export type WorkloadKind = "process" | "container";

export interface Workload {
  name: string;
  /** Host it starts on. */
  host: string;
  kind: WorkloadKind;
  /** server: listens behind the VIP and can migrate; client: talks to the VIP. */
  role: "server" | "client";
  /** Container image (kind container), built locally. */
  image?: string;
  /** argv; `{vip}`, `{port}` and `{host_ip}` are substituted when the lab starts. */
  command: string[];
  /** Container name to use (kind container): `<lab id>-<workload>`, found by `lab down`. */
  container?: string;
  /**
   * Hosts the workload's instances may take, first `host` (runtime `kubernetes`: the slots its
   * pods get when it is scaled or migrated). Always set by the lab parser.
   */
  hosts?: string[];
}

export interface Lab {
  name: string;
  /**
   * Short prefix (<= 5 chars) of every Linux/Podman object the lab creates, e.g. `pm` for
   * `pm-h1` (netns) and `pm-s1-eth1` (switch port). Always set by the lab parser.
   */
  id?: string;
  /** Absolute path of the lab's run directory (`.run/labs/<name>/`). Always set by the parser. */
  runDir?: string;
  description: string;
  /** What runs it (default "local"). */
  runtime?: LabRuntime;
  /** Absolute path of the lab file it came from. */
  file: string;
  hosts: Host[];
  switches: Switch[];
  loadBalancer: LoadBalancer;
  workloads: Workload[];
  /** Machines, the root one (the switches') first; absent: everything on this machine. */
  machines?: Machine[];
  /** The network between the machines (with `machines`). */
  underlay?: Underlay;
}
