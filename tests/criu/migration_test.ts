/**
 * The CRIU tier: real dumps and restores across network namespaces, with a client whose
 * connections must survive. Needs root, network namespaces and CRIU.
 */
import assert from "node:assert/strict";
import { capTest, missing } from "../_caps.ts";
import { assertClientIntact, CONNS, criuTables, NEEDS, prefix, startedRig } from "./_rig.ts";
import {
  criuCanTrackMemory,
  criuDump,
  CriuError,
  criuPreDump,
  criuRestore,
  holdCriuDump,
  holdCriuRestore,
  releaseSourceLock,
  restoreOnSource,
} from "../../lib/criu/checkpoint.ts";
import { rewriteDumpAddresses } from "../../lib/criu/rewrite.ts";
import { assertInNetns, criuSelfCheck } from "../../lib/criu/selfcheck.ts";
import { defaultShell, pidAlive, processStat } from "../../lib/shell.ts";

async function netnsNames(): Promise<string[]> {
  const out = await defaultShell.run(["ip", "netns", "list"]);
  return out.stdout.split("\n").map((l) => l.split(" ")[0]).filter(Boolean);
}

capTest({
  name: "criu self-check: established connections survive a move to another address",
  needs: NEEDS,
  fn: async () => {
    const p = prefix();
    const lines: string[] = [];
    const result = await criuSelfCheck({ prefix: p, log: (l) => lines.push(l) });
    console.log(
      `dump ${result.dumpMs.toFixed(0)} ms, rewrite ${result.rewriteMs.toFixed(2)} ms, ` +
        `restore ${result.restoreMs.toFixed(0)} ms (+${result.pidWaitMs.toFixed(0)} ms pid reap ` +
        `wait), flip ${result.flipMs.toFixed(0)} ms, downtime ` +
        `${result.downtime.maxDowntimeMs.toFixed(0)} ms ` +
        `(gaps ${
          result.downtime.connections.map((c) => c.outageGapsMs.map(Math.round).join("+"))
            .join(", ")
        })`,
    );
    assert.equal(result.rewrittenSockets, 1 + CONNS);
    assert.equal(result.downtime.anyBroken, false);
    assert.equal(result.downtime.countsContinuous, true);
    assert.ok(result.downtime.connections.every((c) => c.recoveredAtMs !== undefined));
    assert.ok(lines.some((l) => l.startsWith("dump ")));
    assert.deepEqual((await netnsNames()).filter((n) => n.startsWith(p)), []);
  },
});

capTest({
  name: "criu dump of a bad pid fails and the source keeps serving",
  needs: NEEDS,
  fn: async () => {
    const { rig, pid } = await startedRig();
    try {
      const since = Date.now();
      await assert.rejects(
        () =>
          criuDump({
            netns: rig.plan.source.netns,
            pid: 2 ** 22 + 1, // above pid_max: never a process
            imagesDir: `${rig.dir}/images`,
          }),
        (err: unknown) => err instanceof CriuError && err.operation === "dump",
      );
      assert.ok(pidAlive(pid));
      await assertClientIntact(rig, since);
    } finally {
      await rig.dispose();
    }
  },
});

capTest({
  name: "a dump failing after the freeze resumes the server with its connections unlocked",
  needs: NEEDS,
  fn: async () => {
    const { rig, pid } = await startedRig();
    try {
      // CRIU asks the action script after writing the images; a failure there is a failed dump
      // of a frozen process whose connections are locked: CRIU must resume and unlock.
      const script = `${rig.dir}/fail-post-dump.sh`;
      await Deno.writeTextFile(
        script,
        '#!/bin/sh\n[ "$CRTOOLS_SCRIPT_ACTION" = post-dump ] && exit 1\nexit 0\n',
        { mode: 0o755 },
      );
      const since = Date.now();
      await assert.rejects(
        () =>
          criuDump({
            netns: rig.plan.source.netns,
            pid,
            imagesDir: `${rig.dir}/images`,
            actionScript: script,
          }),
        CriuError,
      );
      assert.ok(pidAlive(pid), "the server must still run");
      assert.deepEqual(await criuTables(rig.plan.source.netns), []);
      await assertClientIntact(rig, since);
    } finally {
      await rig.dispose();
    }
  },
});

