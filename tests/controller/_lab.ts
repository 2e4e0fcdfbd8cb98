/**
 * Small labs for the controller tests, built in code (no lab file): one switch with four hosts,
 * or two linked switches. Switch gRPC ports are given (fake servers or BMv2 on free ports).
 */
import { testHost } from "../_hosts.ts";
import type { Host, Lab, Switch } from "../../lib/lab/types.ts";

function hostPorts(sw: string, hosts: Host[]): Switch["ports"] {
  return hosts.filter((h) => h.switch === sw).map((h) => ({
    port: h.switchPort,
    iface: `${sw}p${h.switchPort}`,
    mac: h.gatewayMac,
    peer: { kind: "host" as const, host: h.name },
  }));
}

function lab(name: string, runDir: string, hosts: Host[], switches: Switch[]): Lab {
  return {
    name,
    id: "ct",
    runDir,
    description: "controller test lab",
    file: "/dev/null",
    hosts,
    switches,
    loadBalancer: { switch: "s1", vip: "10.0.0.100", servicePort: 7000, backends: ["h2"] },
    workloads: [],
  };
}

/** s1 with h1 (client) .. h4 on ports 1..4; backend h2. */
export function oneSwitchLab(runDir: string, grpcPort: number, deviceId = 0): Lab {
  const hosts = [1, 2, 3, 4].map((n) => testHost(n, "s1", n));
  const s1: Switch = {
    name: "s1",
    kind: "bmv2",
    deviceId,
    grpcPort,
    thriftPort: 1,
    ports: hostPorts("s1", hosts),
  };
  return lab(`p4t-ctl1-${crypto.randomUUID().slice(0, 4)}`, runDir, hosts, [s1]);
}

/**
 * s1 (the load balancer) with h1, h2 on ports 1, 2, linked by its port 3 to port 1 of s2, which
 * has h3, h4 on ports 2, 3. Backend h2.
 */
export function twoSwitchLab(runDir: string, grpcPorts: [number, number]): Lab {
  const hosts = [
    testHost(1, "s1", 1),
    testHost(2, "s1", 2),
    testHost(3, "s2", 2),
    testHost(4, "s2", 3),
  ];
  const s1: Switch = {
    name: "s1",
    kind: "bmv2",
    deviceId: 1,
    grpcPort: grpcPorts[0],
    thriftPort: 1,
    ports: [...hostPorts("s1", hosts), {
      port: 3,
      iface: "s1p3",
      mac: "02:00:00:00:aa:03",
      peer: { kind: "switch", switch: "s2", port: 1 },
    }],
  };
  const s2: Switch = {
    name: "s2",
    kind: "bmv2",
    deviceId: 2,
    grpcPort: grpcPorts[1],
    thriftPort: 1,
    ports: [{
      port: 1,
      iface: "s2p1",
      mac: "02:00:00:00:bb:01",
      peer: { kind: "switch", switch: "s1", port: 3 },
    }, ...hostPorts("s2", hosts)],
  };
  return lab(`p4t-ctl2-${crypto.randomUUID().slice(0, 4)}`, runDir, hosts, [s1, s2]);
}
