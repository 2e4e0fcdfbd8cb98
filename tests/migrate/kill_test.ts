/**
 * Issue #5: killing `migrate` at any phase, then `lab down`, leaves nothing behind.
 *
 * Each case brings up its own copy of a lab (unique name, id, switch ports and run root), starts
 * `deno run -A main.ts migrate <lab file> server --to h3 --run-root <root>` as a child, waits for
 * the progress line of one phase (`==> restore on target`), optionally a few milliseconds more,
 * then SIGSTOPs the child, notes its process tree and SIGKILLs it. What the migration had started
 * keeps running as orphans, as after a real kill. Then `labDown`, and nothing of the lab may be
 * left: no netns, links, pods, containers (Podman's or storage's), networks or pod cgroups; no
 * process the lab or the migration started (by pid and start time, in the lab's namespaces, or
 * naming the lab's id, run root or a container id in its arguments, working directory or open
 * files); no CRIU lock rules in the machine's namespace; and the migration lock must not block
 * the next migration (some cases bring the lab up again and migrate to the end).
 *
 * Each case prints where the kill landed (`killed inside "restore on target"`): phases that take
 * a millisecond are often over by the time the line is read.
 */
import assert from "node:assert/strict";
import { labDown, labUp } from "../../lib/runtime/session.ts";
import { acquireLock } from "../../lib/pid_lock.ts";
import { RecordingProgress, silentProgress } from "../../lib/progress.ts";
import { capTest, missing } from "../_caps.ts";
import { criuCanTrackMemory } from "../../lib/criu/checkpoint.ts";
import { testLab, uniqueSwitchPorts } from "../topology/_lab.ts";
import {
  type KillCase,
  LabWatch,
  logTails,
  migrateAndKill,
  migrateToEnd,
  rootCriuLocks,
  whatIsLeft,
} from "./_kill.ts";

function killCase(c: KillCase): void {
  const podman = c.base === "host-containers";
  const at = c.delayMs ? `${c.delayMs} ms into` : "at the start of";
  capTest({
    name: `${c.base}: migrate killed ${at} "${c.phase}", then lab down leaves nothing`,
    needs: podman ? ["netns", "criu", "podman", "bmv2"] : ["netns", "criu", "bmv2"],
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const { lab, runRoot, text } = await testLab(c.base, uniqueSwitchPorts);
      assert.match(text, /grpc_port: \d+/);
      const watch = new LabWatch(lab, runRoot);
      const locksBefore = await rootCriuLocks();
      const t0 = performance.now();
      try {
        await labUp(lab, { progress: silentProgress });
        await watch.snapshot(podman);
        const { landed } = await migrateAndKill(lab, runRoot, c, watch.tracked);
        // No Podman here: a restore the kill orphaned must not meet our listing (lab down waits
        // for it first, see lib/runtime/orphan_commands.ts).
        await watch.snapshot(false);
        const downProgress = new RecordingProgress();
        const down = await labDown(lab, { progress: downProgress });
        const waited = downProgress.events.find((e) => e.startsWith("done wait for"));
        assert.deepEqual(down.failed, [], "lab down could not remove everything");
        assert.deepEqual(
          await whatIsLeft(watch, locksBefore, podman),
          [],
          `left behind after a kill ${landed}`,
        );
        // The killed migration's lock must not block the next one.
        const lock = await acquireLock(`${lab.runDir}/migrate.lock`, (o) => `held by ${o}`);
        await lock.release();
        if (c.migrateAgain) {
          await labUp(lab, { progress: silentProgress });
          await watch.snapshot(podman);
          const again = await migrateToEnd(lab, runRoot);
          assert.equal(again.code, 0, `the next migration failed:\n${again.out}`);
          assert.match(again.out, /: migrated\n/);
          await watch.snapshot(podman);
          assert.deepEqual((await labDown(lab, { progress: silentProgress })).failed, []);
          assert.deepEqual(
            await whatIsLeft(watch, locksBefore, podman),
            [],
            "left behind after the next migration",
          );
        }
        console.log(
          `  killed ${landed}; ${watch.tracked.size} processes tracked; ` +
            `lab down ${down.totalMs.toFixed(0)} ms${waited ? ` (${waited.slice(5)})` : ""}; ` +
            `${((performance.now() - t0) / 1000).toFixed(1)} s`,
        );
      } catch (err) {
        console.log(await logTails(lab.runDir!));
        throw err;
      } finally {
        watch.tracked.killAlive();
        await labDown(lab, { progress: silentProgress }).catch(() => {});
        await Deno.remove(runRoot, { recursive: true }).catch(() => {});
      }
    },
  });
}

const PROCESS_CASES: KillCase[] = [
  // CRIU pre-dump (--pre-dump 1); only where the kernel tracks dirty memory (else migrate refuses).
  { base: "process-migration", phase: "pre-dump round 1", delayMs: 0, preDump: 1 },
  { base: "process-migration", phase: "checkpoint (freeze + dump)", delayMs: 0 },
  { base: "process-migration", phase: "checkpoint (freeze + dump)", delayMs: 15 },
  { base: "process-migration", phase: "transfer checkpoint", delayMs: 0 },
  { base: "process-migration", phase: "rewrite socket addresses", delayMs: 0 },
  { base: "process-migration", phase: "restore on target", delayMs: 0, migrateAgain: true },
  { base: "process-migration", phase: "restore on target", delayMs: 10 },
  { base: "process-migration", phase: "update switch", delayMs: 0 },
  { base: "process-migration", phase: "clean up source", delayMs: 0 },
];

const CONTAINER_CASES: KillCase[] = [
  { base: "host-containers", phase: "prepare", delayMs: 0 },
  { base: "host-containers", phase: "checkpoint (freeze + dump)", delayMs: 0 },
  { base: "host-containers", phase: "checkpoint (freeze + dump)", delayMs: 60 },
  { base: "host-containers", phase: "restore on target", delayMs: 0, migrateAgain: true },
  { base: "host-containers", phase: "restore on target", delayMs: 150 },
  { base: "host-containers", phase: "transfer checkpoint", delayMs: 0 },
  { base: "host-containers", phase: "rewrite socket addresses", delayMs: 0 },
  { base: "host-containers", phase: "update switch", delayMs: 0 },
  { base: "host-containers", phase: "clean up source", delayMs: 0 },
];

const canTrackMemory = missing(["criu"]).length === 0 &&
  await criuCanTrackMemory().catch(() => false);
if (!canTrackMemory) {
  console.log(
    "SKIP kill during pre-dump: CRIU reports no memory tracking (mem_dirty_track), " +
      "so migrate --pre-dump refuses before it starts",
  );
}
for (const c of [...PROCESS_CASES, ...CONTAINER_CASES]) {
  if (!c.preDump || canTrackMemory) killCase(c);
}
