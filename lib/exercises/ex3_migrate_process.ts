/**
 * Exercise 3's check: the lab comes up with a counter client talking to the server through the
 * VIP; the student's `migrateServer` moves the server process to the other host with CRIU; then
 * the server must listen there (only there), the switch must send the VIP's traffic there, every
 * client connection must still be answered with continuous counters, and CRIU's connection lock
 * must be gone from the source.
 *
 * @module
 */
import type { ControllerApi } from "../controller/api_client.ts";
import { readPlacements, writePlacements } from "../workloads/placements.ts";
import { pidAlive } from "../shell.ts";
import { judgeCounters, judgeSurvival, summariseContinuity } from "./client_judge.ts";
import {
  type CheckContext,
  hostNamed,
  readClientLog,
  sleep,
  startMigrationLab,
} from "./check_context.ts";
import type { MigrateServer, MigrationHost } from "./contexts.ts";
import { ExerciseLab } from "./exercise_lab.ts";
import { fail, pass, type Verdict } from "./grading.ts";
import { criuLocks, tcpListeners } from "./probes.ts";
import { importOrFail, runStudent } from "./student_code.ts";
import type { Lab } from "../lab/types.ts";

/** Connections the lab's client keeps open (its command's -c). */
const CLIENT_CONNECTIONS = 4;
/** How long the client keeps talking after the migration before its log is judged. */
const SETTLE_MS = 1500;

/** The source (the server's host) and target (the other host that is neither client nor server). */
export function migrationHosts(lab: Lab, serverHost: string): [MigrationHost, MigrationHost] {
  const clients = new Set(lab.workloads.filter((w) => w.role === "client").map((w) => w.host));
  const target = lab.hosts.find((h) => h.name !== serverHost && !clients.has(h.name));
  if (!target) throw new Error(`Lab ${lab.name} has no free host to migrate to`);
  const view = (name: string): MigrationHost => {
    const h = hostNamed(lab, name);
    return { name: h.name, ip: h.ip, netns: h.netns ?? h.name, ...(h.pod ? { pod: h.pod } : {}) };
  };
  return [view(serverHost), view(target.name)];
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
      `the VIP's backends are still ${names}: the client's packets go to ${source.name}, where ` +
        "CRIU's lock drops them",
      `after the restore, ask the controller: m.controller.migrateBackend("${source.name}", ` +
        `"${target.name}")`,
    );
}

/** CRIU's lock is gone from the source namespace. */
export async function judgeLockReleased(
  ctx: CheckContext,
  source: MigrationHost,
  hint: string,
): Promise<Verdict> {
  const locks = await criuLocks(ctx.shell, source.netns);
  return locks.length
    ? fail(`${source.name}'s namespace still has ${locks.join("; ")}`, hint)
    : pass(`no CRIU lock left in ${source.name}'s namespace`);
}

/** Runs exercise 3's criteria. */
export async function checkMigrateProcess(ctx: CheckContext): Promise<void> {
  const { grader, progress } = ctx;
  await using exLab = await ExerciseLab.load(ctx.files.lab, ctx.labOptions);
  const lab = exLab.lab;
  const serverHost = lab.workloads.find((w) => w.name === "server")!.host;
  const [source, target] = migrationHosts(lab, serverHost);
  const title = "migrateServer() finishes";
  const rest = [
    `the server listens on ${target.name}, and no longer on ${source.name}`,
    `the switch sends the VIP's connections to ${target.name}`,
    "every client connection survived",
    "the counters went on where they were",
    `CRIU's connection lock is gone from ${source.name}`,
  ];
  const migrate = await importOrFail<MigrateServer>(
    grader,
    title,
    ctx.files.student,
    "migrateServer",
  );
  if (!migrate) {
    grader.skip(rest, "migrateServer() must load first");
    return;
  }

  const { server, client, api, dir: imagesDir } = await startMigrationLab(
    exLab,
    "exercise-3",
    CLIENT_CONNECTIONS,
  );

  const t0 = Date.now();
  const done = progress.step(`run your migrateServer(): ${source.name} -> ${target.name}`);
  const run = await runStudent("migrateServer()", () =>
    migrate({
      pid: server.pid!,
      source,
      target,
      imagesDir,
      controller: api,
      shell: ctx.shell,
      log: (m) => progress.info(m),
    }), 60_000);
  done();
  const t1 = Date.now();
  await grader.check(title, () => run.verdict);

  const port = lab.loadBalancer.servicePort;
  const onTarget = await tcpListeners(ctx.shell, target.netns, port);
  const pid = typeof run.value === "number" ? run.value : undefined;
  await recordPlacement(lab, server.name, onTarget.length ? target.name : source.name, pid);
  await sleep(SETTLE_MS);

  await grader.check(rest[0], async () => {
    const onSource = await tcpListeners(ctx.shell, source.netns, port);
    if (!onTarget.length) {
      return fail(
        `nothing listens on port ${port} in ${target.name}'s namespace`,
        "restore the checkpoint there: criuRestore({ netns: m.target.netns, imagesDir: " +
          "m.imagesDir }), after rewriting the addresses",
      );
    }
    if (onSource.length) {
      return fail(
        `the server listens in both ${source.name} and ${target.name}`,
        "criu dump stops the process; do not start it again on the source",
      );
    }
    return pass(`${target.name} listens on ${onTarget.join(", ")}`);
  });
  await grader.check(rest[1], () => judgeSwitchMoved(api, source, target));
  const summary = summariseContinuity(await readClientLog(client.logFile), t0, t1);
  await grader.check(rest[2], () =>
    judgeSurvival(
      summary,
      "across the migration",
      "all four steps are needed: dump with the connections, rewrite the addresses, restore on " +
        "the target, move the switch",
    ));
  await grader.check(rest[3], () => judgeCounters(summary));
  await grader.check(rest[4], () =>
    judgeLockReleased(
      ctx,
      source,
      "once the switch has moved, remove it: releaseSourceLock({ netns: m.source.netns, " +
        "imagesDir: m.imagesDir })",
    ));
}

/** Records where the server runs now, so `lab down` finds it. */
async function recordPlacement(
  lab: Lab,
  name: string,
  host: string,
  pid: number | undefined,
): Promise<void> {
  const placements = await readPlacements(lab.runDir!);
  const p = placements.find((x) => x.name === name);
  if (!p) return;
  p.host = host;
  if (pid && pid > 0 && pidAlive(pid)) {
    p.pid = pid;
    if (p.pidFile) await Deno.writeTextFile(p.pidFile, `${pid}\n`);
  }
  await writePlacements(lab.runDir!, placements);
}
