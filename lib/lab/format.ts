/**
 * The lab file format as users write it (YAML), before defaults are applied: the keys each
 * section accepts and the typed, structurally checked form {@link readLabFile} produces.
 *
 * `lab/lab.schema.json` describes the same format for editors; a test keeps its property names
 * equal to {@link LAB_KEYS}.
 *
 * @module
 */
import type { HostKind, LabRuntime, SwitchKind, WorkloadKind } from "./types.ts";

/** Accepted keys of every mapping in a lab file, by section. */
export const LAB_KEYS = {
  root: [
    "name",
    "id",
    "description",
    "runtime",
    "defaults",
    "hosts",
    "switches",
    "links",
    "load_balancer",
    "workloads",
    "machines",
    "underlay",
  ],
  defaults: ["host_kind", "switch_kind"],
  host: ["kind", "ip", "mac", "iface", "gateway", "machine"],
  switch: ["kind", "device_id", "grpc_port", "thrift_port", "queue_depth", "machine"],
  load_balancer: ["switch", "vip", "port", "backends"],
  workload: ["host", "hosts", "kind", "role", "image", "command"],
  machine: ["rate", "delay"],
} as const satisfies Record<string, readonly string[]>;

export type LabSection = keyof typeof LAB_KEYS;

export const HOST_KINDS: readonly HostKind[] = ["netns", "pod", "slot"];
export const LAB_RUNTIMES: readonly LabRuntime[] = ["local", "kubernetes"];
export const SWITCH_KINDS: readonly SwitchKind[] = ["bmv2", "bmv2-container"];
export const WORKLOAD_KINDS: readonly WorkloadKind[] = ["process", "container"];
export const WORKLOAD_ROLES = ["server", "client"] as const;

/** Placeholders a workload command may contain. */
export const COMMAND_PLACEHOLDERS = ["vip", "port", "host_ip"] as const;

/** BMv2 port numbers a link may use (511 is simple_switch's drop port). */
export const PORT_MIN = 0;
export const PORT_MAX = 510;

/**
 * Packets per BMv2 egress queue when the lab file gives none. BMv2's own 64 drops the burst of
 * retransmissions hundreds of frozen clients send the moment a migrated server is back
 * (lib/bmv2/thrift.ts); 1,024 holds it, and queues stay empty otherwise.
 */
export const DEFAULT_QUEUE_DEPTH = 1024;
export const MAX_QUEUE_DEPTH = 1_000_000;

/** An IPv4 address as written, with its parsed value. */
export interface AddrField {
  text: string;
  addr: number;
}

export interface HostEntry {
  name: string;
  kind?: HostKind;
  ip?: AddrField & { prefix: number };
  mac?: string;
  iface?: string;
  gateway?: AddrField;
  /** The machine it runs on (labs with `machines`). */
  machine?: string;
}

/** A machine of a lab with `machines` (lib/machines/), with its underlay link's settings. */
export interface MachineEntry {
  name: string;
  /** Rate of its underlay link, as written (`1gbit`) and in bit/s. */
  rate?: { text: string; bitS: number };
  /** One-way delay added on its underlay link, as written (`0.5ms`) and in ms. */
  delay?: { text: string; ms: number };
}

export interface SwitchEntry {
  name: string;
  kind?: SwitchKind;
  deviceId?: number;
  grpcPort?: number;
  thriftPort?: number;
  queueDepth?: number;
  machine?: string;
}

/** One end of a link: a host, or a switch with an optional port number. */
export interface Endpoint {
  node: string;
  port?: number;
  /** The text as written (for messages). */
  text: string;
}

export interface LinkEntry {
  /** Position in `links` (for field paths). */
  index: number;
  ends: [Endpoint, Endpoint];
}

export interface LoadBalancerEntry {
  switch?: string;
  vip?: AddrField;
  port?: number;
  backends: string[];
}

export interface WorkloadEntry {
  name: string;
  host?: string;
  hosts?: string[];
  kind?: WorkloadKind;
  role?: "server" | "client";
  image?: string;
  command?: string[];
}

/** A lab file after structural checks: fields that failed them are absent. */
export interface LabFile {
  name?: string;
  id?: string;
  description?: string;
  runtime?: LabRuntime;
  defaults: { hostKind?: HostKind; switchKind?: SwitchKind };
  hosts: HostEntry[];
  switches: SwitchEntry[];
  links: LinkEntry[];
  loadBalancer?: LoadBalancerEntry;
  workloads: WorkloadEntry[];
  /** Machines the hosts run on, in file order (empty: everything on this machine). */
  machines?: MachineEntry[];
  /** The machines' underlay subnet. */
  underlay?: AddrField & { prefix: number };
}
