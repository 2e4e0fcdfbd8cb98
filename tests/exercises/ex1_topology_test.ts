import assert from "node:assert/strict";
import {
  clientTarget,
  judgeClientPeers,
  judgePlan,
  PLAN,
} from "../../lib/exercises/ex1_topology.ts";
import { parseLabText } from "../../lib/lab/parse.ts";

function lab(
  workloads: string,
  hosts = "laptop: { ip: 192.168.10.5/24 }\n  web: { ip: 192.168.20.80/24 }",
) {
  return parseLabText(
    `
name: exercise-1
id: ex1
hosts:
  ${hosts}
switches:
  leaf: {}
links: [[laptop, leaf:3], [web, leaf:7]]
load_balancer: { vip: 192.168.99.1, port: 8080, backends: [web] }
${workloads}`,
    "/tmp/p4t-ex1.yaml",
    { runRoot: "/tmp/p4t-runs" },
  );
}

const WORKLOADS = `workloads:
  server: { host: web, command: [counter_server, "{port}"] }
  client: { host: laptop, command: [counter_client, -H, "{vip}", -p, "{port}", -c, "2"] }`;

Deno.test("the plan: hosts, addresses, service, and what runs where", () => {
  assert.equal(judgePlan(lab(WORKLOADS)).ok, true);
  const moved = judgePlan(
    lab(WORKLOADS, "laptop: { ip: 10.0.1.1/24 }\n  web: { ip: 192.168.20.80/24 }"),
  );
  assert.equal(moved.ok, false);
  assert.match(moved.detail!, /laptop's address is 10\.0\.1\.1, not 192\.168\.10\.5/);
  const none = judgePlan(lab(""));
  assert.match(none.detail!, /no server workload runs on web; there is no client workload/);
  // The hint points at the plan, it does not write the file.
  assert.doesNotMatch(none.hint!, /counter_client|\{vip\}/);
});

Deno.test("the client's connections: the VIP only, as many as the plan says", () => {
  const vip = { ip: PLAN.vip, port: PLAN.port };
  assert.equal(judgeClientPeers([vip, vip], PLAN.server.ip).ok, true);
  const direct = judgeClientPeers([{ ip: PLAN.server.ip, port: 8080 }], PLAN.server.ip);
  assert.match(direct.detail!, /1 connection\(s\) to 192\.168\.20\.80, the server's own address/);
  const nothing = judgeClientPeers([], PLAN.server.ip, { host: PLAN.server.ip, port: "8080" }, [
    "connect_failed",
    "connect_failed",
  ]);
  assert.match(
    nothing.detail!,
    /no connection at all \(it is told to connect to 192\.168\.20\.80:8080\); its log says: connect_failed$/,
  );
  assert.match(nothing.hint!, /the server's own address/);
  assert.match(judgeClientPeers([vip], PLAN.server.ip).detail!, /the plan asks for 2/);
});

Deno.test("the client's target is read from its command, placeholders resolved", () => {
  assert.deepEqual(clientTarget(lab(WORKLOADS)), { host: PLAN.vip, port: "8080" });
  const direct = lab(WORKLOADS.replace('-H, "{vip}"', "-H, 192.168.20.80"));
  assert.equal(clientTarget(direct).host, "192.168.20.80");
});
