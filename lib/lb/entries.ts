/**
 * Plans the table entries of `p4/lb.p4` for a lab: routes and port MACs on every switch, and the
 * load balancer (VIP, slots, backends, reverse rewrites) on the LB switch. Everything here is pure
 * data; the P4Runtime client applies it.
 *
 * Changes to the backend set are planned as a diff between the entries before and after, ordered
 * so that the switch never points at something that does not exist yet: INSERTs first (reverse
 * rewrites, then backends, then slots), then MODIFYs, then DELETEs in the opposite table order.
 *
 * @module
 */
import { UserError } from "../errors.ts";
import type { Host, Lab, Switch } from "../lab/types.ts";
import { ACTIONS, MAX_BACKEND_ID, MAX_SLOTS, TABLES } from "../p4/lb_program.ts";

/** A match field value: exact (IPv4/MAC text or a number) or LPM. */
export type MatchValue = string | number | { value: string | number; prefixLen: number };

/** One table entry, named as in the P4Info. */
export interface TableEntry {
  switch: string;
  table: string;
  match: Record<string, MatchValue>;
  action: string;
  params: Record<string, string | number>;
}

export type UpdateType = "INSERT" | "MODIFY" | "DELETE";

export interface EntryUpdate {
  type: UpdateType;
  entry: TableEntry;
}

/** A server behind the VIP. `id` is what the slots and the flow memory refer to. */
export interface Backend {
  /** 1..255, stable for the backend's lifetime (also across migrations). */
  id: number;
  /** Host it currently runs on. */
  host: string;
  /** Its current IPv4 address. */
  ip: string;
}

/** The load balancer's state as the controller keeps it. */
export interface LbState {
  /** The switch that holds the VIP, slot, backend and reverse entries. */
  switch: string;
  vip: string;
  servicePort: number;
  backends: Backend[];
  /** Backend id for each slot; 0 means the slot has no entry (no backend at all). */
  slots: number[];
  /**
   * Addresses whose replies from the service port are rewritten to the VIP even while no
   * backend uses them: every host a backend may migrate to. A restored socket sends before the
   * switch update (CRIU's TCP repair announces the window); without this its packet reaches the
   * client from the new address and the client's kernel resets the connection.
   */
  standbyIps?: string[];
}

/** A new state and the updates that take the switch there. */
export interface PlannedChange {
  state: LbState;
  updates: EntryUpdate[];
}

/** A backend by id or by host name. */
export type BackendRef = number | string;

/** Slots per VIP when the caller does not say: enough to spread a handful of backends evenly. */
export const DEFAULT_SLOT_COUNT = 16;

/**
 * The initial load balancer state of a lab: its backends get ids 1, 2, ... in order and the
 * slots are dealt in contiguous blocks.
 */
export function initialLbState(lab: Lab, options: { slotCount?: number } = {}): LbState {
  const slotCount = options.slotCount ?? DEFAULT_SLOT_COUNT;
  if (!Number.isInteger(slotCount) || slotCount < 1 || slotCount > MAX_SLOTS) {
    throw new UserError(`Slot count ${slotCount} is out of range`, {
      hint: `use an integer between 1 and ${MAX_SLOTS}`,
    });
  }
  const lb = lab.loadBalancer;
  if (lb.backends.length > MAX_BACKEND_ID) {
    throw new UserError(`Lab "${lab.name}" has ${lb.backends.length} backends`, {
      hint: `the P4 program supports at most ${MAX_BACKEND_ID}`,
    });
  }
  const backends = lb.backends.map((name, i) => ({
    id: i + 1,
    host: name,
    ip: findHost(lab, name).ip,
  }));
  // Contiguous blocks, not round-robin: the switch's crc32 of one client's burst of connections
  // keeps its low bit constant, so with round-robin slots the burst would land on one backend.
  const slots = Array.from(
    { length: slotCount },
    (_, i) => backends.length ? backends[Math.floor((i * backends.length) / slotCount)].id : 0,
  );
  // Hosts that run a client are not migration targets; every other host is a standby.
  const clientHosts = new Set(lab.workloads.filter((w) => w.role === "client").map((w) => w.host));
  const standbyIps = lab.hosts.filter((h) => !clientHosts.has(h.name)).map((h) => h.ip);
  return {
    switch: lb.switch,
    vip: lb.vip,
    servicePort: lb.servicePort,
    backends,
    slots,
    standbyIps,
  };
}

