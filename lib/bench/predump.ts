/**
 * What pre-dump rounds buy a server with much memory: the same migration with and without
 * `criu pre-dump` rounds, compared by the frozen window, CRIU's own frozen time and the pages the
 * final dump wrote. Runs on the CRIU rig (network namespaces and the nftables stand-in for the
 * switch), so it needs no BMv2, but it needs a kernel that tracks dirty memory.
 *
 * @module
 */
import { criuCanTrackMemory } from "../criu/checkpoint.ts";
import { MigrationRig, type RigRole } from "../criu/selfcheck_rig.ts";
import { readDumpStats } from "../criu/stats.ts";
import { MissingCapabilityError } from "../errors.ts";
import { ProcessDriver } from "../migrate/process_driver.ts";
import { runMigration } from "../migrate/run.ts";
import { type LatencyStats, latencyStats } from "../p4runtime/bench.ts";
import { silentProgress } from "../progress.ts";
import { computeDowntime } from "../workloads/client_log.ts";

export interface PreDumpBenchOptions {
  /** Memory the server carries, MB (default 128). */
  ballastMb?: number;
  /** Migrations per setting (default 5), alternating between the two hosts. */
  count?: number;
  /** Pre-dump rounds to compare (default [0, 2]). */
  rounds?: number[];
  /** Called after each migration, for progress. */
  onMigration?: (line: string) => void;
}

export interface PreDumpSetting {
  preDumpRounds: number;
  migrations: number;
  /** Connections kept in every migration. */
  kept: number;
  /** Our frozen window: final dump start to switch updated. */
  frozen: LatencyStats;
  /** CRIU's frozen time in the final dump (stats-dump). */
  criuFrozen: LatencyStats;
  /** Pages the final dump wrote (4 KiB each). */
  pagesWritten: number[];
  /** Client-observed downtime of the final dump, restore and switch. */
  downtime: LatencyStats;
  /** The longest client-observed pause during the pre-dump rounds (CRIU freezes briefly). */
  preDumpPause?: LatencyStats;
  /** Wall time of the whole migration, pre-dump rounds included. */
  wall: LatencyStats;
}

export interface PreDumpBenchResult {
  ballastMb: number;
  settings: PreDumpSetting[];
}

/** Migrates a server carrying `ballastMb` back and forth with each number of pre-dump rounds. */
export async function benchPreDump(options: PreDumpBenchOptions = {}): Promise<PreDumpBenchResult> {
  if (!await criuCanTrackMemory()) {
    throw new MissingCapabilityError(
      "pre-dump needs the kernel's dirty-memory tracking (criu check --feature mem_dirty_track)",
      { hint: "run the pre-dump benchmark on a kernel built with CONFIG_MEM_SOFT_DIRTY" },
    );
  }
  const ballastMb = options.ballastMb ?? 128;
  const count = options.count ?? 5;
  const settings: PreDumpSetting[] = [];
  for (const preDumpRounds of options.rounds ?? [0, 2]) {
    const rig = await MigrationRig.create();
    try {
      let pid = await rig.startServer("source", { ballastMb });
      await rig.startClient(2, 10);
      await rig.waitForAnswers(2, 10);
      let here: RigRole = "source";
      const frozen: number[] = [];
      const criuFrozen: number[] = [];
      const pagesWritten: number[] = [];
      const downtime: number[] = [];
      const pauses: number[] = [];
      const wall: number[] = [];
      let kept = 0;
      for (let i = 0; i < count; i++) {
        const there: RigRole = here === "source" ? "target" : "source";
        const driver = new ProcessDriver({
          sourceNetns: rig.plan[here].netns,
          targetNetns: rig.plan[there].netns,
          pid,
          fromIp: rig.plan[here].ip,
          toIp: rig.plan[there].ip,
          checkpointDir: `${rig.dir}/m${preDumpRounds}-${i}`,
          resumeAfterSwitch: true,
          stopBeforeDump: true,
        });
        const since = Date.now();
        const result = await runMigration(driver, {
          preDumpRounds,
          progress: silentProgress,
          switchUpdate: () => rig.flip(there),
        });
        if (result.outcome !== "migrated") {
          throw new Error(`migration ${i + 1} (${preDumpRounds} pre-dumps): ${result.error}`);
        }
        pid = driver.pid;
        rig.track(pid);
        here = there;
        await rig.waitForAnswers(2, 20, Date.now(), 60_000);
        const stats = await readDumpStats(driver.plan.imagesDir);
        const records = await rig.clientRecords();
        const report = computeDowntime(records, { migrationStartMs: result.frozenWindow.start });
        if (preDumpRounds > 0) {
          const frozenAt = result.frozenWindow.start;
          const before = records.filter((r) => r.t < frozenAt);
          pauses.push(computeDowntime(before, { migrationStartMs: since }).maxDowntimeMs);
        }
        frozen.push(result.frozenMs);
        criuFrozen.push(stats.frozenMs);
        pagesWritten.push(stats.pagesWritten);
        downtime.push(report.maxDowntimeMs);
        wall.push(result.wallMs);
        if (!report.anyBroken && report.countsContinuous) kept++;
        options.onMigration?.(
          `${preDumpRounds} pre-dump round(s), migration ${i + 1}/${count}: frozen ` +
            `${result.frozenMs.toFixed(0)} ms, ${stats.pagesWritten} pages in the final dump, ` +
            `downtime ${report.maxDowntimeMs.toFixed(0)} ms`,
        );
      }
      settings.push({
        preDumpRounds,
        migrations: count,
        kept,
        frozen: latencyStats(frozen),
        criuFrozen: latencyStats(criuFrozen),
        pagesWritten,
        downtime: latencyStats(downtime),
        preDumpPause: pauses.length ? latencyStats(pauses) : undefined,
        wall: latencyStats(wall),
      });
    } finally {
      await rig.dispose();
    }
  }
  return { ballastMb, settings };
}
