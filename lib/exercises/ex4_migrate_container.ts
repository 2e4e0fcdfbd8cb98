/**
 * Exercise 4's check: like exercise 3, with the server in a Podman container that the student's
 * `migrateContainer` moves from one pod to another (checkpoint, rewrite inside the archive,
 * restore into the target pod, switch update).
 *
 * @module
 */
import { readPlacements, writePlacements } from "../workloads/placements.ts";
import type { Lab } from "../lab/types.ts";
import type { Shell } from "../shell.ts";
import { judgeCounters, judgeSurvival, summariseContinuity } from "./client_judge.ts";
import { type CheckContext, readClientLog, sleep, startMigrationLab } from "./check_context.ts";
import type { MigrateContainer, MigrationHost } from "./contexts.ts";
import { judgeLockReleased, judgeSwitchMoved, migrationHosts } from "./ex3_migrate_process.ts";
import { ExerciseLab } from "./exercise_lab.ts";
import { fail, pass, type Verdict } from "./grading.ts";
import { importOrFail, runStudent } from "./student_code.ts";

const CLIENT_CONNECTIONS = 4;
const SETTLE_MS = 1500;

/** `podman inspect` of a container's state and pod id; undefined when it does not exist. */
async function containerWhere(
  shell: Shell,
  container: string,
): Promise<{ status: string; podId: string } | undefined> {
  const r = await shell.run(
    ["podman", "container", "inspect", "--format", "{{.State.Status}} {{.Pod}}", container],
    { check: false },
  );
  if (r.code !== 0) return undefined;
  const [status, podId] = r.stdout.trim().split(/\s+/);
  return { status, podId: podId ?? "" };
}

async function podId(shell: Shell, pod: string): Promise<string> {
  const r = await shell.run(["podman", "pod", "inspect", "--format", "{{.Id}}", pod], {
    check: false,
  });
  return r.stdout.trim();
}

/** The container runs, in the target pod. */
export async function judgeContainerMoved(
  shell: Shell,
  container: string,
  source: MigrationHost,
  target: MigrationHost,
): Promise<Verdict> {
  const where = await containerWhere(shell, container);
  if (!where) {
    return fail(
      `there is no container ${container} any more`,
      "restore the rewritten archive: podman container restore --import <archive> " +
        "--tcp-established --pod <target pod id> (restoreArgv in lib/podman/checkpoint.ts)",
    );
  }
  const [targetId, sourceId] = await Promise.all([
    podId(shell, target.pod!),
    podId(shell, source.pod!),
  ]);
  const pod = where.podId === targetId
    ? target.pod
    : where.podId === sourceId
    ? source.pod
    : where.podId;
  if (where.podId !== targetId) {
    return fail(
      `${container} is ${where.status} in pod ${pod}`,
      `remove the checkpointed container, then restore the archive into pod ${target.pod}`,
    );
  }
  if (where.status !== "running") {
    return fail(`${container} is in pod ${pod} but ${where.status}`, "see `podman logs`");
  }
  return pass(`${container} runs in pod ${pod}`);
}

/** Runs exercise 4's criteria. */
export async function checkMigrateContainer(ctx: CheckContext): Promise<void> {
  const { grader, progress } = ctx;
  await using exLab = await ExerciseLab.load(ctx.files.lab, ctx.labOptions);
  const lab = exLab.lab;
  const serverHost = lab.workloads.find((w) => w.name === "server")!.host;
  const [source, target] = migrationHosts(lab, serverHost);
  const title = "migrateContainer() finishes";
  const rest = [
    `the server container runs in pod ${target.pod}`,
    `the switch sends the VIP's connections to ${target.name}`,
    "every client connection survived",
    "the counters went on where they were",
    `CRIU's connection lock is gone from ${source.name}`,
  ];
  const migrate = await importOrFail<MigrateContainer>(
    grader,
    title,
    ctx.files.student,
    "migrateContainer",
  );
  if (!migrate) {
    grader.skip(rest, "migrateContainer() must load first");
    return;
  }

  const { server, client, api, dir } = await startMigrationLab(
    exLab,
    "exercise-4",
    CLIENT_CONNECTIONS,
  );

  const t0 = Date.now();
  const done = progress.step(`run your migrateContainer(): ${source.pod} -> ${target.pod}`);
  const run = await runStudent("migrateContainer()", () =>
    migrate({
      container: server.container!,
      source: { ...source, pod: source.pod! },
      target: { ...target, pod: target.pod! },
      dir,
      controller: api,
      shell: ctx.shell,
      log: (m) => progress.info(m),
    }), 90_000);
  done();
  const t1 = Date.now();
  await grader.check(title, () => run.verdict);

  const moved = await judgeContainerMoved(ctx.shell, server.container!, source, target);
  await recordHost(lab, server.name, moved.ok ? target.name : source.name);
  await sleep(SETTLE_MS);

  await grader.check(rest[0], () => moved);
  await grader.check(rest[1], () => judgeSwitchMoved(api, source, target));
  const summary = summariseContinuity(await readClientLog(client.logFile), t0, t1);
  await grader.check(rest[2], () =>
    judgeSurvival(
      summary,
      "across the migration",
      "checkpoint with --tcp-established, rewrite files.img inside the archive, restore into " +
        "the target pod, then move the switch",
    ));
  await grader.check(rest[3], () => judgeCounters(summary));
  await grader.check(rest[4], () =>
    judgeLockReleased(
      ctx,
      source,
      "keep step 5 of the starter (releaseLock) after the switch update",
    ));
}

async function recordHost(lab: Lab, name: string, host: string): Promise<void> {
  const placements = await readPlacements(lab.runDir!);
  const p = placements.find((x) => x.name === name);
  if (!p) return;
  p.host = host;
  await writePlacements(lab.runDir!, placements);
}
