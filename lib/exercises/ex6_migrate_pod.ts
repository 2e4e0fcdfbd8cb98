/**
 * Exercise 6's check: the student's `migratePod` moves the server pod of a Kubernetes lab to a
 * new pod on another slot (a new address), with the lab's building blocks. It runs twice:
 *
 * 1. with a target address the target slot does not have, so that the restore fails (what a
 *    missing or wrong rewrite does): the function must put everything back and throw, and the
 *    old pod must serve on;
 * 2. for real: the new pod runs on the target slot holding the client's connections.
 *
 * The grader watches through the API clients and the controller it hands over
 * (ex6_pod_watch.ts): when the checkpoint was asked for and whether the old pod sent anything
 * from then until it was deleted, whether the new pod was Ready when the switch moved, and what
 * is left afterwards. The client's own log judges the connections across both runs.
 *
 * A machine runs one Kubernetes lab at a time: see ex6_one_cluster.ts.
 *
 * @module
 */
import { ControllerApi } from "../controller/api_client.ts";
import { requireAccess } from "../kubernetes/access.ts";
import { KubeApi } from "../kubernetes/api.ts";
import { readAllocations } from "../kubernetes/cni/state.ts";
import { labNamespace } from "../kubernetes/namespace.ts";
import type { Lab } from "../lab/types.ts";
import { silentProgress } from "../progress.ts";
import { judgeCounters, judgeSurvival, summariseContinuity } from "./client_judge.ts";
import {
  type CheckContext,
  hostNamed,
  readClientLog,
  sleep,
  startMigrationLab,
  waitForClient,
} from "./check_context.ts";
import type { MigratePod, PodSlot } from "./contexts.ts";
import {
  describePodTimeline,
  type FaultRunRecord,
  faultyAddress,
  judgeFailedMigration,
  judgeHandover,
  judgeNewPod,
  judgeNothingLeft,
  judgeRollback,
  judgeSilence,
  judgeSwitchAfterReady,
  type PodRunRecord,
} from "./ex6_judges.ts";
import {
  BUSY_TITLE,
  busyVerdict,
  clusterHolder,
  isTurn,
  studentOfLab,
  takeClusterTurn,
} from "./ex6_one_cluster.ts";
import { countSent } from "./ex6_pod_watch.ts";
import {
  answeredSince,
  kubeletArchives,
  type PodLabContext,
  recordServer,
  runObserved,
  tidyAfterFault,
  waitSlotFree,
} from "./ex6_pod_runs.ts";
import { resetPodLab } from "./ex6_reset.ts";
import { ExerciseLab } from "./exercise_lab.ts";
import { fail, pass, type Verdict } from "./grading.ts";
import { judgeBackends, judgeBackendSources } from "./lb_entries_judge.ts";
import { SETTLE_MS } from "./migration_check.ts";
import { importOrFail, type StudentRun } from "./student_code.ts";

const CLIENT_CONNECTIONS = 4;

/** The criteria of exercise 6, in order. */
export function podMigrationTitles(source: PodSlot, target: PodSlot) {
  return {
    returns: "migratePod() finishes and returns the new pod's name",
    moved: `the new pod runs on ${target.name} at ${target.ip}, holding the client's connections`,
    silent: `the old pod on ${source.name} stayed silent from the checkpoint until it was deleted`,
    order: "the switch moved only once the new pod was Ready",
    switched: `the switch sends the VIP's connections to ${target.name} (${target.ip})`,
    handover: "the old pod is gone, and the server Deployment adopted the new pod",
    clean: "nothing is left behind: reservations, other pods, the kubelet's checkpoint archive",
    rollback: "when the restore fails, migratePod() puts everything back and throws",
    survived: "every client connection survived, both runs",
    counters: "the counters went on where they were",
  };
}

/** The switch half: the controller's backends, and the entries it wrote, name the target. */
async function judgeSwitched(
  controller: ControllerApi,
  lab: Lab,
  record: PodRunRecord,
): Promise<Verdict> {
  const { source, target } = record;
  const list = (await controller.backends()).backends;
  const names = list.map((b) => `${b.host} (${b.ip})`).join(", ") || "none";
  if (!list.some((b) => b.host === target.name) || list.some((b) => b.host === source.name)) {
    if (!record.switchCalls.length) {
      return fail(
        `the switch was never asked to move: the VIP's backends are ${names}`,
        "the lab's controller owns the switch; it is in the migration context you receive",
      );
    }
    const moved = record.switchCalls.find((c) => !c.error && c.call.includes(`"${target.name}"`));
    return fail(
      `the VIP's backends are ${names} after the migration` +
        (moved
          ? `, though ${moved.call} had moved them to ${target.name}: once no migration holds ` +
            "the lab, the controller keeps them equal to the server Deployment's Ready pods, " +
            `and the new pod on ${target.name} is not one of them`
          : ""),
      moved
        ? "the new pod must become the Deployment's own (see the criterion about the Deployment)"
        : `ask the controller to move the backend from ${source.name} to ${target.name}`,
    );
  }
  const entries = await controller.entries();
  const expectation = {
    vip: lab.loadBalancer.vip,
    servicePort: lab.loadBalancer.servicePort,
    backends: [target],
  };
  for (
    const judged of [judgeBackends(entries, expectation), judgeBackendSources(entries, expectation)]
  ) {
    if (!judged.ok) return judged;
  }
  return pass(`backends: ${names}; the switch's backend entry leads to ${target.ip}`);
}

