/**
 * Container migration without BMv2: the counter server runs in a Podman pod of the nft-stand-in
 * rig, started as a lab starts it (image, CRIU configuration annotation), and the real
 * ContainerDriver with runMigration moves it to the other pod while the client's connections
 * go through the stand-in's VIP. Needs root, network namespaces, CRIU and Podman.
 */
import assert from "node:assert/strict";
import { capTest } from "../_caps.ts";
import { assertClientIntact, CONNS, criuTables } from "../criu/_rig.ts";
import {
  assertServerIn,
  CONTAINER_NEEDS,
  type ContainerMigration,
  type ContainerRig,
  leftovers,
  migrateContainer,
  podContainers,
  startedContainerRig,
} from "./_container_rig.ts";
import { computeDowntime } from "../../lib/workloads/client_log.ts";
import { defaultShell } from "../../lib/shell.ts";

function phases(m: ContainerMigration): string {
  return m.result.phases.map((p) => `${p.phase} ${p.ms.toFixed(0)}`).join(", ");
}

/** The migration finished, with the container's CRIU configuration visibly in force. */
async function assertMigrated(
  m: ContainerMigration,
  cr: ContainerRig,
  from: "source" | "target",
) {
  const { rig } = cr;
  const container = cr.server.container!;
  assert.equal(m.result.outcome, "migrated", `${m.result.error ?? ""} (${phases(m)})`);
  assert.ok(m.result.phases.every((p) => p.ok), phases(m));
  // network-lock nftables: CRIU's lock was a table in the source namespace while the restored
  // server waited; leave-stopped: it waited stopped, its pid written by the hook at pre-resume.
  assert.equal(m.frozen?.sourceLockTables.length, 1, JSON.stringify(m.frozen));
  assert.equal(m.frozen?.restoredState, "T", JSON.stringify(m.frozen));
  const pid = await defaultShell.run([
    "podman",
    "inspect",
    "--format",
    "{{.State.Pid}}",
    container,
  ]);
  assert.equal(Number(pid.stdout), m.frozen?.restoredPid, "the hook recorded the server's pid");
  assert.deepEqual(await criuTables(rig.plan[from].netns), [], "cleanup lifts the source lock");
  // The target was prepared before the freeze and restored by Podman's API service from CRIU's
  // images, its runc's CRIU gated until they were in place; Podman's export stays the
  // rollback's checkpoint, and no archive copy was made.
  const prepare = m.result.phases.find((p) => p.phase === "prepare");
  assert.match(
    prepare?.note ?? "",
    /prepared in [^;]+; API service pid \d+, CRIU gated$/,
    phases(m),
  );
  assert.ok((await Deno.stat(m.driver.sourceArchive)).size > 0, m.driver.sourceArchive);
  await assert.rejects(Deno.stat(m.driver.targetArchive), Deno.errors.NotFound);
}

capTest({
  name: "container rig: a Podman container moves to another pod and back behind the nft stand-in",
  needs: CONTAINER_NEEDS,
  fn: async () => {
    const t0 = performance.now();
    const cr = await startedContainerRig();
    const { rig } = cr;
    const setupMs = performance.now() - t0;
    try {
      await assertServerIn(cr, "source");
      const since = Date.now();
      const there = await migrateContainer(cr, "source", "target");
      await assertMigrated(there, cr, "source");
      await assertServerIn(cr, "target");
      await rig.waitForAnswers(CONNS, 10, there.result.frozenWindow.end, 8000);

      const back = await migrateContainer(cr, "target", "source");
      await assertMigrated(back, cr, "target");
      await assertServerIn(cr, "source");
      await assertClientIntact(rig, since, back.result.frozenWindow.end);

      const records = await rig.clientRecords();
      const backStart = back.result.frozenWindow.start;
      const downThere = computeDowntime(records.filter((r) => r.t < backStart), {
        migrationStartMs: there.result.frozenWindow.start,
      });
      const downBack = computeDowntime(records, { migrationStartMs: backStart });
      for (const [name, m, d] of [["there", there, downThere], ["back", back, downBack]] as const) {
        console.log(
          `${name}: wall ${m.result.wallMs.toFixed(0)} ms, frozen ${
            m.result.frozenMs.toFixed(0)
          } ms, client downtime ${d.maxDowntimeMs.toFixed(0)} ms (${phases(m)})`,
        );
      }
    } finally {
      await rig.dispose();
    }
    assert.deepEqual(await leftovers(cr), []);
    console.log(
      `setup ${setupMs.toFixed(0)} ms, whole case ${(performance.now() - t0).toFixed(0)} ms`,
    );
  },
});

capTest({
  name: "container rig: a restore failing in the target pod is rolled back into the source pod",
  needs: CONTAINER_NEEDS,
  fn: async () => {
    const t0 = performance.now();
    const cr = await startedContainerRig();
    const { rig } = cr;
    try {
      const since = Date.now();
      // Sockets rewritten to an address the target pod does not have: CRIU cannot bind them.
      const m = await migrateContainer(cr, "source", "target", { toIp: "10.99.3.77" });
      assert.equal(m.result.outcome, "rolled-back", phases(m));
      const restores = m.result.phases.filter((p) => p.phase === "restore");
      assert.deepEqual(restores.map((p) => p.ok), [false, true], phases(m));
      assert.equal(m.frozen, undefined, "the switch was never updated");
      await assertServerIn(cr, "source");
      assert.deepEqual(await podContainers(rig.plan.target.pod!), []);
      assert.deepEqual(await criuTables(rig.plan.source.netns), [], "the source lock is lifted");
      // CRIU's failed restore locked the whole target namespace; the rollback lifts that too.
      assert.match(restores[1].note ?? "", /removed the lock left in/);
      assert.deepEqual(await criuTables(rig.plan.target.netns), []);
      await rig.waitForAnswers(CONNS, 10, since + m.result.wallMs, 8000);
      // The failed attempt left nothing in the target pod that stops the next one.
      const again = await migrateContainer(cr, "source", "target", { dir: "again" });
      await assertMigrated(again, cr, "source");
      await assertServerIn(cr, "target");
      await assertClientIntact(rig, since, again.result.frozenWindow.end);
      console.log(
        `rolled back: wall ${m.result.wallMs.toFixed(0)} ms (${phases(m)}); restore error: ${
          restores[0].error?.split("\n").find((l) => /error/i.test(l))?.slice(0, 160)
        }`,
      );
    } finally {
      await rig.dispose();
    }
    assert.deepEqual(await leftovers(cr), []);
    console.log(`whole case ${(performance.now() - t0).toFixed(0)} ms`);
  },
});
