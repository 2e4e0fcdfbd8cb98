import { testHost } from "../_hosts.ts";
import assert from "node:assert/strict";
import type { Host, Lab, Switch } from "../../lib/lab/types.ts";
import {
  diffEntries,
  initialLbState,
  type LbState,
  planAddBackend,
  planLabEntries,
  planLbEntries,
  planMigrateBackend,
  planRemoveBackend,
  planRouteEntries,
  type TableEntry,
} from "../../lib/lb/entries.ts";
import { ACTIONS, TABLES } from "../../lib/p4/lb_program.ts";
import { UserError } from "../../lib/errors.ts";

function lab(hosts: Host[], switches: Switch[], backends: string[]): Lab {
  return {
    name: "t",
    description: "",
    file: "/dev/null",
    hosts,
    switches,
    loadBalancer: { switch: "s1", vip: "10.0.0.100", servicePort: 7000, backends },
    workloads: [],
  };
}

function sw(n: number, ports: Switch["ports"]): Switch {
  return {
    name: `s${n}`,
    kind: "bmv2",
    deviceId: n,
    grpcPort: 50050 + n,
    thriftPort: 9090 + n,
    ports,
  };
}

/** One switch: h1 (client) on port 1, servers h2 and h3 on ports 2 and 3. */
function oneSwitchLab(backends = ["h2", "h3"]): Lab {
  const hosts = [testHost(1, "s1", 1), testHost(2, "s1", 2), testHost(3, "s1", 3)];
  const ports = hosts.map((h) => ({
    port: h.switchPort,
    iface: `s1-p${h.switchPort}`,
    mac: h.gatewayMac,
    peer: { kind: "host" as const, host: h.name },
  }));
  return lab(hosts, [sw(1, ports)], backends);
}

/** A chain s1 - s2 - s3 - s4, host hN on sN port 1; inter-switch links on ports 2 (left) and 3. */
function chainLab(): Lab {
  const hosts = [1, 2, 3, 4].map((n) => testHost(n, `s${n}`, 1));
  const portMac = (s: number, p: number) => `02:aa:00:00:0${s}:0${p}`;
  const switches = [1, 2, 3, 4].map((n) => {
    const ports: Switch["ports"] = [{
      port: 1,
      iface: `s${n}-p1`,
      mac: hosts[n - 1].gatewayMac,
      peer: { kind: "host", host: `h${n}` },
    }];
    if (n > 1) {
      ports.push({
        port: 2,
        iface: `s${n}-p2`,
        mac: portMac(n, 2),
        peer: { kind: "switch", switch: `s${n - 1}`, port: 3 },
      });
    }
    if (n < 4) {
      ports.push({
        port: 3,
        iface: `s${n}-p3`,
        mac: portMac(n, 3),
        peer: { kind: "switch", switch: `s${n + 1}`, port: 2 },
      });
    }
    return sw(n, ports);
  });
  return lab(hosts, switches, ["h2", "h3", "h4"]);
}

function find(entries: TableEntry[], sw: string, table: string, key: string, value: unknown) {
  return entries.filter((e) =>
    e.switch === sw && e.table === table && JSON.stringify(e.match[key]) === JSON.stringify(value)
  );
}

function slotShare(state: LbState): Record<number, number> {
  const out: Record<number, number> = {};
  for (const id of state.slots) out[id] = (out[id] ?? 0) + 1;
  return out;
}

Deno.test("initial state numbers backends from 1 and deals slots in contiguous blocks", () => {
  const state = initialLbState(oneSwitchLab(), { slotCount: 8 });
  assert.deepEqual(state.backends, [
    { id: 1, host: "h2", ip: "10.0.2.10" },
    { id: 2, host: "h3", ip: "10.0.3.10" },
  ]);
  assert.deepEqual(state.slots, [1, 1, 1, 1, 2, 2, 2, 2]);
  assert.equal(state.vip, "10.0.0.100");
  assert.throws(() => initialLbState(oneSwitchLab(), { slotCount: 0 }), UserError);
  assert.throws(() => initialLbState(oneSwitchLab(["h9"])), /"h9" is not a host/);
});

