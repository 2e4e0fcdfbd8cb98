/**
 * The machines' lab format and plan, without root: what a lab with `machines` resolves to, the
 * errors a bad one gets, and the exact commands of the underlay, the shaping and the tunnels.
 */
import assert from "node:assert/strict";
import { LabFileError } from "../../lib/lab/issues.ts";
import { parseLabText } from "../../lib/lab/parse.ts";
import {
  planMachines,
  planTunnels,
  shapeArgvs,
  tbfBurstBytes,
  tunnelVni,
  underlayGuardArgv,
} from "../../lib/machines/plan.ts";
import { formatRate, parseDelay, parseRate } from "../../lib/machines/units.ts";
import { testLab } from "../topology/_lab.ts";

async function machinesLab(edit: (t: string) => string = (t) => t) {
  const { lab, runRoot } = await testLab("process-machines", edit);
  await Deno.remove(runRoot, { recursive: true });
  return lab;
}

function problems(text: string): string[] {
  try {
    parseLabText(text, "/tmp/x.yaml");
  } catch (err) {
    assert.ok(err instanceof LabFileError, String(err));
    return err.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  }
  return [];
}

Deno.test("rates and delays are read as tc writes them", () => {
  assert.equal(parseRate("1gbit"), 1e9);
  assert.equal(parseRate("100mbit"), 1e8);
  assert.equal(parseRate("1.5Mbit"), 1.5e6);
  assert.equal(parseRate("1gbyte"), undefined);
  assert.equal(parseRate("fast"), undefined);
  assert.equal(parseDelay("0.5ms"), 0.5);
  assert.equal(parseDelay("200us"), 0.2);
  assert.equal(parseDelay("1s"), 1000);
  assert.equal(parseDelay("5"), undefined);
  assert.equal(formatRate(1e9), "1 Gbit/s");
});

Deno.test("the shipped machines lab: the switch's machine first, every host on its machine", async () => {
  const lab = await machinesLab();
  assert.equal(lab.runtime, "machines");
  assert.deepEqual(lab.machines!.map((m) => [m.name, m.root, m.netns]), [
    ["m1", true, undefined],
    ["m2", false, `${lab.id}-m2`],
    ["m3", false, `${lab.id}-m3`],
  ]);
  const [m1, m2] = lab.machines!;
  assert.equal(m2.rateBitS, 1e9);
  assert.equal(m2.delayMs, 0.5);
  assert.equal(m2.underlayIface, `${lab.id}-m2-ul`);
  assert.match(m1.underlayIp, /^172\.30\.\d+\.1$/);
  assert.equal(lab.underlay!.bridge, `${lab.id}-ul`);
  assert.deepEqual(lab.hosts.map((h) => [h.name, h.machine]), [
    ["h1", "m1"],
    ["h2", "m2"],
    ["h3", "m3"],
  ]);
});

Deno.test("a lab file with bad machines gets one clear error per problem, nothing else", () => {
  const base = Deno.readTextFileSync(new URL("../../lab/process-machines.yaml", import.meta.url));
  const bad = base
    .replace("m2: { rate: 1gbit, delay: 0.5ms }", "m2: { rate: 1gbyte, delay: soon, speed: 1 }")
    .replace("machine: m3", "machine: m4");
  const found = problems(bad);
  assert.deepEqual(found, [
    "machines.m2.speed: is not a known key",
    'machines.m2.rate: "1gbyte" is not a rate',
    'machines.m2.delay: "soon" is not a delay',
    'hosts.h3.machine: "m4" is not a machine',
  ]);
  assert.match(
    problems(base.replace(/^machines:[\s\S]*?\n\n/m, ""))[0],
    /hosts.h2.machine: names a machine, but the lab declares no machines/,
  );
  assert.match(
    problems(base.replace("  s1: {}", "  s1: { machine: m2 }\n  s2: { machine: m3 }"))
      .join("\n"),
    /the switches are on different machines/,
  );
  assert.match(
    problems(base.replace("machines:\n", "underlay: 10.0.2.0/24\nmachines:\n")).join("\n"),
    /underlay: the underlay 10.0.2.0\/24 overlaps host h2's subnet/,
  );
  assert.match(
    problems(
      base.replace(
        "h2: { ip: 10.0.2.2/24, machine: m2 }",
        "h2: { ip: 10.0.2.2/24, machine: m2, kind: pod }",
      ),
    )
      .join("\n"),
    /hosts.h2.kind: a pod host cannot be part of a lab with machines/,
  );
  assert.match(
    problems(base.replace("  m3: {", "  longname7: {").replace("machine: m3", "machine: longname7"))
      .join("\n"),
    /gives underlay interface .* Linux allows 15/,
  );
});

