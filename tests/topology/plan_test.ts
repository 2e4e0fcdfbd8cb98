import assert from "node:assert/strict";
import { listLabs } from "../../lib/lab/find.ts";
import { loadLab } from "../../lib/lab/load.ts";
import { parseLabText } from "../../lib/lab/parse.ts";
import { planLab, type PlanStep } from "../../lib/topology/plan.ts";
import { foreignReason } from "../../lib/topology/objects.ts";

const SMALL = `name: p4t-plan
id: tp
hosts:
  h1: { ip: 10.0.1.1/24 }
  h2: { ip: 10.0.1.2/24, kind: pod }
switches:
  s1: {}
  s2: {}
links:
  - [h1, s1:1]
  - [s1:2, s2:2]
  - [h2, s2:1]
load_balancer: { vip: 10.0.1.100, port: 80, backends: [h2] }
`;

const lines = (argvs: string[][]) => argvs.map((a) => a.join(" "));
const OFF = "tx off rx off sg off tso off gso off gro off";
const NS1 = "nsenter --net=/run/netns/tp-h1 --";
const NS2 = "nsenter --net=/run/netns/tp-h2 --";

function summary(step: PlanStep): [string, string[], string[]] {
  return [step.kind, lines(step.run), lines(step.undo)];
}

Deno.test("plan of a small lab: exact argv and undo, in order", () => {
  const lab = parseLabText(SMALL, "/tmp/p4t-plan.yaml", { runRoot: "/tmp/p4t-runs" });
  const plan = planLab(lab);
  assert.equal(plan.runDir, "/tmp/p4t-runs/p4t-plan");
  assert.deepEqual(plan.steps.map(summary), [
    ["create-netns", [
      "ip netns add tp-h1",
      `${NS1} ip link set dev lo up`,
      `${NS1} sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1`,
    ], ["ip netns del tp-h1"]],
    ["create-veth", ["ip link add tp-s1-eth1 type veth peer name eth0 netns tp-h1"], [
      "ip link del dev tp-s1-eth1",
    ]],
    ["configure-switch-iface", [
      "sysctl -q -w net.ipv6.conf.tp-s1-eth1.disable_ipv6=1",
      `ethtool -K tp-s1-eth1 ${OFF}`,
      "ip link set dev tp-s1-eth1 up",
    ], []],
    ["configure-host-iface", [
      `${NS1} ip link set dev eth0 address 02:00:0a:00:01:01`,
      `${NS1} ethtool -K eth0 ${OFF}`,
      `${NS1} ip addr add 10.0.1.1/24 dev eth0`,
      `${NS1} ip link set dev eth0 up`,
      `${NS1} ip neigh replace 10.0.1.254 lladdr 02:01:00:00:00:01 dev eth0 nud permanent`,
      // The VIP and the other host are in h1's subnet: they must not be ARPed for either.
      `${NS1} ip neigh replace 10.0.1.100 lladdr 02:01:00:00:00:01 dev eth0 nud permanent`,
      `${NS1} ip neigh replace 10.0.1.2 lladdr 02:01:00:00:00:01 dev eth0 nud permanent`,
      `${NS1} ip route add default via 10.0.1.254 dev eth0`,
    ], []],
    ["create-pod", [
      "podman pod create --name tp-h2 --infra-name tp-h2-infra --network none --hostname h2 --label p4cf.lab=p4t-plan",
      "podman pod start tp-h2",
    ], ["podman pod rm --force --time 0 tp-h2"]],
    ["attach-pod-netns", [
      "ip netns attach tp-h2 {pid:tp-h2-infra}",
      `${NS2} ip link set dev lo up`,
      `${NS2} sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1`,
    ], ["ip netns del tp-h2"]],
    ["create-veth", ["ip link add tp-s2-eth1 type veth peer name eth0 netns tp-h2"], [
      "ip link del dev tp-s2-eth1",
    ]],
    ["configure-switch-iface", [
      "sysctl -q -w net.ipv6.conf.tp-s2-eth1.disable_ipv6=1",
      `ethtool -K tp-s2-eth1 ${OFF}`,
      "ip link set dev tp-s2-eth1 up",
    ], []],
    ["configure-host-iface", [
      `${NS2} ip link set dev eth0 address 02:00:0a:00:01:02`,
      `${NS2} ethtool -K eth0 ${OFF}`,
      `${NS2} ip addr add 10.0.1.2/24 dev eth0`,
      `${NS2} ip link set dev eth0 up`,
      `${NS2} ip neigh replace 10.0.1.254 lladdr 02:01:00:01:00:01 dev eth0 nud permanent`,
      `${NS2} ip neigh replace 10.0.1.100 lladdr 02:01:00:01:00:01 dev eth0 nud permanent`,
      `${NS2} ip neigh replace 10.0.1.1 lladdr 02:01:00:01:00:01 dev eth0 nud permanent`,
      `${NS2} ip route add default via 10.0.1.254 dev eth0`,
    ], []],
    ["create-veth", ["ip link add tp-s1-eth2 type veth peer name tp-s2-eth2"], [
      "ip link del dev tp-s1-eth2",
    ]],
    ["configure-switch-iface", [
      "sysctl -q -w net.ipv6.conf.tp-s1-eth2.disable_ipv6=1",
      `ethtool -K tp-s1-eth2 ${OFF}`,
      "ip link set dev tp-s1-eth2 up",
    ], []],
    ["configure-switch-iface", [
      "sysctl -q -w net.ipv6.conf.tp-s2-eth2.disable_ipv6=1",
      `ethtool -K tp-s2-eth2 ${OFF}`,
      "ip link set dev tp-s2-eth2 up",
    ], []],
    [
      "guard-switch-ports",
      [
        "nft add table inet p4cf_tp; " +
        "add chain inet p4cf_tp guard { type filter hook output priority -300; policy accept; }; " +
        "add rule inet p4cf_tp guard ip daddr 127.0.0.0/8 tcp dport { 20656, 20657, 20658, 20659 } " +
        "meta skuid != 0 reject with tcp reset; " +
        "add rule inet p4cf_tp guard ip6 daddr ::1 tcp dport { 20656, 20657, 20658, 20659 } " +
        "meta skuid != 0 reject with tcp reset",
      ],
      ["nft delete table inet p4cf_tp"],
    ],
    ["start-switch", [], ["kill -TERM {pidfile:/tmp/p4t-runs/p4t-plan/s1.pid}"]],
    ["start-switch", [], ["kill -TERM {pidfile:/tmp/p4t-runs/p4t-plan/s2.pid}"]],
  ]);
  const start = plan.steps.at(-2)!;
  assert.equal(start.kind, "start-switch");
  if (start.kind === "start-switch") {
    assert.equal(start.switch.name, "s1");
    assert.equal(start.logFile, "/tmp/p4t-runs/p4t-plan/s1.log");
    assert.deepEqual(start.creates, [{
      kind: "process",
      name: "s1",
      pidFile: "/tmp/p4t-runs/p4t-plan/s1.pid",
      comm: "simple_switch_grpc",
    }]);
  }
  assert.deepEqual(plan.steps[9].creates, [{
    kind: "link",
    name: "tp-s1-eth2",
    peer: "tp-s2-eth2",
  }]);
});