/**
 * The planner's state without standby reverse entries, so the exact-update tests below see only
 * what backends themselves need (standbys have their own test).
 */
function initialNoStandby(l: Lab, options?: { slotCount?: number }): LbState {
  return { ...initialLbState(l, options), standbyIps: [] };
}

Deno.test("standby hosts get their reverse rewrite up front, so migrating onto one is one MODIFY", () => {
  const l = oneSwitchLab(["h2"]);
  l.workloads = [{ name: "client", host: "h1", kind: "process", role: "client", command: ["c"] }];
  const before = initialLbState(l);
  assert.ok(!before.standbyIps?.includes(l.hosts.find((h) => h.name === "h1")!.ip));
  const reverse = planLbEntries(before).filter((e) => e.table === TABLES.backendSources);
  assert.deepEqual(reverse.map((e) => e.match.src_addr).sort(), ["10.0.2.10", "10.0.3.10"]);
  const { updates } = planMigrateBackend(before, "h2", { name: "h3", ip: "10.0.3.10" });
  assert.deepEqual(updates.map((u) => [u.type, u.entry.table]), [["MODIFY", TABLES.backends]]);
});

Deno.test("one switch: port MACs, host routes and load balancer entries", () => {
  const l = oneSwitchLab();
  const entries = planLabEntries(l, initialNoStandby(l, { slotCount: 4 }));
  const count = (t: string) => entries.filter((e) => e.table === t).length;
  assert.equal(count(TABLES.portMacs), 3);
  assert.equal(count(TABLES.routes), 3);
  assert.equal(count(TABLES.vip), 1);
  assert.equal(count(TABLES.slots), 4);
  assert.equal(count(TABLES.backends), 2);
  assert.equal(count(TABLES.backendSources), 2);
  assert.deepEqual(
    find(entries, "s1", TABLES.routes, "dst_addr", { value: "10.0.2.10", prefixLen: 32 }),
    [{
      switch: "s1",
      table: TABLES.routes,
      match: { dst_addr: { value: "10.0.2.10", prefixLen: 32 } },
      action: ACTIONS.forward,
      params: { port: 2, dst_mac: "02:00:00:00:02:10" },
    }],
  );
  assert.deepEqual(find(entries, "s1", TABLES.portMacs, "port", 3)[0].params, {
    src_mac: "02:00:00:00:03:01",
  });
  assert.deepEqual(find(entries, "s1", TABLES.vip, "dst_addr", "10.0.0.100")[0].params, {
    service_port: 7000,
    slot_count: 4,
  });
  assert.deepEqual(find(entries, "s1", TABLES.backends, "backend_id", 2)[0].params, {
    backend_ip: "10.0.3.10",
  });
  const reverse = entries.filter((e) => e.table === TABLES.backendSources);
  assert.deepEqual(reverse.map((e) => [e.match, e.params]), [
    [{ src_addr: "10.0.2.10", src_port: 7000 }, { vip_addr: "10.0.0.100" }],
    [{ src_addr: "10.0.3.10", src_port: 7000 }, { vip_addr: "10.0.0.100" }],
  ]);
});

