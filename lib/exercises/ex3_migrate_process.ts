/**
 * Exercise 3's check: the lab comes up with a counter client talking to the server through the
 * VIP; the student's `migrateServer` moves the server process to the other host with CRIU while
 * the grader watches (see migration_watch.ts): when the server left the source, what ran on the
 * target and in which state when the switch was asked to move, whether CRIU's lock still guarded
 * the source then, when the restored server ran again. Then the result: the returned pid, the
 * switch, the client's connections and counters.
 *
 * @module
 */
import { readPlacements, writePlacements } from "../workloads/placements.ts";
import { type CheckContext, hostNamed, startMigrationLab } from "./check_context.ts";
import type { MigrateServer, MigrationHost } from "./contexts.ts";
import { ExerciseLab } from "./exercise_lab.ts";
import {
  judgeMigration,
  migrationTitles,
  runObservedMigration,
  settle,
} from "./migration_check.ts";
import { judgeServerMoved } from "./migration_watch.ts";
import { importOrFail } from "./student_code.ts";
import type { Lab } from "../lab/types.ts";

/** Connections the lab's client keeps open (its command's -c). */
const CLIENT_CONNECTIONS = 4;

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

/** Runs exercise 3's criteria. */
export async function checkMigrateProcess(ctx: CheckContext): Promise<void> {
  const { grader, progress } = ctx;
  await using exLab = await ExerciseLab.load(ctx.files.lab, ctx.labOptions);
  const lab = exLab.lab;
  const serverHost = lab.workloads.find((w) => w.name === "server")!.host;
  const [source, target] = migrationHosts(lab, serverHost);
  const titles = migrationTitles("migrateServer()", source, target);
  const migrate = await importOrFail<MigrateServer>(
    grader,
    titles.returns,
    ctx.files.student,
    "migrateServer",
  );
  if (!migrate) {
    grader.skip(Object.values(titles).slice(1), "migrateServer() must load first");
    return;
  }

  let done = progress.step(`bring up your lab ${lab.name}`);
  const { server, client, dir } = await startMigrationLab(exLab, CLIENT_CONNECTIONS);
  done();
  done = progress.step(`run your migrateServer(): ${source.name} -> ${target.name}`);
  const observed = await runObservedMigration(ctx, {
    lab,
    source,
    target,
    originalPid: server.pid!,
    client,
    connections: CLIENT_CONNECTIONS,
    what: "migrateServer()",
    timeoutMs: 60_000,
    run: (controller) =>
      migrate({
        pid: server.pid!,
        source,
        target,
        imagesDir: dir,
        controller,
        shell: ctx.shell,
        log: (m) => progress.info(`your code: ${m}`),
      }),
  });
  done();
  // Where the server runs now, so that `lab down` finds it.
  const now = observed.record.after.target.find((s) => s.listening);
  await recordPlacement(lab, server.name, now ? target.name : source.name, now?.pid);
  done = progress.step("watch the client");
  await settle(observed);
  done();

  await judgeMigration(ctx, observed, titles, {
    moved: () => judgeServerMoved(observed.record),
    survivalHint: "every step is needed, in the right order: see the criteria above",
  });
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
  if (pid && pid > 0) {
    p.pid = pid;
    if (p.pidFile) await Deno.writeTextFile(p.pidFile, `${pid}\n`);
  }
  await writePlacements(lab.runDir!, placements);
}
