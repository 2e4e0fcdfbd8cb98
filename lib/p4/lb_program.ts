/**
 * The control-plane API of `p4/lb.p4`: table, action, parameter, counter and register names as
 * they appear in its P4Info, and where the compiled program lives. Kept in one place so the entry
 * planner, the controller and tests cannot drift from the program.
 *
 * @module
 */

/** Source and compiled outputs, relative to the repository root. */
export const LB_PROGRAM = {
  source: "p4/lb.p4",
  buildDir: "p4/build",
  /** BMv2 JSON (the device config of SetForwardingPipelineConfig). */
  bmv2Json: "p4/build/lb.json",
  /** P4Info as protobuf text, for humans. */
  p4infoText: "p4/build/lb.p4info.txtpb",
  /** P4Info as protobuf JSON, read by the controller's name index. */
  p4infoJson: "p4/build/lb.p4info.json",
  /** P4Info as binary protobuf, sent in SetForwardingPipelineConfig. */
  p4infoBinary: "p4/build/lb.p4info.bin",
} as const;

/** Fully qualified table names. */
export const TABLES = {
  /** LPM on the destination IPv4 -> `forward(port, dst_mac)`; default `no_route` drops. */
  routes: "LbIngress.routes",
  /** Exact VIP -> `set_service(service_port, slot_count)`. */
  vip: "LbIngress.vip",
  /** Exact slot -> `set_slot_backend(backend_id)`, used for new connections only. */
  slots: "LbIngress.slots",
  /** Exact backend id -> `set_backend(backend_ip)`; MODIFY to migrate. */
  backends: "LbIngress.backends",
  /** Exact (backend IP, service port) -> `set_src_to_vip(vip_addr)` for server -> client packets. */
  backendSources: "LbIngress.backend_sources",
  /** Exact egress port -> `set_src_mac(src_mac)`. */
  portMacs: "LbEgress.port_macs",
} as const;

/** Fully qualified action names. */
export const ACTIONS = {
  forward: "LbIngress.forward",
  noRoute: "LbIngress.no_route",
  setService: "LbIngress.set_service",
  setSlotBackend: "LbIngress.set_slot_backend",
  setBackend: "LbIngress.set_backend",
  setSrcToVip: "LbIngress.set_src_to_vip",
  setSrcMac: "LbEgress.set_src_mac",
} as const;

/** Indexed counters. */
export const COUNTERS = {
  /** Indexed by {@link DROP_REASONS}. */
  drops: "LbIngress.drops",
  /** Indexed by backend id: packets (and bytes) sent to each backend. */
  backendPackets: "LbIngress.backend_packets",
  /** Indexed by {@link FLOW_EVENTS}. */
  flowEvents: "LbIngress.flow_events",
} as const;

/** Registers holding the per-connection memory. */
export const REGISTERS = {
  flowBackend: "LbIngress.flow_backend",
  flowSignature: "LbIngress.flow_signature",
} as const;

/** Index of the `drops` counter for each reason (see p4/README.md). */
export const DROP_REASONS = {
  notIpv4: 0,
  badHeader: 1,
  ttlExpired: 2,
  noRoute: 3,
  vipNotService: 4,
  noBackend: 5,
} as const;

/** Index of the `flow_events` counter for each event. */
export const FLOW_EVENTS = {
  /** SYN: backend chosen from the slots and remembered. */
  newFlow: 0,
  /** Later packet routed by the remembered backend. */
  hit: 1,
  /** Later packet with nothing (or a colliding connection) remembered: slots used. */
  miss: 2,
} as const;

/** Backend ids are 1..MAX_BACKEND_ID (8 bits; 0 marks "none" in the flow memory). */
export const MAX_BACKEND_ID = 255;

/** Entries of the slot table that fit the program's table size. */
export const MAX_SLOTS = 1024;
