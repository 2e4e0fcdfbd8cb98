/**
 * Exercise 1's check: the student's lab file is valid and builds the network of the plan (README):
 * a client host and a server host on a BMv2 switch that answers for a VIP. Then the lab comes up
 * under the student's name and the grader watches the *client's own* traffic, without opening a
 * single connection itself: the client's sockets must lead to the VIP, and while it talks the
 * switch must count packets load-balanced to the server. A client that talks to the server's
 * address directly crosses the switch too, but never its load balancer, and fails.
 *
 * @module
 */
import { ControllerApi } from "../controller/api_client.ts";
import { parseLabFile } from "../lab/parse.ts";
import type { Lab } from "../lab/types.ts";
import { inNetns } from "../shell.ts";
import {
  type CheckContext,
  placementOf,
  readClientLog,
  sleep,
  waitForClient,
} from "./check_context.ts";
import { ExerciseLab } from "./exercise_lab.ts";
import { establishedArgv, parseEstablishedPeers } from "./flows.ts";
import { fail, failFromError, pass, type Verdict } from "./grading.ts";
import { tcpListeners } from "./probes.ts";

/** The network the student builds (README.md of exercise 1). */
export const PLAN = {
  switch: "leaf",
  client: { name: "laptop", ip: "192.168.10.5" },
  server: { name: "web", ip: "192.168.20.80" },
  vip: "192.168.99.1",
  port: 8080,
  /** Connections the client keeps open. */
  connections: 2,
} as const;

/** How long the grader watches the client's traffic. */
const WINDOW_MS = 1000;

/** The lab builds the plan: its hosts and addresses, the VIP, the server and the client. */
export function judgePlan(lab: Lab): Verdict {
  const problems: string[] = [];
  for (const want of [PLAN.client, PLAN.server]) {
    const host = lab.hosts.find((h) => h.name === want.name);
    if (!host) problems.push(`there is no host ${want.name}`);
    else if (host.ip !== want.ip) {
      problems.push(`${want.name}'s address is ${host.ip}, not ${want.ip}`);
    }
  }
  const lb = lab.loadBalancer;
  if (lb.vip !== PLAN.vip) problems.push(`the VIP is ${lb.vip}, not ${PLAN.vip}`);
  if (lb.servicePort !== PLAN.port) {
    problems.push(`the service port is ${lb.servicePort}, not ${PLAN.port}`);
  }
  if (lb.backends.join() !== PLAN.server.name) {
    problems.push(
      `the VIP's backends are ${lb.backends.join(", ")}, not ${PLAN.server.name} alone`,
    );
  }
  const servers = lab.workloads.filter((w) => w.role === "server");
  const clients = lab.workloads.filter((w) => w.role === "client");
  if (!servers.some((w) => w.host === PLAN.server.name)) {
    problems.push(`no server workload runs on ${PLAN.server.name}`);
  }
  if (!clients.some((w) => w.host === PLAN.client.name)) {
    problems.push(
      clients.length
        ? `the client runs on ${clients.map((w) => w.host).join(", ")}, not on ${PLAN.client.name}`
        : "there is no client workload",
    );
  }
  if (problems.length) {
    return fail(
      problems.join("; "),
      "compare your file with the plan in README.md: which hosts, which addresses, which " +
        "service, and what runs where (a workload on a backend is a server, any other a client)",
    );
  }
  return pass(
    `${PLAN.client.name} ${PLAN.client.ip}, ${PLAN.server.name} ${PLAN.server.ip}, ` +
      `VIP ${PLAN.vip}:${PLAN.port} -> ${PLAN.server.name}`,
  );
}

/** What the client was told to connect to (`-H`, `-p` of its command), placeholders resolved. */
export function clientTarget(lab: Lab): { host?: string; port?: string } {
  const client = lab.workloads.find((w) => w.role === "client");
  if (!client) return {};
  const arg = (flag: string) => {
    const i = client.command.indexOf(flag);
    const v = i >= 0 ? client.command[i + 1] : undefined;
    return v?.replace("{vip}", lab.loadBalancer.vip).replace(
      "{port}",
      String(lab.loadBalancer.servicePort),
    );
  };
  return { host: arg("-H"), port: arg("-p") };
}

/** Peers of the client host's established connections, judged against the VIP. */
export function judgeClientPeers(
  peers: readonly { ip: string; port: number }[],
  serverIp: string,
  told: { host?: string; port?: string } = {},
  failures: readonly string[] = [],
): Verdict {
  const vip = `${PLAN.vip}:${PLAN.port}`;
  const toVip = peers.filter((p) => `${p.ip}:${p.port}` === vip);
  const others = peers.filter((p) => `${p.ip}:${p.port}` !== vip).map((p) => `${p.ip}:${p.port}`);
  if (toVip.length === PLAN.connections && others.length === 0) {
    return pass(`${PLAN.client.name} holds ${toVip.length} connections to ${vip}`);
  }
  const direct = peers.filter((p) => p.ip === serverIp).length;
  if (direct) {
    return fail(
      `${PLAN.client.name}'s client holds ${direct} connection(s) to ${serverIp}, the server's own ` +
        `address, and ${toVip.length} to the VIP ${vip}`,
      "those packets cross the switch as plain routed traffic and never meet the load balancer: " +
        "the client must only know the service's address, whoever serves it",
    );
  }
  if (peers.length === 0) {
    const where = told.host ? ` (it is told to connect to ${told.host}:${told.port ?? "?"})` : "";
    const log = failures.length ? `; its log says: ${[...new Set(failures)].join(", ")}` : "";
    const direct = told.host === serverIp;
    return fail(
      `${PLAN.client.name}'s client holds no connection at all${where}${log}`,
      direct
        ? `${serverIp} is the server's own address: those packets cross the switch as plain ` +
          "routed traffic, but the replies are rewritten to come from the VIP, which the client " +
          "never contacted. The client must only know the service's address."
        : "does the switch serve the address and port the client is told to use?",
    );
  }
  return fail(
    `${PLAN.client.name} holds ${toVip.length} connection(s) to ${vip}` +
      (others.length ? ` and others to ${others.join(", ")}` : "") +
      `; the plan asks for ${PLAN.connections}`,
    "counter_client's options say where it connects and how many connections it keeps " +
      "(lab/workloads/counter_client.c)",
  );
}