const errorOf = (run: StudentRun<unknown>) =>
  run.verdict.ok ? undefined : (run.verdict.detail ?? "").replace(/^migratePod\(\) failed: /, "");

/** Runs exercise 6's criteria. */
export async function checkMigratePod(ctx: CheckContext): Promise<void> {
  const { grader, progress, shell } = ctx;
  const identity = ctx.labOptions.identity;
  const turn = await takeClusterTurn(identity, studentOfLab(identity.name) ?? identity.name);
  if (!isTurn(turn)) {
    await grader.check(BUSY_TITLE, () => turn);
    grader.skip("every criterion of exercise 6", "the check needs the machine's Kubernetes lab");
    return;
  }
  await using _turn = turn;
  await using exLab = await ExerciseLab.load(ctx.files.lab, ctx.labOptions);
  const lab = exLab.lab;
  const server = lab.workloads.find((w) => w.name === "server")!;
  const sourceHost = hostNamed(lab, server.host);
  // The target is the last slot of the server's pool: not the one a pod takes unreserved.
  const targetHost = hostNamed(lab, (server.hosts ?? [server.host]).at(-1)!);
  const source: PodSlot = { name: sourceHost.name, ip: sourceHost.ip };
  const target: PodSlot = { name: targetHost.name, ip: targetHost.ip };
  const titles = podMigrationTitles(source, target);
  const migrate = await importOrFail<MigratePod>(
    grader,
    titles.returns,
    ctx.files.student,
    "migratePod",
  );
  if (!migrate) {
    grader.skip(Object.values(titles).slice(1), "migratePod() must load first");
    return;
  }

  let done = progress.step(`bring up your lab ${lab.name} (a Kubernetes cluster, ~15 s)`);
  let running;
  try {
    running = await startMigrationLab({
      lab,
      runDir: exLab.runDir,
      up: async () => {
        await exLab.up();
        if (exLab.reused) {
          await resetPodLab(lab, { shell, progress: ctx.labOptions.progress ?? silentProgress });
        }
      },
    }, CLIENT_CONNECTIONS);
  } catch (err) {
    // Another cluster may have started between the look and the bring-up.
    const holder = clusterHolder();
    if (holder && holder.lab !== lab.name) {
      done("another Kubernetes lab came up meanwhile");
      await grader.check(
        BUSY_TITLE,
        () => busyVerdict(holder),
      );
      grader.skip(Object.values(titles), "the check needs the machine's Kubernetes lab");
      return;
    }
    throw err;
  }
  done();
  const { client, dir } = running;
  if (!await waitForClient(client.logFile, CLIENT_CONNECTIONS, 5, 10_000)) {
    throw new Error(`The client of lab ${lab.name} does not answer (see ${client.logFile})`);
  }
  const access = await requireAccess(lab);
  using own = await KubeApi.fromKubeconfig(access.kubeconfig);
  const controller = await ControllerApi.forLab(lab);
  const p: PodLabContext = {
    ctx,
    lab,
    runDir: exLab.runDir,
    namespace: labNamespace(lab),
    node: access.node,
    podman: access.podman,
    own,
    adminConfig: access.kubeconfig,
    migratorConfig: access.migratorKubeconfig ?? access.kubeconfig,
    source,
    client,
    clientIp: hostNamed(lab, client.host).ip,
    migrate,
    dir,
  };
  const oldPod = running.server.pod!;
  const oldNetns = (await readAllocations(p.runDir))[source.name]?.netns;
  if (!oldNetns) throw new Error(`No pod holds ${source.name} in lab ${lab.name}`);
  await countSent(shell, oldNetns, lab.loadBalancer.servicePort);

  // 1. A restore that must fail.
  const faulty: PodSlot = { name: target.name, ip: faultyAddress(target.ip) };
  done = progress.step(
    `first run: your migratePod() with ${target.name} given as ${faulty.ip}, so its restore fails`,
  );
  const fault = await runObserved(p, oldPod, faulty, "restore-fails", 60_000);
  done(fault.run.verdict.ok ? "it returned" : "it threw");
  done = progress.step("watch the old pod serve again");
  const answeredAgain = await answeredSince(client.logFile, fault.record.endedAt, 10_000);
  // Every other slot of the pool free again (a pod the first run created, deleted, holds its
  // slot until its sandbox is gone): the real run then starts as the lab began, and a pod made
  // without a reservation lands where it would, on the pool's first free slot.
  const otherSlots = (server.hosts ?? [server.host]).filter((h) => h !== source.name);
  const waitPoolFree = async () => {
    for (const slot of otherSlots) await waitSlotFree(p.runDir, slot, 10_000);
  };
  await waitPoolFree();
  const faultRecord: FaultRunRecord = {
    ...fault.record,
    after: await fault.look(),
    error: errorOf(fault.run),
    returned: fault.run.value,
    backends: (await controller.backends()).backends.map((b) => b.host),
    answeredAgain,
  };
  const tidied = await tidyAfterFault(p, { ...fault, record: faultRecord }, controller);
  let serving = answeredAgain;
  if (tidied.length) {
    await waitPoolFree();
    serving = await answeredSince(client.logFile, Date.now(), 10_000);
  }
  done(tidied.length ? `the check put back what was left: ${tidied.join("; ")}` : undefined);
  if (ctx.verbose) progress.info(`first run: ${describePodTimeline(faultRecord)}`);

  // 2. The migration. Archives the kubelet holds already are not this run's.
  const archivesBefore = new Set(await kubeletArchives(p.runDir));
  done = progress.step(`run your migratePod(): ${oldPod} on ${source.name} -> ${target.name}`);
  const real = await runObserved(p, oldPod, target, "migration", 90_000);
  done(real.run.verdict.ok ? `it returned ${JSON.stringify(real.run.value)}` : "it threw");
  done = progress.step("watch the client");
  await sleep(SETTLE_MS);
  // Connections the first run lost cannot travel in the second: say so, not "none restored".
  const clientLost = serving.kept === 0 && serving.total > 0
    ? fail(
      `the client had no working connection left when the migration began: the first run ` +
        `(whose restore fails) left none of its ${serving.total} answered`,
      "the first run must leave the old pod serving: see the criterion about the failed restore",
    )
    : undefined;
  const record: PodRunRecord = { ...real.record, after: await real.look(), clientLost };
  // A connection silenced for seconds waits for its next retransmission (up to seconds more).
  const answered = await answeredSince(client.logFile, record.endedAt, 10_000);
  done(`${answered.kept} of ${answered.total} connections answered since`);
  if (ctx.verbose) progress.info(`migration: ${describePodTimeline(record)}`);
  const newPod = real.run.value;

  await grader.check(
    titles.returns,
    () =>
      real.run.verdict.ok
        ? judgeReturned(real.run)
        : judgeFailedMigration(record, errorOf(real.run) ?? "", real.run.verdict.hint),
  );
  const moved = judgeNewPod(record, newPod);
  if (moved.ok) await recordServer(lab, p.runDir, newPod!, target.name);
  await grader.check(titles.moved, () => moved);
  await grader.check(titles.silent, () => judgeSilence(record));
  await grader.check(titles.order, () => judgeSwitchAfterReady(record));
  await grader.check(titles.switched, () => judgeSwitched(controller, lab, record));
  const created = record.kubeCalls.some((c) => c.kind === "create-pod");
  const notRun = fail(
    "migratePod() created no pod in its migration, so there is nothing to hand over or clean",
  );
  await grader.check(titles.handover, () => created ? judgeHandover(record, newPod) : notRun);
  await grader.check(
    titles.clean,
    async () =>
      created
        ? judgeNothingLeft(
          record,
          newPod,
          (await kubeletArchives(p.runDir)).filter((a) => !archivesBefore.has(a)),
        )
        : notRun,
  );
  await grader.check(titles.rollback, () => judgeRollback(faultRecord));
  const summary = summariseContinuity(
    await readClientLog(client.logFile),
    faultRecord.startedAt,
    record.endedAt,
  );
  const gate = moved.ok ? undefined : fail(
    `the server did not move to ${target.name}, so no connection was carried over`,
  );
  await grader.check(
    titles.survived,
    () =>
      gate ?? judgeSurvival(
        summary,
        "across both runs",
        "every step is needed, in the right order: see the criteria above",
      ),
  );
  await grader.check(titles.counters, () => gate ?? judgeCounters(summary));
  if (ctx.labOptions.keep) {
    ctx.labOptions.notice?.(
      "your exercise-6 lab is this machine's one Kubernetes lab: while it stays up, nobody " +
        "else's exercise 6 can be checked here; take it down when you are done",
    );
  }
}

function judgeReturned(run: StudentRun<string>): Verdict {
  return typeof run.value === "string" && run.value
    ? pass(`returned "${run.value}" in ${run.ms.toFixed(0)} ms`)
    : fail(`it returned ${JSON.stringify(run.value)}`, "return the name of the pod you created");
}
