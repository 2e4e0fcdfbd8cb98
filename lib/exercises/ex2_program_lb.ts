/**
 * Exercise 2's check: the lab comes up, the controller is stopped and the load balancer's entries
 * are deleted (routes and port MACs stay), the student's `programLoadBalancer` writes them again
 * through its own P4Runtime session; then the entries are judged and a client must get answers
 * from both backends through the VIP.
 *
 * @module
 */
import type { EntryView } from "../controller/switch_entries.ts";
import type { Lab } from "../lab/types.ts";
import { TABLES } from "../p4/lb_program.ts";
import type { P4RuntimeClient } from "../p4runtime/client.ts";
import { type CheckContext, clientHost, hostNamed } from "./check_context.ts";
import type { ProgramLoadBalancer } from "./contexts.ts";
import { ExerciseLab } from "./exercise_lab.ts";
import { fail, pass } from "./grading.ts";
import { judgeLbEntries, type LbExpectation } from "./lb_entries_judge.ts";
import {
  backendPackets,
  connectLbSwitch,
  deleteLbEntries,
  describeDrops,
  LB_TABLES,
  lbSwitch,
  readEntryViews,
} from "./lb_switch.ts";
import { describeProbes, probeVip } from "./probes.ts";
import { importOrFail, runStudent } from "./student_code.ts";

/** New connections opened to see the load balancer work (and spread). */
const PROBES = 16;

/** Runs exercise 2's criteria. */
export async function checkProgramLb(ctx: CheckContext): Promise<void> {
  const { grader, progress } = ctx;
  await using exLab = await ExerciseLab.load(ctx.files.lab, ctx.labOptions);
  const lab = exLab.lab;
  const expect: LbExpectation = {
    vip: lab.loadBalancer.vip,
    servicePort: lab.loadBalancer.servicePort,
    backends: lab.loadBalancer.backends.map((name) => ({ name, ip: hostNamed(lab, name).ip })),
  };
  const from = clientHost(lab);
  const { vip, servicePort } = lab.loadBalancer;
  const title = "programLoadBalancer() runs";
  const rest = [
    ...judgeLbEntries([], expect).map((j) => j.title),
    `a client on ${from.name} gets answers through ${vip}:${servicePort}`,
    `new connections are spread over ${expect.backends.map((b) => b.name).join(" and ")}`,
  ];
  const program = await importOrFail<ProgramLoadBalancer>(
    grader,
    title,
    ctx.files.student,
    "programLoadBalancer",
  );
  if (!program) {
    grader.skip(rest, "programLoadBalancer() must load first");
    return;
  }

  await exLab.up();
  let done = progress.step("stop the controller and delete the load balancer's entries");
  await exLab.stopController();
  await withLbSwitch(lab, async (sw) => done(`${await deleteLbEntries(sw)} entries deleted`));

  done = progress.step("run your programLoadBalancer()");
  const run = await withLbSwitch(lab, (sw) =>
    runStudent(
      "programLoadBalancer()",
      () => program(sw, lab),
      30_000,
      "a P4RuntimeWriteError names the update the switch refused and why",
    ));
  done();
  const ran = await grader.check(title, () => run.verdict);

  await withLbSwitch(lab, async (sw) => {
    const entries = await readEntryViews(sw, lbSwitch(lab).name, LB_TABLES);
    for (const { title, verdict } of judgeLbEntries(entries, expect)) {
      await grader.check(title, () => verdict);
    }
    const ids = backendIds(entries);
    const before = await backendPackets(sw, [...ids.keys()]);
    const probes = await probeVip(ctx.shell, lab, from.name, PROBES);
    await grader.check(rest[4], async () => {
      const summary = describeProbes(probes);
      if (probes.every((p) => p.answered)) return pass(summary);
      return fail(
        `${summary}; switch drops: ${await describeDrops(sw)}`,
        ran
          ? "no_route: the VIP entry is missing; no_backend: a slot or backend entry is missing; " +
            "no answers and no drops: the reverse rewrite (backend_sources) is missing"
          : "make programLoadBalancer() run first",
      );
    });
    await grader.check(rest[5], async () => {
      const after = await backendPackets(sw, [...ids.keys()]);
      const byIp = new Map<string, number>();
      for (const [id, ip] of ids) {
        byIp.set(ip, (byIp.get(ip) ?? 0) + (after.get(id) ?? 0) - (before.get(id) ?? 0));
      }
      const shares = expect.backends.map((b) => `${b.name} ${byIp.get(b.ip) ?? 0}`).join(", ");
      const idle = expect.backends.filter((b) => !((byIp.get(b.ip) ?? 0) > 0));
      return idle.length
        ? fail(
          `packets per backend over ${PROBES} new connections: ${shares}`,
          `point some slots at ${idle.map((b) => b.name).join(" and ")} too, in contiguous ` +
            "blocks (slot i -> backend floor(i * backends / slots) + 1): for a burst of " +
            "connections from one host the hash's lowest bit hardly changes, so alternating " +
            "slots send the whole burst to one backend",
        )
        : pass(`packets per backend over ${PROBES} new connections: ${shares}`);
    });
  });
}

/** Runs `fn` with a fresh primary session to the lab's load-balancer switch. */
async function withLbSwitch<T>(lab: Lab, fn: (sw: P4RuntimeClient) => Promise<T>): Promise<T> {
  const sw = await connectLbSwitch(lab);
  try {
    return await fn(sw);
  } finally {
    sw.close();
  }
}

/** Backend id -> address, from the `backends` entries read back. */
function backendIds(entries: readonly EntryView[]): Map<number, string> {
  return new Map(
    entries.filter((e) => e.table === TABLES.backends).map((e) => [
      Number(e.match.backend_id),
      String(e.params.backend_ip),
    ]),
  );
}
