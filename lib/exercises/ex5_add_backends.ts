/**
 * Exercise 5's check: first the student's `addBackend` planner on its own (no switch), then on
 * the lab: with the client's connections open through the VIP (one backend), the check stops the
 * controller, plans the new backend with the student's function, writes exactly the resulting
 * entry changes to the switch, and judges the connections and where new ones go.
 *
 * @module
 */
import { loadLbState } from "../controller/state_file.ts";
import { encodeUpdates } from "../controller/switch_entries.ts";
import { controllerFiles } from "../controller/service_process.ts";
import { diffEntries, initialLbState, type LbState, planLbEntries } from "../lb/entries.ts";
import { judgeSurvival, summariseContinuity } from "./client_judge.ts";
import {
  type CheckContext,
  clientHost,
  placementOf,
  readClientLog,
  sleep,
  waitForClient,
} from "./check_context.ts";
import { ExerciseLab } from "./exercise_lab.ts";
import { fail, failFromError, pass } from "./grading.ts";
import { backendPackets, connectLbSwitch, describeDrops } from "./lb_switch.ts";
import { type AddBackend, judgePool, runPlanner } from "./pool_judge.ts";
import { describeProbes, probeVip } from "./probes.ts";
import { importOrFail } from "./student_code.ts";

/** Connections the lab's client keeps open (its command's -c). */
const CLIENT_CONNECTIONS = 8;
const PROBES = 16;
const SETTLE_MS = 1500;

/** Runs exercise 5's criteria. */
export async function checkAddBackends(ctx: CheckContext): Promise<void> {
  const { grader, progress } = ctx;
  await using exLab = await ExerciseLab.load(ctx.files.lab, ctx.labOptions);
  const lab = exLab.lab;
  const lb = lab.loadBalancer;
  // The host to add: the first that is neither a backend nor the client's.
  const host = lab.hosts.find((h) =>
    !lb.backends.includes(h.name) && !lab.workloads.some((w) => w.host === h.name)
  );
  if (!host) throw new Error(`Lab ${lab.name} has no free host to add as a backend`);
  const newHost = host.name;
  const live = [
    `${CLIENT_CONNECTIONS} of ${CLIENT_CONNECTIONS} open connections survive adding ${newHost}`,
    `new connections reach ${newHost}`,
  ];

  const addBackend = await importOrFail<AddBackend>(
    grader,
    "addBackend() returns a new state and leaves its input alone",
    ctx.files.student,
    "addBackend",
  );
  if (!addBackend) {
    grader.skip(live, "addBackend() must load first");
    return;
  }
  for (const { title, verdict } of judgePool(runPlanner(addBackend))) {
    await grader.check(title, () => verdict);
  }

  await exLab.up();
  await exLab.startServer(newHost, "new-server");
  const client = await placementOf(lab, "client");
  await waitForClient(client.logFile, CLIENT_CONNECTIONS);
  const done = progress.step(`stop the controller; add backend ${newHost} with your addBackend()`);
  await exLab.stopController();
  const before = await loadLbState(controllerFiles(exLab.runDir).stateFile, lab) ??
    initialLbState(lab);
  let after: LbState | undefined;
  let planError: unknown;
  try {
    after = addBackend(structuredClone(before), { name: host.name, ip: host.ip });
  } catch (err) {
    planError = err;
  }

  const sw = await connectLbSwitch(lab);
  try {
    const t0 = Date.now();
    let applied = false;
    if (after) {
      try {
        const updates = diffEntries(planLbEntries(before), planLbEntries(after));
        await sw.write(encodeUpdates(sw.p4info!, updates));
        applied = true;
        done(`${updates.length} updates`);
      } catch (err) {
        planError = err;
        done("the switch refused the change");
      }
    } else done("addBackend() threw");
    const t1 = Date.now();
    await sleep(SETTLE_MS);

    if (!applied) {
      const verdict = failFromError(planError);
      for (const title of live) {
        await grader.check(title, () => ({
          ...verdict,
          detail: `applying addBackend()'s plan failed: ${verdict.detail}`,
        }));
      }
      return;
    }
    const summary = summariseContinuity(await readClientLog(client.logFile), t0, t1);
    await grader.check(live[0], () =>
      judgeSurvival(
        summary,
        `while ${newHost} was added`,
        "the switch remembers each connection's backend id: an existing backend's id must " +
          "keep pointing at the same address",
      ));

    const added = after!.backends.find((b) => b.host === newHost);
    await grader.check(live[1], async () => {
      if (!added) return fail(`${newHost} is not among the backends addBackend() returned`);
      const [packetsBefore] = (await backendPackets(sw, [added.id])).values();
      const probes = await probeVip(ctx.shell, lab, clientHost(lab).name, PROBES);
      const [packetsAfter] = (await backendPackets(sw, [added.id])).values();
      const summaryLine = `${describeProbes(probes)}; backend ${added.id} (${newHost}) got ` +
        `${packetsAfter - packetsBefore} packets`;
      if (!probes.every((p) => p.answered)) {
        return fail(`${summaryLine}; switch drops: ${await describeDrops(sw)}`);
      }
      return packetsAfter > packetsBefore
        ? pass(summaryLine)
        : fail(summaryLine, `give ${newHost} some slots: only new connections use the slots`);
    });
  } finally {
    sw.close();
  }
}