Deno.test("the underlay: a bridge, a guard, per machine a namespace, a link and its shaping", async () => {
  const lab = await machinesLab();
  const id = lab.id!;
  const steps = planMachines(lab);
  assert.deepEqual(steps.map((s) => s.creates.map((o) => `${o.kind} ${o.name}`)), [
    [`link ${id}-ul`],
    [`nft-table p4cf_${id}`],
    [`netns ${id}-m2`],
    [`link ${id}-m2-ul`],
    [],
    [],
    [`netns ${id}-m3`],
    [`link ${id}-m3-ul`],
    [],
    [],
  ]);
  const link = steps[3].run;
  assert.deepEqual(link[0], [
    "ip",
    "link",
    "add",
    `${id}-m2-ul`,
    "type",
    "veth",
    "peer",
    "name",
    "ul0",
    "netns",
    `${id}-m2`,
  ]);
  assert.ok(link.some((a) => a.join(" ") === `ip link set dev ${id}-m2-ul master ${id}-ul`));
  // Both directions shaped: towards m2 on the bridge port, from m2 inside its namespace.
  const [to, from] = [steps[4].shape!, steps[5].shape!];
  assert.equal(to.iface, `${id}-m2-ul`);
  assert.deepEqual(from.rateOnly[0].slice(0, 4), [
    "nsenter",
    `--net=/run/netns/${id}-m2`,
    "--",
    "tc",
  ]);
  assert.deepEqual(to.withDelay.map((a) => a.join(" ")), [
    `tc qdisc add dev ${id}-m2-ul root handle 1: netem delay 0.5ms`,
    `tc qdisc add dev ${id}-m2-ul parent 1: handle 10: tbf rate 1000000000bit burst 1250000 latency 20ms`,
  ]);
  assert.deepEqual(to.rateOnly.map((a) => a.join(" ")), [
    `tc qdisc add dev ${id}-m2-ul root handle 1: tbf rate 1000000000bit burst 1250000 latency 20ms`,
  ]);
  assert.equal(tbfBurstBytes(64e3), 16 * 1024);
  assert.deepEqual(shapeArgvs(undefined, "x", {}, true), []);
  const guard = underlayGuardArgv(id, lab.underlay!).join(" ");
  assert.match(guard, new RegExp(`ip daddr ${lab.underlay!.subnet}/24 meta skuid != 0 reject`));
  assert.match(guard, new RegExp(`udp dport 4789 iifname != "${id}-ul" drop`));
});

Deno.test("a host on a simulated machine reaches its switch port through a VXLAN tunnel", async () => {
  const lab = await machinesLab();
  const id = lab.id!;
  const [m1, m2] = lab.machines!;
  const tunnels = planTunnels(lab);
  assert.equal(tunnels.length, 2, "h2 and h3; h1 is on the switch's machine");
  const run = tunnels[0].run.map((a) => a.join(" "));
  const vni = tunnelVni(id, 1);
  assert.equal(run[0], `ip link del dev ${id}-s1-eth2`);
  assert.equal(
    run[1],
    `ip link add ${id}-s1-eth2 mtu 1500 type vxlan id ${vni} local ${m1.underlayIp} remote ` +
      `${m2.underlayIp} dstport 4789 dev ${id}-ul`,
  );
  assert.ok(run.includes(
    `nsenter --net=/run/netns/${id}-m2 -- ip link add vxtmp1 mtu 1500 type vxlan id ${vni} ` +
      `local ${m2.underlayIp} remote ${m1.underlayIp} dstport 4789 dev ul0`,
  ));
  assert.ok(
    run.includes(`nsenter --net=/run/netns/${id}-m2 -- ip link set dev vxtmp1 netns ${id}-h2`),
  );
  assert.ok(run.includes(`nsenter --net=/run/netns/${id}-h2 -- ip link set dev vxtmp1 name eth0`));
  assert.ok(run.some((c) => c.endsWith("ip route add default via 10.0.2.254 dev eth0")));
  assert.notEqual(tunnelVni(id, 1), tunnelVni(id, 2));
  assert.notEqual(tunnelVni("pm", 1), tunnelVni("pmm", 1));
});
