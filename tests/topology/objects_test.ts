import assert from "node:assert/strict";
import {
  parseContainerList,
  parseLinkList,
  parseNetnsList,
  parsePodList,
  removalArgv,
} from "../../lib/topology/objects.ts";
import { isLabSwitchCmdline } from "../../lib/lab/naming.ts";

Deno.test("ip and podman listings are parsed", () => {
  assert.deepEqual([...parseNetnsList("pm-h1 (id: 3)\npm-h2\n\n")], ["pm-h1", "pm-h2"]);
  assert.deepEqual(
    [...parseLinkList(
      "1: lo: <LOOPBACK,UP> mtu 65536\n23: pm-s1-eth1@if2: <BROADCAST> mtu 1500\n24: br0: <UP>\n",
    )],
    ["lo", "pm-s1-eth1", "br0"],
  );
  assert.deepEqual([...parsePodList('[{"Name":"pm-h1","Status":"Running"}]')], [[
    "pm-h1",
    "Running",
  ]]);
  assert.deepEqual([...parseContainerList('[{"Names":["pm-h1-infra"],"State":"running"}]')], [[
    "pm-h1-infra",
    "running",
  ]]);
  assert.deepEqual([...parsePodList("")], []);
  assert.deepEqual([...parsePodList("not json")], []);
});

Deno.test("removal argv per object kind", () => {
  assert.deepEqual(removalArgv({ kind: "netns", name: "pm-h1" }), [[
    "ip",
    "netns",
    "del",
    "pm-h1",
  ]]);
  assert.deepEqual(removalArgv({ kind: "link", name: "pm-s1-eth1" }), [[
    "ip",
    "link",
    "del",
    "dev",
    "pm-s1-eth1",
  ]]);
  assert.deepEqual(removalArgv({ kind: "pod", name: "pm-h1" }), [[
    "podman",
    "pod",
    "rm",
    "--force",
    "--time",
    "0",
    "pm-h1",
  ]]);
});

Deno.test("switch processes are recognised by the lab's interfaces on their command line", () => {
  const argv = ["simple_switch_grpc", "--no-p4", "-i", "1@pm-s1-eth1", "-i", "2@pm-s1-eth2"];
  assert.ok(isLabSwitchCmdline(argv, "pm"));
  assert.ok(isLabSwitchCmdline(["/usr/local/bin/simple_switch_grpc", "-i", "3@pm-s2-eth3"], "pm"));
  assert.ok(!isLabSwitchCmdline(argv, "pm4"));
  assert.ok(!isLabSwitchCmdline(["tcpdump", "-i", "1@pm-s1-eth1"], "pm"));
  assert.ok(!isLabSwitchCmdline(["simple_switch_grpc", "-i", "1@veth0"], "pm"));
});
