/**
 * Exercise 1's check: the student's lab file is valid, keeps the exercise's identity, has a
 * server behind the VIP and a client elsewhere, comes up, and the client host gets answers from
 * the VIP that the switch counted.
 *
 * @module
 */
import { ControllerApi } from "../controller/api_client.ts";
import { parseLabFile } from "../lab/parse.ts";
import type { Lab } from "../lab/types.ts";
import { exerciseLabIdentity } from "./catalog.ts";
import { type CheckContext, clientHost } from "./check_context.ts";
import { ExerciseLab } from "./exercise_lab.ts";
import { fail, pass, type Verdict } from "./grading.ts";
import type { LabIdentity } from "./lab_identity.ts";
import { describeProbes, probeVip } from "./probes.ts";

/** The lab keeps the name, id and ports the exercise gave it. */
export function judgeIdentity(lab: Lab, want: LabIdentity): Verdict {
  const sw = lab.switches[0];
  const problems = [
    lab.name !== want.name && `name is "${lab.name}"`,
    lab.id !== want.id && `id is "${lab.id}"`,
    sw && sw.grpcPort !== want.grpcPort && `${sw.name}'s grpc_port is ${sw.grpcPort}`,
    sw && sw.thriftPort !== want.thriftPort && `${sw.name}'s thrift_port is ${sw.thriftPort}`,
  ].filter(Boolean);
  return problems.length
    ? fail(
      problems.join(", "),
      `keep name: ${want.name}, id: ${want.id}, grpc_port: ${want.grpcPort} and thrift_port: ` +
        `${want.thriftPort} as the starter has them, so the lab never collides with another`,
    )
    : pass(`${want.name} (id ${want.id}), gRPC ${want.grpcPort}, Thrift ${want.thriftPort}`);
}

/** Some server workload runs on a backend of the VIP. */
export function judgeServer(lab: Lab): Verdict {
  const servers = lab.workloads.filter((w) => w.role === "server");
  const { backends, vip, servicePort } = lab.loadBalancer;
  const behind = servers.find((w) => backends.includes(w.host));
  if (behind) return pass(`${behind.name} on ${behind.host}: ${behind.command.join(" ")}`);
  return fail(
    servers.length
      ? `the server workload(s) run on ${servers.map((w) => w.host).join(", ")}, but the VIP's ` +
        `backends are ${backends.join(", ")}`
      : "the lab has no server workload",
    `add a workload \`server: { host: <a backend>, command: [counter_server, "{port}"] }\` so ` +
      `something answers on ${vip}:${servicePort}`,
  );
}

/** Some client workload runs on a host that is not a backend. */
export function judgeClient(lab: Lab): Verdict {
  const { backends } = lab.loadBalancer;
  const clients = lab.workloads.filter((w) => w.role === "client");
  const outside = clients.find((w) => !backends.includes(w.host));
  if (outside) return pass(`${outside.name} on ${outside.host}`);
  return fail(
    clients.length
      ? `the client workload(s) run on backends (${clients.map((w) => w.host).join(", ")})`
      : "the lab has no client workload",
    'add `client: { host: h1, command: [counter_client, -H, "{vip}", -p, "{port}"] }` on a host ' +
      "that is not a backend, so its traffic crosses the switch",
  );
}

const LIVE = [
  "`lab up` brings it up (switch, controller, workloads)",
  "the client host gets answers from the VIP",
  "the switch load-balanced those connections",
];

/** Runs exercise 1's criteria. */
export async function checkTopology(ctx: CheckContext): Promise<void> {
  const { grader } = ctx;
  let lab: Lab | undefined;
  const valid = await grader.check("the lab file is valid", async () => {
    lab = await parseLabFile(ctx.files.lab);
    const lb = lab.loadBalancer;
    return pass(
      `${lab.hosts.length} hosts, ${lab.switches.length} switch(es), VIP ` +
        `${lb.vip}:${lb.servicePort} -> ${lb.backends.join(", ")}`,
    );
  });
  const structure = [
    "it keeps the exercise's name, id and switch ports",
    "a server workload runs on a backend of the VIP",
    "a client workload runs on a host that is not a backend",
  ];
  if (!valid || !lab) {
    grader.skip([...structure, ...LIVE], "the lab file must be valid first");
    return;
  }
  const checked = lab;
  const own = await grader.check(
    structure[0],
    () => judgeIdentity(checked, exerciseLabIdentity(ctx.exercise)),
  );
  const server = await grader.check(structure[1], () => judgeServer(checked));
  const client = await grader.check(structure[2], () => judgeClient(checked));
  if (!server || !client) {
    grader.skip(LIVE, "the lab needs a server behind the VIP and a client elsewhere");
    return;
  }
  // Other names or ports could be another lab's: never bring those up (tests rename the lab).
  if (!own && !ctx.labOptions.identity) {
    grader.skip(LIVE, "the lab must keep the exercise's name, id and ports first");
    return;
  }

  await using exLab = await ExerciseLab.load(ctx.files.lab, ctx.labOptions);
  const running = exLab.lab;
  const up = await grader.check(LIVE[0], async () => {
    const result = await exLab.up();
    return pass(`up in ${result.totalMs.toFixed(0)} ms`);
  });
  if (!up) {
    grader.skip(LIVE.slice(1), "the lab must come up first");
    return;
  }
  const from = clientHost(running);
  const api = await ControllerApi.forLab(running, { timeoutMs: 5000 });
  const before = await api.counters();
  const probes = await probeVip(ctx.shell, running, from.name, 3);
  const { vip, servicePort } = running.loadBalancer;
  await grader.check(LIVE[1], async () => {
    const summary = `${from.name} -> ${vip}:${servicePort}: ${describeProbes(probes)}`;
    if (probes.every((p) => p.answered)) return pass(`${summary}, e.g. ${probes[0].answer}`);
    const drops = Object.entries((await api.counters()).drops).filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${n}`).join(", ");
    return fail(
      `${summary}; switch drops: ${drops || "none"}`,
      "does the server answer one line per request line (counter_server)? see the workload " +
        `logs in ${exLab.runDir}/workloads/`,
    );
  });
  await grader.check(LIVE[2], async () => {
    const after = await api.counters();
    const sent = after.backends.reduce((n, b) => n + b.packets, 0) -
      before.backends.reduce((n, b) => n + b.packets, 0);
    const fresh = after.flowEvents.newFlow - before.flowEvents.newFlow;
    return fresh >= probes.length && sent > 0
      ? pass(`${fresh} new connections, ${sent} packets rewritten to backends`)
      : fail(
        `the switch saw ${fresh} new connection(s) to the VIP and sent ${sent} packet(s) to ` +
          "backends",
        "the client must talk to the VIP, and its host must be cabled to the load-balancer switch",
      );
  });
}
