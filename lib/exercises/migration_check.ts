/**
 * The part exercises 3 and 4 share: run the student's migration under observation (an
 * {@link ObservedController} and a {@link MigrationWatch}), take the last look once the client
 * had time to talk, and judge the record. Only the way the migration is started, and what else
 * is checked about the moved server (exercise 4: its container and pod), differ.
 *
 * @module
 */
import { judgeCounters, judgeSurvival, summariseContinuity } from "./client_judge.ts";
import { type CheckContext, hostNamed, readClientLog, sleep } from "./check_context.ts";
import type { MigrationHost } from "./contexts.ts";
import { fail, pass, type Verdict } from "./grading.ts";
import {
  describeTimeline,
  judgeLockLifetime,
  judgeResumeAfterSwitch,
  judgeReturnedPid,
  judgeSwitchAfterRestore,
  lookAt,
  type LookTarget,
  type MigrationRecord,
  MigrationWatch,
  netnsOfPid,
  ObservedController,
  serverMoved,
} from "./migration_watch.ts";
import { netnsInode } from "./proc_view.ts";
import { runStudent } from "./student_code.ts";
import type { Lab } from "../lab/types.ts";
import type { ControllerApi } from "../controller/api_client.ts";
import type { WorkloadPlacement } from "../workloads/start.ts";

/** How long the client keeps talking after the migration before it is judged. */
export const SETTLE_MS = 1500;

/** The criteria titles of a migration exercise, in order. */
export function migrationTitles(fn: string, source: MigrationHost, target: MigrationHost) {
  return {
    returns: `${fn} finishes and returns the pid of the server now on ${target.name}`,
    moved: `the server moved from ${source.name} to ${target.name}, connections and all`,
    order: "the switch moved only after the restore",
    lock: `CRIU's lock guarded ${source.name} until the switch moved, and is gone now`,
    resume: "the restored server waited, stopped, for the switch, then ran on",
    switched: `the switch sends the VIP's connections to ${target.name}`,
    survived: "every client connection survived",
    counters: "the counters went on where they were",
  };
}

/** What a migration check hands to {@link runObservedMigration}. */
export interface ObservedMigration<T> {
  lab: Lab;
  source: MigrationHost;
  target: MigrationHost;
  /** Pid of the server before the migration. */
  originalPid: number;
  client: WorkloadPlacement;
  connections: number;
  /** Calls the student's function with the observed controller. */
  run(controller: ControllerApi): Promise<T>;
  what: string;
  timeoutMs: number;
}

/** The record of one observed run, the student function's outcome and the controller. */
export interface ObservedRun<T> {
  record: MigrationRecord;
  run: Awaited<ReturnType<typeof runStudent<T>>>;
  controller: ObservedController;
  lookTarget: LookTarget;
  /** The client's log file. */
  clientLog: string;
}

/** Runs the student's migration under observation. */
export async function runObservedMigration<T>(
  ctx: CheckContext,
  m: ObservedMigration<T>,
): Promise<ObservedRun<T>> {
  const clientIp = hostNamed(m.lab, m.client.host).ip;
  const lookTarget: LookTarget = {
    shell: ctx.shell,
    source: m.source,
    target: m.target,
    port: m.lab.loadBalancer.servicePort,
    clientIp,
  };
  const controller = await ObservedController.forLabObserved(m.lab, () => lookAt(lookTarget));
  const watch = new MigrationWatch(
    m.originalPid,
    await netnsInode(m.source.netns),
    () => controller.calls,
  );
  watch.start();
  const startedAt = Date.now();
  const run = await runStudent(
    m.what,
    () => m.run(controller),
    m.timeoutMs,
    "the error names the step that failed; `lab check --keep --verbose` keeps the lab and the " +
      "checkpoint (in the lab's migrations/ directory) to look closer",
  );
  const endedAt = Date.now();
  await watch.stop();
  const record: MigrationRecord = {
    source: m.source,
    target: m.target,
    startedAt,
    endedAt,
    connections: m.connections,
    sourceGoneAt: watch.sourceGoneAt,
    resumedAt: watch.resumedAt,
    calls: controller.calls,
    after: await lookAt(lookTarget),
  };
  return { record, run, controller, lookTarget, clientLog: m.client.logFile };
}

/** Lets the client talk for a while, then takes the last look. */
export async function settle<T>(observed: ObservedRun<T>): Promise<void> {
  await sleep(SETTLE_MS);
  observed.record.settled = await lookAt(observed.lookTarget);
}

/** Lets servers left stopped on the target go on, so that `lab down` can stop them. */
function releaseStopped<T>(observed: ObservedRun<T>): void {
  for (const s of (observed.record.settled ?? observed.record.after).target) {
    if (s.state === "T" || s.state === "t") {
      try {
        Deno.kill(s.pid, "SIGCONT");
      } catch { /* gone */ }
    }
  }
}

/** The switch half: the controller's backend for the VIP now names `target`. */
export async function judgeSwitchMoved(
  api: ControllerApi,
  source: MigrationHost,
  target: MigrationHost,
): Promise<Verdict> {
  const list = await api.backends();
  const names = list.backends.map((b) => `${b.id}: ${b.host} ${b.ip}`).join(", ");
  return list.backends.some((b) => b.host === target.name) &&
      !list.backends.some((b) => b.host === source.name)
    ? pass(`backends: ${names}`)
    : fail(
      `the VIP's backends are still ${names}: the client's packets go to ${source.name}`,
      "the switch only changes when its controller is asked to move the backend",
    );
}

/**
 * Judges the common criteria of a migration run. `moved` is exercise-specific (it may add the
 * container's pod); the others are the same for both exercises.
 */
export async function judgeMigration<T>(
  ctx: CheckContext,
  observed: ObservedRun<T>,
  titles: ReturnType<typeof migrationTitles>,
  options: { moved: () => Promise<Verdict> | Verdict; survivalHint: string },
): Promise<void> {
  const { grader } = ctx;
  const { record, run, controller } = observed;
  if (ctx.verbose) ctx.progress.info(`timeline: ${describeTimeline(record)}`);
  await grader.check(titles.returns, async () => {
    if (!run.verdict.ok) return run.verdict;
    return judgeReturnedPid(
      record,
      run.value,
      await netnsInode(record.target.netns),
      await netnsOfPid(run.value),
    );
  });
  await grader.check(titles.moved, options.moved);
  await grader.check(titles.order, () => judgeSwitchAfterRestore(record));
  await grader.check(titles.lock, () => judgeLockLifetime(record));
  await grader.check(titles.resume, () => judgeResumeAfterSwitch(record));
  await grader.check(
    titles.switched,
    () => judgeSwitchMoved(controller, record.source, record.target),
  );
  const summary = summariseContinuity(
    await readClientLog(observed.clientLog),
    record.startedAt,
    record.endedAt,
  );
  const gate = serverMoved(record) ? undefined : fail(
    `the server did not move to ${record.target.name}, so no connection was carried over`,
  );
  await grader.check(
    titles.survived,
    () => gate ?? judgeSurvival(summary, "across the migration", options.survivalHint),
  );
  await grader.check(titles.counters, () => gate ?? judgeCounters(summary));
  releaseStopped(observed);
}
