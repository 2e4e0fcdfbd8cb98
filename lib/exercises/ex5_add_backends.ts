/**
 * Exercise 5's check: first the student's `addBackend` planner on its own (no switch), then on
 * the lab: with the client's connections open through the VIP (one backend), the check stops the
 * controller, plans the new backend with the student's function, writes exactly the resulting
 * entry changes to the switch, and judges the open connections, then where a fixed burst of new
 * connections (chosen source ports, so the same every run) arrives.
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
  hostNamed,
  placementOf,
  readClientLog,
  sleep,
  waitForClient,
} from "./check_context.ts";
import { judgeAnswered, judgeBurst } from "./ex2_program_lb.ts";
import { ExerciseLab } from "./exercise_lab.ts";
import { flowsOnBackends, openFlows, testFlows } from "./flows.ts";
import { failFromError } from "./grading.ts";
import { connectLbSwitch, describeDrops } from "./lb_switch.ts";
import { type AddBackend, judgePool, POOL_TITLES, runPlanner } from "./pool_judge.ts";
import { importOrFail } from "./student_code.ts";

/** Connections the lab's client keeps open (its command's -c). */
const CLIENT_CONNECTIONS = 8;
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
  const oldHosts = lb.backends;
  const live = [
    `${CLIENT_CONNECTIONS} of ${CLIENT_CONNECTIONS} open connections survive adding ${newHost}`,
    `a burst of new connections is answered by ${[...oldHosts, newHost].join(" and ")}`,
  ];

  const addBackend = await importOrFail<AddBackend>(
    grader,
    POOL_TITLES.ids,
    ctx.files.student,
    "addBackend",
  );
  if (!addBackend) {
    grader.skip([POOL_TITLES.slots, POOL_TITLES.share, ...live], "addBackend() must load first");
    return;
  }
  for (const { title, verdict } of judgePool(runPlanner(addBackend))) {
    await grader.check(title, () => verdict);
  }

  let done = progress.step(`bring up your lab ${lab.name}`);
  await exLab.up();
  await exLab.startServer(newHost, "new-server");
  const client = await placementOf(lab, "client");
  await waitForClient(client.logFile, CLIENT_CONNECTIONS);
  done();
  done = progress.step(`stop the controller; add backend ${newHost} with your addBackend()`);
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

    const from = hostNamed(lab, clientHost(lab).name);
    const slotCount = Math.max(1, after!.slots.length);
    done = progress.step(`open the test connections from ${from.name}`);
    const flows = testFlows(from.ip, lb.vip, lb.servicePort, slotCount);
    const outcomes = await (async () => {
      await using open = await openFlows(
        from.netns!,
        lb.vip,
        lb.servicePort,
        flows.map((f) => f.sport),
      );
      const where = await flowsOnBackends(
        ctx.shell,
        [...oldHosts, newHost].map((name) => ({ name, netns: hostNamed(lab, name).netns! })),
        from.ip,
        lb.servicePort,
      );
      return flows.map((f) => {
        const answer = open.answers.find((a) => a.sport === f.sport);
        return {
          ...f,
          answered: answer?.answered ?? false,
          ...(answer?.answered ? {} : { failure: answer?.text ?? "no result" }),
          reached: where.get(f.sport),
        };
      });
    })();
    done();
    const drops = await describeDrops(sw);
    await grader.check(live[1], () => {
      const answered = judgeAnswered(outcomes, drops);
      return answered.ok ? judgeBurst(outcomes, [...oldHosts, newHost]) : answered;
    });
  } finally {
    sw.close();
  }
}
