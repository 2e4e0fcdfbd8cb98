import assert from "node:assert/strict";
import { renameLabText } from "../../lib/exercises/lab_identity.ts";
import { parseLabText } from "../../lib/lab/parse.ts";

const TWO_SWITCHES = `
name: exercise-9
id: ex9
hosts:
  h1: { ip: 10.0.1.1/24 }
  h2: { ip: 10.0.2.2/24 }
switches:
  s1: { grpc_port: 50079, thrift_port: 9179 }
  s2:
links:
  - [h1, s1:1]
  - [s1:2, s2:1]
  - [h2, s2:2]
load_balancer: { vip: 10.0.0.100, port: 12345, backends: [h2] }
workloads:
  server: { host: h2, command: [counter_server, "{port}"] }
`;

Deno.test("a renamed lab gets the new name, id and consecutive switch ports", () => {
  const text = renameLabText(TWO_SWITCHES, {
    name: "p4t-ex9-abcd",
    id: "tabcd",
    grpcPort: 52001,
    thriftPort: 9501,
  });
  const lab = parseLabText(text, "/tmp/p4t-ex9-abcd.yaml", { runRoot: "/tmp/p4t-runs" });
  assert.equal(lab.name, "p4t-ex9-abcd");
  assert.equal(lab.id, "tabcd");
  assert.deepEqual(lab.switches.map((s) => [s.name, s.grpcPort, s.thriftPort]), [
    ["s1", 52001, 9501],
    ["s2", 52002, 9502],
  ]);
  assert.equal(lab.hosts.find((h) => h.name === "h1")!.netns, "tabcd-h1");
  assert.deepEqual(lab.loadBalancer.backends, ["h2"]);
  assert.equal(lab.runDir, "/tmp/p4t-runs/p4t-ex9-abcd");
});

Deno.test("renaming refuses what is not a mapping", () => {
  assert.throws(
    () => renameLabText("- just\n- a list\n", { name: "x", id: "x", grpcPort: 1, thriftPort: 1 }),
    /not a YAML mapping/,
  );
});
