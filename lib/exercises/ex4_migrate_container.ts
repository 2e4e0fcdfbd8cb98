/**
 * Exercise 4's check: like exercise 3, with the server in a Podman container that the student's
 * `migrateContainer` moves from one pod to another (checkpoint, rewrite inside the archive,
 * restore into the target pod left stopped, switch update, resume), watched the same way. The
 * container's new server process has another pid on this machine, which the student returns.
 *
 * @module
 */
import { readPlacements, writePlacements } from "../workloads/placements.ts";
import type { Lab } from "../lab/types.ts";
import type { Shell } from "../shell.ts";
import { type CheckContext, startMigrationLab } from "./check_context.ts";
import type { MigrateContainer, MigrationHost } from "./contexts.ts";
import { migrationHosts } from "./ex3_migrate_process.ts";
import { ExerciseLab } from "./exercise_lab.ts";
import { fail, pass, type Verdict } from "./grading.ts";
import {
  judgeMigration,
  migrationTitles,
  runObservedMigration,
  settle,
} from "./migration_check.ts";
import { judgeServerMoved } from "./migration_watch.ts";
import { importOrFail } from "./student_code.ts";

const CLIENT_CONNECTIONS = 4;

/** `podman inspect` of a container's state, pod id and pid; undefined when it does not exist. */
async function containerWhere(
  shell: Shell,
  container: string,
): Promise<{ status: string; podId: string; pid: number } | undefined> {
  const r = await shell.run(
    [
      "podman",
      "container",
      "inspect",
      "--format",
      "{{.State.Status}} {{.State.Pid}} {{.Pod}}",
      container,
    ],
    { check: false },
  );
  if (r.code !== 0) return undefined;
  const [status, pid, podId] = r.stdout.trim().split(/\s+/);
  return { status, pid: Number(pid), podId: podId ?? "" };
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
      "the checkpoint archive is what brings it back, in the target pod",
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
      `a container is restored into a pod; which pod holds ${target.name}'s address?`,
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
  const titles = migrationTitles("migrateContainer()", source, target);
  titles.moved = `the server container moved into pod ${target.pod}, connections and all`;
  const migrate = await importOrFail<MigrateContainer>(
    grader,
    titles.returns,
    ctx.files.student,
    "migrateContainer",
  );
  if (!migrate) {
    grader.skip(Object.values(titles).slice(1), "migrateContainer() must load first");
    return;
  }

  let done = progress.step(`bring up your lab ${lab.name}`);
  const { server, client, dir } = await startMigrationLab(exLab, CLIENT_CONNECTIONS);
  const before = await containerWhere(ctx.shell, server.container!);
  if (!before || !(before.pid > 0)) throw new Error(`container ${server.container} is not running`);
  done();
  done = progress.step(`run your migrateContainer(): ${source.pod} -> ${target.pod}`);
  const observed = await runObservedMigration(ctx, {
    lab,
    source,
    target,
    originalPid: before.pid,
    client,
    connections: CLIENT_CONNECTIONS,
    what: "migrateContainer()",
    timeoutMs: 90_000,
    run: (controller) =>
      migrate({
        container: server.container!,
        pid: before.pid,
        criuConfig: server.criuConfig!,
        source: { ...source, pod: source.pod! },
        target: { ...target, pod: target.pod! },
        dir,
        controller,
        shell: ctx.shell,
        log: (m) => progress.info(`your code: ${m}`),
      }),
  });
  done();
  const container = await judgeContainerMoved(ctx.shell, server.container!, source, target);
  await recordHost(lab, server.name, container.ok ? target.name : source.name);
  done = progress.step("watch the client");
  await settle(observed);
  done();

  await judgeMigration(ctx, observed, titles, {
    moved: () => {
      if (!container.ok) return container;
      const moved = judgeServerMoved(observed.record);
      return moved.ok ? { ...moved, detail: `${container.detail}; ${moved.detail}` } : moved;
    },
    survivalHint: "every step is needed, in the right order: see the criteria above",
  });
}

async function recordHost(lab: Lab, name: string, host: string): Promise<void> {
  const placements = await readPlacements(lab.runDir!);
  const p = placements.find((x) => x.name === name);
  if (!p) return;
  p.host = host;
  await writePlacements(lab.runDir!, placements);
}