/** Every entry of every switch of the lab: routes, port MACs, and the load balancer. */
export function planLabEntries(lab: Lab, state: LbState): TableEntry[] {
  if (!lab.switches.some((s) => s.name === state.switch)) {
    throw new UserError(`Load balancer switch "${state.switch}" is not a switch of the lab`);
  }
  return [...planPortMacEntries(lab), ...planRouteEntries(lab), ...planLbEntries(state)];
}

/** `port_macs`: each port's MAC becomes the source MAC of packets leaving it. */
export function planPortMacEntries(lab: Lab): TableEntry[] {
  return lab.switches.flatMap((sw) =>
    sw.ports.map((p) => ({
      switch: sw.name,
      table: TABLES.portMacs,
      match: { port: p.port },
      action: ACTIONS.setSrcMac,
      params: { src_mac: p.mac },
    }))
  );
}

/**
 * `routes`: a /32 for every host on every switch, along a shortest path through the inter-switch
 * links (ties broken by lower port number). The last hop writes the host's MAC; inner hops write
 * the MAC of the next switch's ingress port.
 */
export function planRouteEntries(lab: Lab): TableEntry[] {
  const byName = new Map(lab.switches.map((s) => [s.name, s]));
  const entries: TableEntry[] = [];
  for (const host of lab.hosts) {
    const home = byName.get(host.switch);
    if (!home) {
      throw new UserError(`Host "${host.name}" is cabled to unknown switch "${host.switch}"`);
    }
    const nextHops = nextHopsTowards(byName, home);
    for (const sw of lab.switches) {
      const hop = sw === home ? { port: host.switchPort, mac: host.mac } : nextHops.get(sw.name);
      if (!hop) {
        throw new UserError(`Switch "${sw.name}" has no path to host "${host.name}"`, {
          hint: "connect the switches with switch-to-switch links",
        });
      }
      entries.push({
        switch: sw.name,
        table: TABLES.routes,
        match: { dst_addr: { value: host.ip, prefixLen: 32 } },
        action: ACTIONS.forward,
        params: { port: hop.port, dst_mac: hop.mac },
      });
    }
  }
  return entries;
}

/** Breadth-first from `target`: for each other switch, its port and next-hop MAC towards it. */
function nextHopsTowards(
  byName: Map<string, Switch>,
  target: Switch,
): Map<string, { port: number; mac: string }> {
  const hops = new Map<string, { port: number; mac: string }>();
  const seen = new Set([target.name]);
  const queue = [target];
  while (queue.length) {
    const here = queue.shift()!;
    for (const port of [...here.ports].sort((a, b) => a.port - b.port)) {
      if (port.peer.kind !== "switch" || seen.has(port.peer.switch)) continue;
      const neighbour = byName.get(port.peer.switch);
      const peerPort = neighbour?.ports.find((p) =>
        p.port === (port.peer as { port: number }).port
      );
      if (!neighbour || !peerPort) {
        throw new UserError(
          `Switch "${here.name}" port ${port.port} is linked to missing ` +
            `"${port.peer.switch}" port ${port.peer.port}`,
        );
      }
      seen.add(neighbour.name);
      // The neighbour reaches `target` by sending back over this link, to this port's MAC.
      hops.set(neighbour.name, { port: peerPort.port, mac: port.mac });
      queue.push(neighbour);
    }
  }
  return hops;
}