Deno.test("four-switch chain: shortest-path routes with next-hop MACs", () => {
  const l = chainLab();
  const entries = planLabEntries(l, initialNoStandby(l));
  const route = (s: string, h: number) => {
    const found = find(entries, s, TABLES.routes, "dst_addr", {
      value: `10.0.${h}.10`,
      prefixLen: 32,
    });
    assert.equal(found.length, 1, `one route on ${s} to h${h}`);
    return found[0].params;
  };
  // Last hop: the host's MAC on its own port.
  assert.deepEqual(route("s4", 4), { port: 1, dst_mac: "02:00:00:00:04:10" });
  // s1 -> h4: out of port 3 towards s2, to s2's port 2 MAC.
  assert.deepEqual(route("s1", 4), { port: 3, dst_mac: "02:aa:00:00:02:02" });
  assert.deepEqual(route("s3", 4), { port: 3, dst_mac: "02:aa:00:00:04:02" });
  // s4 -> h1: back along the chain, to s3's port 3 MAC.
  assert.deepEqual(route("s4", 1), { port: 2, dst_mac: "02:aa:00:00:03:03" });
  assert.deepEqual(route("s2", 1), { port: 2, dst_mac: "02:aa:00:00:01:03" });
  // 4 hosts x 4 switches routes; LB entries only on s1.
  assert.equal(entries.filter((e) => e.table === TABLES.routes).length, 16);
  const lbTables: string[] = [TABLES.vip, TABLES.slots, TABLES.backends, TABLES.backendSources];
  assert.ok(entries.filter((e) => lbTables.includes(e.table)).every((e) => e.switch === "s1"));
  assert.equal(entries.filter((e) => e.table === TABLES.portMacs).length, 2 + 3 + 3 + 2);
});

Deno.test("routes: a switch without a path to a host is an error", () => {
  const l = chainLab();
  l.switches[1].ports = l.switches[1].ports.filter((p) => p.port !== 3);
  l.switches[2].ports = l.switches[2].ports.filter((p) => p.port !== 2);
  assert.throws(() => planRouteEntries(l), /has no path to host/);
});

Deno.test("adding a backend only inserts it and re-points slots to it", () => {
  const l = oneSwitchLab(["h2"]);
  const before = initialNoStandby(l, { slotCount: 16 });
  assert.deepEqual(slotShare(before), { 1: 16 });
  const { state, updates } = planAddBackend(before, { name: "h3", ip: "10.0.3.10" });
  assert.deepEqual(state.backends.map((b) => b.id), [1, 2]);
  assert.deepEqual(slotShare(state), { 1: 8, 2: 8 });
  assert.deepEqual(updates.map((u) => [u.type, u.entry.table]), [
    ["INSERT", TABLES.backendSources],
    ["INSERT", TABLES.backends],
    ...Array.from({ length: 8 }, () => ["MODIFY", TABLES.slots]),
  ]);
  assert.ok(
    updates.filter((u) => u.type === "MODIFY").every((u) => u.entry.params.backend_id === 2),
  );

  // A third backend takes slots evenly from both and never moves a slot between old backends.
  const third = planAddBackend(state, { name: "h4", ip: "10.0.4.10" });
  const share = slotShare(third.state);
  assert.equal(share[3], 5);
  assert.ok(Math.abs(share[1] - share[2]) <= 1);
  third.state.slots.forEach((id, i) => assert.ok(id === 3 || id === state.slots[i]));
  assert.throws(() => planAddBackend(state, { name: "h3", ip: "10.0.3.10" }), /already a backend/);
});

Deno.test("removing a backend re-points only its slots, then deletes it", () => {
  const l = oneSwitchLab();
  const start = planAddBackend(initialNoStandby(l, { slotCount: 12 }), {
    name: "h1",
    ip: "10.0.1.10",
  }).state;
  const { state, updates } = planRemoveBackend(start, "h3");
  assert.deepEqual(state.backends.map((b) => b.host), ["h2", "h1"]);
  assert.ok(!state.slots.includes(2));
  start.slots.forEach((id, i) => {
    if (id !== 2) assert.equal(state.slots[i], id, `slot ${i} of another backend kept`);
  });
  assert.ok(Math.abs(slotShare(state)[1] - slotShare(state)[3]) <= 1);
  const kinds = updates.map((u) => [u.type, u.entry.table]);
  assert.deepEqual(kinds.slice(-2), [["DELETE", TABLES.backends], [
    "DELETE",
    TABLES.backendSources,
  ]]);
  assert.ok(kinds.slice(0, -2).every(([t, table]) => t === "MODIFY" && table === TABLES.slots));
  assert.equal(kinds.length - 2, start.slots.filter((id) => id === 2).length);
  assert.deepEqual(updates.at(-2)!.entry.match, { backend_id: 2 });
  assert.throws(() => planRemoveBackend(state, 7), /No backend 7/);
});