capTest({
  name: "a restore failing on the target is rolled back onto the source, connections intact",
  needs: NEEDS,
  fn: async () => {
    const { rig, pid } = await startedRig();
    try {
      const { source, target } = rig.plan;
      const imagesDir = `${rig.dir}/images`;
      const since = Date.now();
      await criuDump({ netns: source.netns, pid, imagesDir });
      assert.equal((await criuTables(source.netns)).length, 1, "dump leaves the lock");
      await rewriteDumpAddresses(imagesDir, { from: source.ip, to: target.ip });
      // The target lacks the address the sockets were rewritten to: bind fails.
      await defaultShell.run(["ip", "-n", target.netns, "addr", "flush", "dev", target.iface]);
      await assert.rejects(
        () => criuRestore({ netns: target.netns, imagesDir }),
        (err: unknown) => err instanceof CriuError && err.operation === "restore",
      );
      const back = await restoreOnSource({ netns: source.netns, imagesDir });
      rig.track(back.pid);
      console.log(
        `rolled back ${Date.now() - since} ms after the dump began (restore ` +
          `${back.elapsedMs.toFixed(0)} ms after waiting ${
            back.pidWaitMs.toFixed(0)
          } ms for the pid)`,
      );
      assert.equal(back.pid, pid);
      await assertInNetns(back.pid, source.netns);
      assert.deepEqual(await criuTables(source.netns), [], "the source lock is lifted");
      assert.deepEqual(await criuTables(target.netns), []);
      await assertClientIntact(rig, since);
    } finally {
      await rig.dispose();
    }
  },
});

capTest({
  name: "dumped and restored servers are reaped at once: a restore never waits for the pid",
  needs: NEEDS,
  fn: async () => {
    const { rig, pid } = await startedRig();
    try {
      const { source, target } = rig.plan;
      // The server's parent is the waiter spawnDetached leaves, not PID 1.
      assert.notEqual(processStat(pid)?.ppid, 1);
      const there = `${rig.dir}/there`;
      await criuDump({ netns: source.netns, pid, imagesDir: there });
      // Gone, or a zombie its live parent is about to reap: never an orphan left to PID 1.
      const dumped = processStat(pid);
      assert.ok(dumped === undefined || dumped.ppid !== 1, JSON.stringify(dumped));
      await rewriteDumpAddresses(there, { from: source.ip, to: target.ip });
      const first = await criuRestore({ netns: target.netns, imagesDir: there });
      assert.equal(first.pidWasBusy, false);
      assert.equal(first.pidWaitMs, 0);
      // criu stays the parent of what it restored...
      assert.equal(processStat(first.pid)?.ppid, first.criuPid);
      await rig.flip("target");
      await releaseSourceLock({ netns: source.netns, imagesDir: there });

      // ...so the next dump's victim is reaped by it, and the way back needs no wait either.
      const back = `${rig.dir}/back`;
      await criuDump({ netns: target.netns, pid: first.pid, imagesDir: back });
      await rewriteDumpAddresses(back, { from: target.ip, to: source.ip });
      const second = await criuRestore({ netns: source.netns, imagesDir: back });
      rig.track(second.pid);
      assert.equal(second.pidWasBusy, false);
      await rig.flip("source");
      await releaseSourceLock({ netns: target.netns, imagesDir: back });
      // The first criu exited once its process was gone, with status 0 (it does not pass the
      // process's status on).
      assert.equal(pidAlive(first.criuPid), false);
      assert.equal(await Deno.readTextFile(`${there}/restore.exit`), "0\n");
      await assertInNetns(second.pid, source.netns);
      await assertClientIntact(rig, Date.now());
    } finally {
      await rig.dispose();
    }
  },
});