/** The load balancer's entries on its switch: VIP, slots, backends and reverse rewrites. */
export function planLbEntries(state: LbState): TableEntry[] {
  const on = (table: string, match: Record<string, MatchValue>, action: string, params = {}) => ({
    switch: state.switch,
    table,
    match,
    action,
    params,
  });
  const entries: TableEntry[] = [
    on(TABLES.vip, { dst_addr: state.vip }, ACTIONS.setService, {
      service_port: state.servicePort,
      slot_count: state.slots.length,
    }),
  ];
  state.slots.forEach((id, slot) => {
    if (id !== 0) {
      entries.push(on(TABLES.slots, { slot }, ACTIONS.setSlotBackend, { backend_id: id }));
    }
  });
  for (const b of state.backends) {
    entries.push(
      on(TABLES.backends, { backend_id: b.id }, ACTIONS.setBackend, { backend_ip: b.ip }),
    );
  }
  // Two backends may share an address (e.g. mid-migration onto a host that already serves).
  for (const ip of new Set([...state.backends.map((b) => b.ip), ...(state.standbyIps ?? [])])) {
    entries.push(
      on(
        TABLES.backendSources,
        { src_addr: ip, src_port: state.servicePort },
        ACTIONS.setSrcToVip,
        {
          vip_addr: state.vip,
        },
      ),
    );
  }
  return entries;
}

/** Order in which tables are written: a slot never names a backend the switch lacks. */
export const INSERT_ORDER: readonly string[] = [
  TABLES.portMacs,
  TABLES.routes,
  TABLES.backendSources,
  TABLES.backends,
  TABLES.vip,
  TABLES.slots,
];

function entryKey(e: TableEntry): string {
  const match = Object.keys(e.match).sort().map((k) => [k, e.match[k]]);
  return JSON.stringify([e.switch, e.table, match]);
}

function sameAction(a: TableEntry, b: TableEntry): boolean {
  if (a.action !== b.action) return false;
  const keys = Object.keys(a.params);
  return keys.length === Object.keys(b.params).length &&
    keys.every((k) => String(a.params[k]) === String(b.params[k]));
}

/**
 * The minimal updates turning the `before` entries into `after`: INSERT what is new, MODIFY what
 * kept its match but changed action or parameters, DELETE what is gone.
 */
export function diffEntries(before: TableEntry[], after: TableEntry[]): EntryUpdate[] {
  const old = new Map(before.map((e) => [entryKey(e), e]));
  const now = new Map(after.map((e) => [entryKey(e), e]));
  const inserts: TableEntry[] = [];
  const modifies: TableEntry[] = [];
  const deletes: TableEntry[] = [];
  for (const [key, e] of now) {
    const prev = old.get(key);
    if (!prev) inserts.push(e);
    else if (!sameAction(prev, e)) modifies.push(e);
  }
  for (const [key, e] of old) if (!now.has(key)) deletes.push(e);
  const rank = (e: TableEntry) => {
    const i = INSERT_ORDER.indexOf(e.table);
    return i < 0 ? INSERT_ORDER.length : i;
  };
  const stable = (list: TableEntry[], dir: number) =>
    list.map((e, i) => ({ e, i })).sort((a, b) => dir * (rank(a.e) - rank(b.e)) || a.i - b.i)
      .map((x) => x.e);
  return [
    ...stable(inserts, 1).map((entry) => ({ type: "INSERT" as const, entry })),
    ...stable(modifies, 1).map((entry) => ({ type: "MODIFY" as const, entry })),
    ...stable(deletes, -1).map((entry) => ({ type: "DELETE" as const, entry })),
  ];
}

function change(before: LbState, after: LbState): PlannedChange {
  return { state: after, updates: diffEntries(planLbEntries(before), planLbEntries(after)) };
}

/**
 * Adds a backend: it gets the lowest free id and takes slots from the backends holding the most
 * until the spread is even. Only new connections land on it; established ones stay put because
 * the switch remembers their backend.
 */
