import assert from "node:assert/strict";
import { CniError } from "../../../lib/kubernetes/cni/args.ts";
import {
  addArgv,
  addResult,
  checkProblems,
  configureSlotArgv,
  delArgv,
  netnsTarget,
  parkingNetns,
  recreateVethArgv,
  switchIface,
} from "../../../lib/kubernetes/cni/plan.ts";
import { planLab } from "../../../lib/topology/plan.ts";
import type { Host, Lab } from "../../../lib/lab/types.ts";
import { kubernetesLab } from "./_fixtures.ts";

const lines = (argvs: string[][]) => argvs.map((a) => a.join(" "));
const OFF = "tx off rx off sg off tso off gso off gro off";
const POD = "nsenter --net=/var/run/netns/cni-1234 --";
const H2 = "nsenter --net=/run/netns/k8s-h2 --";

async function labAndH2(): Promise<[Lab, Host]> {
  const lab = await kubernetesLab();
  return [lab, lab.hosts.find((h) => h.name === "h2")!];
}

/** The topology's own configuration commands of a slot (`lab up`). */
function topologyConfig(lab: Lab, host: string): string[] {
  const step = planLab(lab).steps.find((s) =>
    s.kind === "configure-host-iface" && s.host === host
  )!;
  return lines(step.run);
}

Deno.test("netnsTarget: a name under /run/netns or /var/run/netns, a pid, or the path", () => {
  assert.equal(netnsTarget("/var/run/netns/cni-1234"), "cni-1234");
  assert.equal(netnsTarget("/run/netns/k8s-pod"), "k8s-pod");
  assert.equal(netnsTarget("/proc/4242/ns/net"), "4242");
  // CRI-O's own namespaces_dir: iproute2 opens a path as it is.
  assert.equal(netnsTarget("/x/crio/ns/netns/4b0c"), "/x/crio/ns/netns/4b0c");
  for (const bad of ["cni-1234", "/run/netns/", "/run/netns/..", "/x/../netns", "/x/ns/"]) {
    assert.throws(() => netnsTarget(bad), (e) => e instanceof CniError && e.code === 4, bad);
  }
});

Deno.test("addArgv: lo and IPv6 first, the move, then exactly the slot's configuration", async () => {
  const [lab, h2] = await labAndH2();
  const argv = lines(addArgv(lab, h2, { netns: "/var/run/netns/cni-1234", ifname: "eth0" }));
  assert.deepEqual(argv.slice(0, 5), [
    `${POD} ip link set dev lo up`,
    `${POD} sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1`,
    `${H2} ip link set dev eth0 netns cni-1234 name eth0`,
    `${POD} ip addr flush dev eth0`,
    `${POD} sysctl -q -w net.ipv6.conf.eth0.disable_ipv6=1`,
  ]);
  assert.deepEqual(argv.slice(5), [
    `${POD} ip link set dev eth0 address 02:00:0a:00:02:02`,
    `${POD} ethtool -K eth0 ${OFF}`,
    `${POD} ip addr add 10.0.2.2/24 dev eth0`,
    `${POD} ip link set dev eth0 up`,
    `${POD} ip neigh replace 10.0.2.254 lladdr 02:01:00:00:00:02 dev eth0 nud permanent`,
    `${POD} ip route add default via 10.0.2.254 dev eth0`,
  ]);
  // The very commands `lab up` runs in the parking namespace, entered in the pod instead.
  assert.deepEqual(argv.slice(5), topologyConfig(lab, "h2").map((l) => l.replace(H2, POD)));
});

Deno.test("addArgv: a pod asking for another name gets it, and /proc paths move by pid", async () => {
  const [lab, h2] = await labAndH2();
  const argv = lines(addArgv(lab, h2, { netns: "/proc/77/ns/net", ifname: "net1" }));
  const pod = "nsenter --net=/proc/77/ns/net --";
  assert.equal(argv[2], `${H2} ip link set dev eth0 netns 77 name net1`);
  assert.ok(argv.slice(3).every((l) => l.startsWith(pod) && !/\beth0\b/.test(l)), argv.join("\n"));
  assert.ok(argv.includes(`${pod} ip route add default via 10.0.2.254 dev net1`));
  assert.ok(
    !argv.some((l) => l.includes("neigh replace 10.0.2.2 ")),
    "the slot's own address is no static neighbour, renamed or not",
  );
});