Deno.test("planning is pure and deterministic; switches can be left out", () => {
  const lab = parseLabText(SMALL, "/tmp/p4t-plan.yaml", { runRoot: "/tmp/p4t-runs" });
  assert.deepEqual(planLab(lab), planLab(lab));
  const topo = planLab(lab, { withoutSwitches: true });
  assert.ok(topo.steps.every((s) => s.kind !== "start-switch" && s.kind !== "guard-switch-ports"));
  assert.equal(topo.steps.length, planLab(lab).steps.length - 3);
});

Deno.test("a containerised switch is recorded as its container", () => {
  const lab = parseLabText(
    SMALL.replace("  s1: {}", "  s1: { kind: bmv2-container }"),
    "/tmp/p4t-plan.yaml",
  );
  const step = planLab(lab).steps.find((s) => s.kind === "start-switch")!;
  assert.deepEqual(step.creates, [{ kind: "container", name: "tp-s1" }]);
  assert.deepEqual(lines(step.undo), ["podman rm --force --time 0 tp-s1"]);
});

for (const name of listLabs()) {
  Deno.test(`plan of lab ${name}: every object carries the lab prefix and can be undone`, async () => {
    const lab = await loadLab(name);
    const plan = planLab(lab);
    for (const step of plan.steps) {
      for (const obj of step.creates) {
        const foreign = foreignReason(obj, lab.id!, lab.runDir!);
        assert.equal(foreign, undefined, `${obj.kind} ${obj.name}: ${foreign}`);
        if (obj.kind === "link") assert.ok(obj.name.length <= 15);
      }
      assert.equal(
        step.creates.length > 0,
        step.undo.length > 0,
        `${step.title}: creates and undo disagree`,
      );
    }
    const hostsWired = plan.steps.filter((s) => s.kind === "configure-host-iface").length;
    assert.equal(hostsWired, lab.hosts.length);
    const veths = plan.steps.filter((s) => s.kind === "create-veth").length;
    const switchLinks = lab.switches.flatMap((s) =>
      s.ports
    ).filter((p) => p.peer.kind === "switch").length / 2;
    assert.equal(veths, lab.hosts.length + switchLinks);
  });
}