export function planAddBackend(state: LbState, host: Pick<Host, "name" | "ip">): PlannedChange {
  if (state.backends.some((b) => b.host === host.name)) {
    throw new UserError(`Host "${host.name}" is already a backend`);
  }
  const used = new Set(state.backends.map((b) => b.id));
  let id = 1;
  while (used.has(id)) id++;
  if (id > MAX_BACKEND_ID) {
    throw new UserError(`Cannot add backend "${host.name}": all ${MAX_BACKEND_ID} ids are in use`);
  }
  const slots = [...state.slots];
  const target = Math.floor(slots.length / (state.backends.length + 1));
  const counts = slotCounts(slots, state.backends);
  if (!state.backends.length) slots.fill(id);
  for (let taken = 0; state.backends.length && taken < Math.max(target, 0); taken++) {
    // Donor: the backend with most slots (lowest id on ties); give up its last slot.
    const donor = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0][0];
    const slot = slots.lastIndexOf(donor);
    slots[slot] = id;
    counts.set(donor, counts.get(donor)! - 1);
  }
  const backends = [...state.backends, { id, host: host.name, ip: host.ip }];
  return change(state, { ...state, backends, slots });
}

/**
 * Removes a backend: its slots go to the remaining backends with the fewest slots. Connections
 * of the other backends are untouched; its own connections are dropped (counted as no_backend).
 */
export function planRemoveBackend(state: LbState, backend: BackendRef): PlannedChange {
  const gone = findBackend(state, backend);
  const backends = state.backends.filter((b) => b.id !== gone.id);
  const counts = slotCounts(state.slots, backends);
  const slots = state.slots.map((id) => {
    if (id !== gone.id) return id;
    if (!backends.length) return 0;
    const [least] = [...counts.entries()].sort((a, b) => a[1] - b[1] || a[0] - b[0])[0];
    counts.set(least, counts.get(least)! + 1);
    return least;
  });
  return change(state, { ...state, backends, slots });
}

/**
 * Moves a backend to another host (and address). Its id, slots and remembered connections stay,
 * so exactly its connections follow it. The flip is one MODIFY of its `backends` entry when the
 * new host is a standby (its reverse rewrite is already in place); otherwise it is preceded by
 * the INSERT of the new address's reverse rewrite and followed by the DELETE of the old one.
 */
export function planMigrateBackend(
  state: LbState,
  backend: BackendRef,
  newHost: Pick<Host, "name" | "ip">,
): PlannedChange {
  const moving = findBackend(state, backend);
  if (moving.ip === newHost.ip) {
    throw new UserError(`Backend ${moving.id} already uses ${newHost.ip}`, {
      hint: "migrate to a host with a different address",
    });
  }
  const backends = state.backends.map((b) =>
    b.id === moving.id ? { ...b, host: newHost.name, ip: newHost.ip } : b
  );
  return change(state, { ...state, backends });
}

/** Finds a backend by id or host name. */
export function findBackend(state: LbState, ref: BackendRef): Backend {
  const found = state.backends.find((b) => typeof ref === "number" ? b.id === ref : b.host === ref);
  if (!found) {
    const known = state.backends.map((b) => `${b.id} (${b.host})`).join(", ") || "none";
    throw new UserError(`No backend ${JSON.stringify(ref)}; backends are: ${known}`);
  }
  return found;
}

function slotCounts(slots: number[], backends: Backend[]): Map<number, number> {
  const counts = new Map(backends.map((b) => [b.id, 0]));
  for (const id of slots) if (counts.has(id)) counts.set(id, counts.get(id)! + 1);
  return counts;
}

function findHost(lab: Lab, name: string): Host {
  const host = lab.hosts.find((h) => h.name === name);
  if (!host) throw new UserError(`Load balancer backend "${name}" is not a host of the lab`);
  return host;
}