/** Runs exercise 1's criteria. */
export async function checkTopology(ctx: CheckContext): Promise<void> {
  const { grader } = ctx;
  const titles = {
    valid: "the lab file is valid",
    plan: "it builds the network of the plan",
    up: "`lab up` brings it up",
    server: `the server on ${PLAN.server.name} listens on port ${PLAN.port}`,
    peers: `the client on ${PLAN.client.name} connects to the VIP ${PLAN.vip}:${PLAN.port}`,
    traffic: "the switch load-balances the client's own traffic",
  };
  const live = [titles.up, titles.server, titles.peers, titles.traffic];
  let lab: Lab | undefined;
  const valid = await grader.check(titles.valid, async () => {
    lab = await parseLabFile(ctx.files.lab);
    const lb = lab.loadBalancer;
    return pass(
      `${lab.hosts.length} hosts, ${lab.switches.length} switch(es), VIP ` +
        `${lb.vip}:${lb.servicePort} -> ${lb.backends.join(", ")}`,
    );
  });
  if (!valid || !lab) {
    grader.skip([titles.plan, ...live], "the lab file must be valid first");
    return;
  }
  const checked = lab;
  if (!await grader.check(titles.plan, () => judgePlan(checked))) {
    grader.skip(live, "the lab must follow the plan first");
    return;
  }

  await using exLab = await ExerciseLab.load(ctx.files.lab, ctx.labOptions);
  const running = exLab.lab;
  const done = ctx.progress.step(`bring up your lab ${running.name}`);
  const up = await grader.check(titles.up, async () => {
    const t0 = performance.now();
    try {
      await exLab.up();
    } catch (err) {
      return failFromError(err);
    }
    return pass(`${running.name} is up (${(performance.now() - t0).toFixed(0)} ms)`);
  });
  done(up ? undefined : "it did not come up");
  const web = running.hosts.find((h) => h.name === PLAN.server.name)!;
  const laptop = running.hosts.find((h) => h.name === PLAN.client.name)!;
  await grader.check(titles.server, async () => {
    const listeners = await tcpListeners(ctx.shell, web.netns!, PLAN.port);
    const reachable = listeners.filter((l) => !l.startsWith("127."));
    if (reachable.length) return pass(`${PLAN.server.name} listens on ${reachable.join(", ")}`);
    return fail(
      listeners.length
        ? `${PLAN.server.name} listens on ${listeners.join(", ")} only: nothing from outside the ` +
          "host reaches that"
        : `nothing listens on port ${PLAN.port} in ${PLAN.server.name}'s namespace` +
          (up ? "" : " (the lab did not come up)"),
      "what does the server's command line say about its port and address? See its log in " +
        `${exLab.runDir}/workloads/`,
    );
  });
  if (!up) {
    grader.skip(live.slice(2), "the lab must come up first");
    return;
  }

  const client = await placementOf(
    running,
    running.workloads.find((w) => w.role === "client")!.name,
  );
  await waitForClient(client.logFile, 1, 3, 3000);
  const api = await ControllerApi.forLab(running, { timeoutMs: 5000 });
  const watching = ctx.progress.step(`watch ${PLAN.client.name}'s client for ${WINDOW_MS} ms`);
  // A quiet window: nothing but the lab's own client talks through the switch.
  const before = await api.counters();
  const t0 = Date.now();
  await sleep(WINDOW_MS);
  const after = await api.counters();
  const t1 = Date.now();
  watching();
  const ss = await ctx.shell.run(inNetns(laptop.netns!, establishedArgv()), {
    check: false,
  });
  const peers = parseEstablishedPeers(ss.stdout);
  const failures = (await readClientLog(client.logFile)).flatMap((r) =>
    r.kind === "event" ? [r.event] : []
  );
  await grader.check(
    titles.peers,
    () => judgeClientPeers(peers, web.ip, clientTarget(running), failures),
  );
  await grader.check(titles.traffic, async () => {
    const sent = after.backends.reduce((n, b) => n + b.packets, 0) -
      before.backends.reduce((n, b) => n + b.packets, 0);
    const answers = (await readClientLog(client.logFile)).filter((r) =>
      r.kind === "answer" && r.at >= t0 && r.at <= t1
    ).length;
    const summary = `in ${WINDOW_MS} ms the client logged ${answers} answers and the switch ` +
      `rewrote ${sent} packets to the backend`;
    // Each request crosses the load balancer once; allow for the edges of the window.
    if (answers > 0 && sent >= answers / 2) {
      return pass(summary);
    }
    return fail(
      summary,
      answers === 0
        ? "the client got no answers: its log in the lab's run directory says why"
        : "the client's requests reach the server without the switch rewriting them: they " +
          "are not addressed to the VIP",
    );
  });
}