capTest({
  name: "held dump and restore: started ahead, let go in turn, connections intact",
  needs: NEEDS,
  fn: async () => {
    const { rig, pid } = await startedRig();
    try {
      const { source, target } = rig.plan;
      const imagesDir = `${rig.dir}/images`;
      const restoreDir = `${rig.dir}/target`;
      const restore = await holdCriuRestore({
        netns: target.netns,
        imagesDir: restoreDir,
        gateFile: `${rig.dir}/restore.gate`,
      });
      const dump = await holdCriuDump({
        netns: source.netns,
        pid,
        imagesDir,
        gateFile: `${rig.dir}/dump.gate`,
        scriptFile: `${rig.dir}/dump-gate.sh`,
      });
      // Held: the server still serves, and nothing was dumped.
      await new Promise((r) => setTimeout(r, 300));
      const since = Date.now();
      await rig.waitForAnswers(CONNS, 3, since, 5000);
      assert.equal([...Deno.readDirSync(imagesDir)].some((e) => e.name.startsWith("core-")), false);
      await dump.run();
      assert.equal(pidAlive(pid), false);
      for (const e of Deno.readDirSync(imagesDir)) {
        await Deno.link(`${imagesDir}/${e.name}`, `${restoreDir}/${e.name}`);
      }
      await rewriteDumpAddresses(restoreDir, { from: source.ip, to: target.ip });
      const restored = await restore.run();
      rig.track(restored.pid);
      assert.equal(restored.pid, pid);
      assert.equal(processStat(restored.pid)?.ppid, restored.criuPid);
      await rig.flip("target");
      await releaseSourceLock({ netns: source.netns, imagesDir });
      await assertInNetns(restored.pid, target.netns);
      await assertClientIntact(rig, since);
    } finally {
      await rig.dispose();
    }
  },
});

capTest({
  name: "held dump and restore cancelled: the server never stopped, no CRIU is left",
  needs: NEEDS,
  fn: async () => {
    const { rig, pid } = await startedRig();
    try {
      const { source, target } = rig.plan;
      const since = Date.now();
      const restore = await holdCriuRestore({
        netns: target.netns,
        imagesDir: `${rig.dir}/target`,
        gateFile: `${rig.dir}/restore.gate`,
      });
      const dump = await holdCriuDump({
        netns: source.netns,
        pid,
        imagesDir: `${rig.dir}/images`,
        gateFile: `${rig.dir}/dump.gate`,
        scriptFile: `${rig.dir}/dump-gate.sh`,
      });
      await new Promise((r) => setTimeout(r, 200));
      await dump.cancel();
      await restore.cancel();
      assert.ok(pidAlive(pid));
      assert.notEqual(processStat(pid)?.state, "T");
      assert.match(await Deno.readTextFile(`${rig.dir}/images/dump.log`), /Pre dump script failed/);
      // The held restore's launch ended without starting criu: its status is the gate's.
      assert.equal(await Deno.readTextFile(`${rig.dir}/target/restore.exit`), "1\n");
      assert.equal(
        await Deno.stat(`${rig.dir}/target/restore.log`).catch(() => undefined),
        undefined,
      );
      await assertClientIntact(rig, since);
    } finally {
      await rig.dispose();
    }
  },
});

// Pre-dumps need the kernel's soft-dirty memory tracking (CONFIG_MEM_SOFT_DIRTY).
const trackMemMissing = missing(NEEDS).length > 0 || !(await criuCanTrackMemory());
if (trackMemMissing) {
  console.log("SKIP pre-dump migration: CRIU reports no memory tracking (mem_dirty_track)");
}
Deno.test({
  name: "pre-dump, then an incremental dump, migrates with connections intact",
  ignore: trackMemMissing,
  fn: async () => {
    const { rig, pid } = await startedRig();
    try {
      const { source, target } = rig.plan;
      await criuPreDump({ netns: source.netns, pid, imagesDir: `${rig.dir}/pre` });
      const imagesDir = `${rig.dir}/final`;
      const since = Date.now();
      await criuDump({
        netns: source.netns,
        pid,
        imagesDir,
        trackMem: true,
        prevImagesDir: "../pre",
      });
      await rewriteDumpAddresses(imagesDir, { from: source.ip, to: target.ip });
      const restored = await criuRestore({ netns: target.netns, imagesDir });
      rig.track(restored.pid);
      await rig.flip("target");
      await releaseSourceLock({ netns: source.netns, imagesDir });
      await assertInNetns(restored.pid, target.netns);
      await assertClientIntact(rig, since);
    } finally {
      await rig.dispose();
    }
  },
});
