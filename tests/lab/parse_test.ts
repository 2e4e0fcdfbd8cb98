import assert from "node:assert/strict";
import { loadLab } from "../../lib/lab/load.ts";
import { parseLabText } from "../../lib/lab/parse.ts";
import { labsRunRoot } from "../../lib/lab/paths.ts";

Deno.test("process-migration resolves to the documented topology", async () => {
  const lab = await loadLab("process-migration");
  assert.equal(lab.name, "process-migration");
  assert.equal(lab.id, "pm");
  assert.equal(lab.runDir, `${labsRunRoot()}/process-migration`);
  assert.match(lab.file, /\/lab\/process-migration\.yaml$/);
  assert.deepEqual(lab.hosts[1], {
    name: "h2",
    kind: "netns",
    ip: "10.0.2.2",
    prefix: 24,
    mac: "02:00:0a:00:02:02",
    iface: "eth0",
    gateway: "10.0.2.254",
    gatewayMac: "02:01:00:00:00:02",
    switch: "s1",
    switchPort: 2,
    netns: "pm-h2",
  });
  assert.deepEqual(
    lab.switches.map((s) => [s.name, s.kind, s.deviceId, s.grpcPort, s.thriftPort]),
    [["s1", "bmv2", 0, 26816, 26817]],
  );
  assert.deepEqual(lab.switches[0].ports.map((p) => [p.port, p.iface, p.mac, p.peer]), [
    [1, "pm-s1-eth1", "02:01:00:00:00:01", { kind: "host", host: "h1" }],
    [2, "pm-s1-eth2", "02:01:00:00:00:02", { kind: "host", host: "h2" }],
    [3, "pm-s1-eth3", "02:01:00:00:00:03", { kind: "host", host: "h3" }],
  ]);
  assert.deepEqual(lab.loadBalancer, {
    switch: "s1",
    vip: "10.0.0.100",
    servicePort: 12345,
    backends: ["h2"],
  });
  assert.deepEqual(lab.workloads.map((w) => [w.name, w.host, w.kind, w.role]), [[
    "server",
    "h2",
    "process",
    "server",
  ], ["client", "h1", "process", "client"]]);
});

Deno.test("the four-switch lab cables s2..s4 behind s1 with distinct ids and ports", async () => {
  const lab = await loadLab("process-migration-4sw");
  assert.equal(lab.id, "pm4");
  assert.deepEqual(lab.switches.map((s) => [s.name, s.deviceId, s.grpcPort, s.thriftPort]), [
    ["s1", 0, 20096, 20097],
    ["s2", 1, 20098, 20099],
    ["s3", 2, 20100, 20101],
    ["s4", 3, 20102, 20103],
  ]);
  assert.deepEqual(lab.switches[0].ports.map((p) => [p.port, p.peer]), [
    [1, { kind: "host", host: "h1" }],
    [2, { kind: "switch", switch: "s2", port: 2 }],
    [3, { kind: "switch", switch: "s3", port: 2 }],
    [4, { kind: "switch", switch: "s4", port: 2 }],
  ]);
  assert.deepEqual(lab.hosts.map((h) => [h.name, h.switch, h.switchPort, h.gatewayMac]), [
    ["h1", "s1", 1, "02:01:00:00:00:01"],
    ["h2", "s2", 1, "02:01:00:01:00:01"],
    ["h3", "s3", 1, "02:01:00:02:00:01"],
    ["h4", "s4", 1, "02:01:00:03:00:01"],
  ]);
});

Deno.test("pod labs name their pods and containers with the lab id", async () => {
  const hc = await loadLab("host-containers");
  assert.deepEqual(hc.hosts.map((h) => [h.kind, h.netns, h.pod]), [["pod", "hc-h1", "hc-h1"], [
    "pod",
    "hc-h2",
    "hc-h2",
  ], ["pod", "hc-h3", "hc-h3"]]);
  assert.deepEqual(hc.workloads.map((w) => [w.kind, w.container, w.image]), [
    ["container", "hc-server", "p4cf-counter-server"],
    ["container", "hc-client", "p4cf-counter-client"],
  ]);
  const sc = await loadLab("switch-container");
  assert.deepEqual([sc.switches[0].kind, sc.switches[0].container], ["bmv2-container", "sc-s1"]);
  const redis = await loadLab("redis");
  assert.equal(redis.loadBalancer.servicePort, 6379);
  assert.deepEqual(redis.workloads.map((w) => [w.name, w.role]), [["redis", "server"], [
    "producer",
    "client",
  ], ["client", "client"]]);
});

Deno.test("short forms: bare IP, no name/id, auto ports, string command, explicit overrides", () => {
  const lab = parseLabText(
    `hosts:
  a: { ip: 192.168.7.9 }
  b: { ip: 172.16.0.5/16, mac: 02:AA:BB:CC:DD:EE, iface: veth-b, gateway: 172.16.0.1 }
switches:
  core:
  edge: { device_id: 7, grpc_port: 60000, thrift_port: 60001, queue_depth: 64 }
links:
  - [a, core]
  - [core, edge]
  - [edge:5, b]
load_balancer: { vip: 10.9.9.9, port: 80, backends: [b] }
workloads:
  web: { host: b, command: "httpd -p {port} -b {host_ip}" }
`,
    "/somewhere/my-small-lab.yaml",
    { runRoot: "/tmp/p4t-runs" },
  );
  assert.equal(lab.name, "my-small-lab");
  assert.equal(lab.id, "msl");
  assert.equal(lab.runDir, "/tmp/p4t-runs/my-small-lab");
  const [a, b] = lab.hosts;
  assert.deepEqual([a.ip, a.prefix, a.gateway, a.mac, a.switchPort], [
    "192.168.7.9",
    24,
    "192.168.7.254",
    "02:00:c0:a8:07:09",
    1,
  ]);
  assert.deepEqual([b.prefix, b.gateway, b.mac, b.iface, b.switch, b.switchPort, b.gatewayMac], [
    16,
    "172.16.0.1",
    "02:aa:bb:cc:dd:ee",
    "veth-b",
    "edge",
    5,
    "02:01:00:07:00:05",
  ]);
  const [core, edge] = lab.switches;
  assert.deepEqual(core.ports.map((p) => [p.port, p.iface, p.peer]), [[1, "msl-core-eth1", {
    kind: "host",
    host: "a",
  }], [2, "msl-core-eth2", { kind: "switch", switch: "edge", port: 1 }]]);
  assert.deepEqual([edge.deviceId, edge.grpcPort, edge.thriftPort, edge.queueDepth], [
    7,
    60000,
    60001,
    64,
  ]);
  assert.equal(lab.switches[0].queueDepth, 1024, "the default holds a burst of retransmissions");
  assert.deepEqual(edge.ports.map((p) => p.port), [1, 5]);
  assert.equal(lab.loadBalancer.switch, "core");
  assert.deepEqual(lab.workloads[0].command, ["httpd", "-p", "{port}", "-b", "{host_ip}"]);
  assert.equal(lab.workloads[0].role, "server");
});