Deno.test("addArgv: same-subnet lab hosts and the VIP get static ARP entries", async () => {
  const lab = await kubernetesLab();
  const flat: Lab = {
    ...lab,
    hosts: lab.hosts.map((h, i) => ({ ...h, ip: `10.0.0.${i + 1}`, gateway: "10.0.0.254" })),
  };
  const h2 = flat.hosts[1];
  const argv = lines(addArgv(flat, h2, { netns: "/run/netns/p", ifname: "eth0" }));
  const neighbours = argv.filter((l) => l.includes("neigh replace")).map((l) => l.split(" ")[6]);
  assert.deepEqual(neighbours, [
    "10.0.0.254",
    "10.0.0.100",
    "10.0.0.1",
    "10.0.0.3",
    "10.0.0.4",
    "10.0.0.5",
  ]);
});

Deno.test("delArgv: the move back under the slot's name, then the slot's configuration", async () => {
  const [lab, h2] = await labAndH2();
  const argv = lines(delArgv(lab, h2, { netns: "/var/run/netns/cni-1234", ifname: "net1" }));
  assert.equal(argv[0], `${POD} ip link set dev net1 netns k8s-h2 name eth0`);
  assert.deepEqual(argv.slice(1), lines(configureSlotArgv(lab, h2)));
  assert.deepEqual(argv.slice(3), topologyConfig(lab, "h2"));
  assert.deepEqual(argv.slice(1, 3), [
    `${H2} ip addr flush dev eth0`,
    `${H2} sysctl -q -w net.ipv6.conf.eth0.disable_ipv6=1`,
  ]);
});

Deno.test("recreateVethArgv: the topology's veth and switch-side steps, then the slot", async () => {
  const [lab, h2] = await labAndH2();
  assert.equal(switchIface(lab, h2), "k8s-s1-eth2");
  assert.equal(parkingNetns(lab, h2), "k8s-h2");
  const argv = lines(recreateVethArgv(lab, h2));
  const topo = planLab(lab).steps;
  const veth = topo.find((s) => s.kind === "create-veth" && s.iface === "k8s-s1-eth2")!;
  const sw = topo.find((s) => s.kind === "configure-switch-iface" && s.iface === "k8s-s1-eth2")!;
  assert.deepEqual(argv.slice(0, 4), [...lines(veth.run), ...lines(sw.run)]);
  assert.deepEqual(argv.slice(0, 4), [
    "ip link add k8s-s1-eth2 type veth peer name eth0 netns k8s-h2",
    "sysctl -q -w net.ipv6.conf.k8s-s1-eth2.disable_ipv6=1",
    `ethtool -K k8s-s1-eth2 ${OFF}`,
    "ip link set dev k8s-s1-eth2 up",
  ]);
  assert.deepEqual(argv.slice(4), lines(configureSlotArgv(lab, h2)));
});

Deno.test("addResult: the slot's MAC, address, gateway and default route", async () => {
  const [, h2] = await labAndH2();
  const pod = { netns: "/var/run/netns/cni-1234", ifname: "eth0" };
  assert.deepEqual(addResult("1.0.0", h2, pod), {
    cniVersion: "1.0.0",
    interfaces: [{ name: "eth0", mac: "02:00:0a:00:02:02", sandbox: "/var/run/netns/cni-1234" }],
    ips: [{ address: "10.0.2.2/24", gateway: "10.0.2.254", interface: 0 }],
    routes: [{ dst: "0.0.0.0/0", gw: "10.0.2.254" }],
  });
  assert.equal(addResult("0.4.0", h2, pod).ips[0].version, "4");
});

Deno.test("checkProblems: reads ip -j output and names each mismatch", async () => {
  const [, h2] = await labAndH2();
  const addr = (mac: string, local: string, flags = ["BROADCAST", "UP", "LOWER_UP"]) =>
    JSON.stringify([{
      ifname: "eth0",
      flags,
      address: mac,
      addr_info: [{ family: "inet", local, prefixlen: 24 }],
    }]);
  const route = JSON.stringify([{ dst: "default", gateway: "10.0.2.254", dev: "eth0" }]);
  assert.deepEqual(checkProblems(h2, "eth0", addr("02:00:0a:00:02:02", "10.0.2.2"), route), []);
  assert.deepEqual(
    checkProblems(h2, "eth0", addr("02:00:0a:00:09:09", "10.0.9.9", ["BROADCAST"]), "[]"),
    [
      "eth0 has MAC 02:00:0a:00:09:09, not 02:00:0a:00:02:02",
      "eth0 has 10.0.9.9/24, not 10.0.2.2/24",
      "eth0 is down",
      "no default route via 10.0.2.254 dev eth0",
    ],
  );
  assert.deepEqual(checkProblems(h2, "eth0", "[]", "[]"), ["eth0 is not in the pod's namespace"]);
});