Deno.test("removing the last backend deletes the slots; adding one back inserts them", () => {
  const l = oneSwitchLab(["h2"]);
  const removed = planRemoveBackend(initialNoStandby(l, { slotCount: 4 }), 1);
  assert.deepEqual(removed.state.slots, [0, 0, 0, 0]);
  assert.deepEqual(removed.updates.map((u) => [u.type, u.entry.table]), [
    ...Array.from({ length: 4 }, () => ["DELETE", TABLES.slots]),
    ["DELETE", TABLES.backends],
    ["DELETE", TABLES.backendSources],
  ]);
  const added = planAddBackend(removed.state, { name: "h3", ip: "10.0.3.10" });
  assert.deepEqual(added.state.slots, [1, 1, 1, 1]);
  assert.deepEqual(added.updates.map((u) => [u.type, u.entry.table]), [
    ["INSERT", TABLES.backendSources],
    ["INSERT", TABLES.backends],
    ...Array.from({ length: 4 }, () => ["INSERT", TABLES.slots]),
  ]);
});

Deno.test("without standbys, migration is one MODIFY bracketed by the reverse rewrite", () => {
  const l = oneSwitchLab(["h2"]);
  const before = initialNoStandby(l);
  const { state, updates } = planMigrateBackend(before, "h2", { name: "h3", ip: "10.0.3.10" });
  assert.deepEqual(state.backends, [{ id: 1, host: "h3", ip: "10.0.3.10" }]);
  assert.deepEqual(state.slots, before.slots);
  assert.deepEqual(updates, [
    {
      type: "INSERT",
      entry: {
        switch: "s1",
        table: TABLES.backendSources,
        match: { src_addr: "10.0.3.10", src_port: 7000 },
        action: ACTIONS.setSrcToVip,
        params: { vip_addr: "10.0.0.100" },
      },
    },
    {
      type: "MODIFY",
      entry: {
        switch: "s1",
        table: TABLES.backends,
        match: { backend_id: 1 },
        action: ACTIONS.setBackend,
        params: { backend_ip: "10.0.3.10" },
      },
    },
    {
      type: "DELETE",
      entry: {
        switch: "s1",
        table: TABLES.backendSources,
        match: { src_addr: "10.0.2.10", src_port: 7000 },
        action: ACTIONS.setSrcToVip,
        params: { vip_addr: "10.0.0.100" },
      },
    },
  ]);
  assert.throws(() => planMigrateBackend(state, 1, { name: "h3", ip: "10.0.3.10" }), UserError);
});

Deno.test("migrating onto an address another backend already uses keeps one reverse entry", () => {
  const before = initialNoStandby(oneSwitchLab());
  const { updates } = planMigrateBackend(before, 1, { name: "h3", ip: "10.0.3.10" });
  assert.deepEqual(updates.map((u) => [u.type, u.entry.table]), [
    ["MODIFY", TABLES.backends],
    ["DELETE", TABLES.backendSources],
  ]);
});

Deno.test("diffEntries: no change, no updates; match key order does not matter", () => {
  const e: TableEntry = {
    switch: "s1",
    table: TABLES.backendSources,
    match: { src_addr: "10.0.2.10", src_port: 7000 },
    action: ACTIONS.setSrcToVip,
    params: { vip_addr: "10.0.0.100" },
  };
  const reordered = { ...e, match: { src_port: 7000, src_addr: "10.0.2.10" } };
  assert.deepEqual(diffEntries([e], [reordered]), []);
  assert.deepEqual(
    diffEntries([e], [{ ...e, params: { vip_addr: "10.0.0.101" } }]).map((u) => u.type),
    [
      "MODIFY",
    ],
  );
});
