import assert from "node:assert/strict";
import {
  planRig,
  rigPodArgvs,
  rigSetupArgvs,
  rigStandIn,
  rigTeardownArgvs,
} from "../../lib/criu/selfcheck_rig.ts";
import { standInRuleset } from "../../lib/criu/nft_standin.ts";

Deno.test("planRig: unique namespace names, distinct subnets, short interface names", () => {
  const p = planRig("p4tab12cd");
  assert.deepEqual([p.router, p.client.netns, p.source.netns, p.target.netns], [
    "p4tab12cd-rtr",
    "p4tab12cd-cli",
    "p4tab12cd-src",
    "p4tab12cd-dst",
  ]);
  assert.notEqual(p.source.ip, p.target.ip);
  assert.notEqual(p.source.gateway, p.target.gateway);
  for (const h of [p.client, p.source, p.target]) {
    assert.ok(h.iface.length <= 15 && h.routerIface.length <= 15);
  }
  assert.throws(() => planRig("Bad-Prefix"), /must be 1-10/);
});

Deno.test("rig setup creates links inside namespaces only; teardown deletes every namespace", () => {
  const p = planRig("p4tx");
  const setup = rigSetupArgvs(p).map((a) => a.join(" "));
  assert.ok(setup.includes("ip netns add p4tx-rtr"));
  assert.ok(
    setup.includes("ip -n p4tx-src link add eth0 type veth peer name to-src netns p4tx-rtr"),
  );
  assert.ok(setup.includes("ip -n p4tx-dst route add default via 10.99.3.1"));
  assert.equal(
    setup.at(-1),
    "nsenter --net=/run/netns/p4tx-rtr -- sysctl -qw net.ipv4.ip_forward=1",
  );
  // Every link is created with both ends in a rig namespace, never on the host.
  const links = setup.filter((l) => / link add /.test(l));
  assert.equal(links.length, 3);
  for (const line of links) {
    assert.match(line, /^ip -n p4tx-\w+ link add eth0 type veth peer name \S+ netns p4tx-rtr$/);
  }
  assert.deepEqual(rigTeardownArgvs(p).map((a) => a.at(-1)), [
    "p4tx-rtr",
    "p4tx-cli",
    "p4tx-src",
    "p4tx-dst",
  ]);
});

Deno.test("a pod rig: source and target are pods whose namespaces are attached, not added", () => {
  assert.deepEqual(rigPodArgvs(planRig("p4tx")), []);
  const p = planRig("p4tx", 7000, { pods: true });
  assert.deepEqual([p.client.pod, p.source.pod, p.target.pod], [undefined, "p4tx-src", "p4tx-dst"]);
  assert.deepEqual(rigPodArgvs(p).map((a) => a.join(" ")), [
    "podman pod create --name p4tx-src --infra-name p4tx-src-infra --network none --hostname p4tx-src",
    "podman pod start p4tx-src",
    "podman pod create --name p4tx-dst --infra-name p4tx-dst-infra --network none --hostname p4tx-dst",
    "podman pod start p4tx-dst",
  ]);
  const setup = rigSetupArgvs(p).map((a) => a.join(" "));
  assert.deepEqual(setup.filter((l) => l.startsWith("ip netns add")), [
    "ip netns add p4tx-rtr",
    "ip netns add p4tx-cli",
  ]);
  assert.ok(setup.includes("ip -n p4tx-src link set lo up"));
  assert.ok(
    setup.includes("ip -n p4tx-dst link add eth0 type veth peer name to-dst netns p4tx-rtr"),
  );
  // Pods (and their containers) go first; then every namespace, attached ones included.
  assert.deepEqual(rigTeardownArgvs(p).map((a) => a.join(" ")), [
    "podman pod rm --force --time 0 p4tx-src",
    "podman pod rm --force --time 0 p4tx-dst",
    "ip netns del p4tx-rtr",
    "ip netns del p4tx-cli",
    "ip netns del p4tx-src",
    "ip netns del p4tx-dst",
  ]);
});

Deno.test("nft-stand-in: stateless, atomic replace, replies from every backend become the VIP", () => {
  const p = planRig("p4tx");
  const rules = standInRuleset(rigStandIn(p, "target"));
  assert.match(rules, /^table ip p4tx_lb \{\}\ndelete table ip p4tx_lb\n/);
  assert.match(rules, /notrack/);
  assert.match(rules, /ip daddr 10\.99\.9\.9 tcp dport 7000 ip daddr set 10\.99\.3\.2/);
  assert.match(
    rules,
    /ip saddr \{ 10\.99\.2\.2, 10\.99\.3\.2 \} tcp sport 7000 ip saddr set 10\.99\.9\.9/,
  );
  assert.doesNotMatch(rules, /\b(snat|dnat|masquerade)\b/);
  assert.throws(
    () => standInRuleset({ ...rigStandIn(p, "source"), active: "10.0.0.1" }),
    /not one of/,
  );
});
