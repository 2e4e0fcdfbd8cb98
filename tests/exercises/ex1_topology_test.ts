import assert from "node:assert/strict";
import { judgeClient, judgeIdentity, judgeServer } from "../../lib/exercises/ex1_topology.ts";
import { parseLabText } from "../../lib/lab/parse.ts";

function lab(extra: string, switchLine = "s1: { grpc_port: 50071, thrift_port: 9171 }") {
  return parseLabText(
    `
name: exercise-1
id: ex1
hosts:
  h1: { ip: 10.0.1.1/24 }
  h2: { ip: 10.0.2.2/24 }
switches:
  ${switchLine}
links: [[h1, s1:1], [h2, s1:2]]
load_balancer: { vip: 10.0.0.100, port: 12345, backends: [h2] }
${extra}`,
    "/tmp/p4t-ex1.yaml",
    { runRoot: "/tmp/p4t-runs" },
  );
}

const IDENTITY = { name: "exercise-1", id: "ex1", grpcPort: 50071, thriftPort: 9171 };
const WORKLOADS = `workloads:
  server: { host: h2, command: [counter_server, "{port}"] }
  client: { host: h1, command: [counter_client, -H, "{vip}", -p, "{port}"] }`;

Deno.test("a complete exercise 1 lab passes the structural criteria", () => {
  const l = lab(WORKLOADS);
  assert.equal(judgeIdentity(l, IDENTITY).ok, true);
  assert.deepEqual(judgeServer(l), { ok: true, detail: "server on h2: counter_server {port}" });
  assert.deepEqual(judgeClient(l), { ok: true, detail: "client on h1" });
});

Deno.test("other ports, or no workloads, fail with what to write", () => {
  const moved = lab(WORKLOADS, "s1: { grpc_port: 50051, thrift_port: 9090 }");
  const v = judgeIdentity(moved, IDENTITY);
  assert.equal(v.ok, false);
  assert.equal(v.detail, "s1's grpc_port is 50051, s1's thrift_port is 9090");
  assert.match(v.hint!, /grpc_port: 50071 and thrift_port: 9171/);

  const empty = lab("");
  assert.deepEqual(judgeServer(empty).detail, "the lab has no server workload");
  assert.match(judgeServer(empty).hint!, /counter_server, "\{port\}"/);
  assert.deepEqual(judgeClient(empty).detail, "the lab has no client workload");
  assert.match(judgeClient(empty).hint!, /counter_client, -H, "\{vip\}"/);
});
