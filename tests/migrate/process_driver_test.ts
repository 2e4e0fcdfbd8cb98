import assert from "node:assert/strict";
import { capTest } from "../_caps.ts";
import { dumpArgv, nftLockCleanupArgv, preDumpArgv } from "../../lib/criu/commands.ts";
import { readDumpInfo } from "../../lib/criu/dump_info.ts";
import { assertInNetns } from "../../lib/criu/selfcheck.ts";
import { planProcessMigration, ProcessDriver } from "../../lib/migrate/process_driver.ts";
import { type MigrationResult, runMigration } from "../../lib/migrate/run.ts";
import { criuRunsUnder } from "../../lib/migrate/recovery_probes.ts";
import { RecordingProgress } from "../../lib/progress.ts";
import {
  defaultShell,
  findProcesses,
  inNetns,
  pidAlive,
  processStat,
  RecordingShell,
  type RunOptions,
  type RunResult,
} from "../../lib/shell.ts";
import { computeDowntime } from "../../lib/workloads/client_log.ts";
import {
  DUMP1,
  DUMP1_REWRITTEN_FILES,
  DUMP1_SOURCE_IP,
  DUMP1_TARGET_IP,
  dump1Images,
} from "../criu/_fixtures.ts";
import { assertClientIntact, CONNS, criuTables, NEEDS, startedRig } from "../criu/_rig.ts";

const line = (argv: string[]) => argv.join(" ");

const OPTIONS = {
  criu: "criu",
  sourceNetns: "p4t-src",
  targetNetns: "p4t-dst",
  pid: 714,
  fromIp: DUMP1_SOURCE_IP,
  toIp: DUMP1_TARGET_IP,
  checkpointDir: "/ck/",
};

Deno.test("planProcessMigration: dump in the source, restore the copy in the target", () => {
  const plan = planProcessMigration(OPTIONS);
  assert.equal(plan.imagesDir, "/ck/images");
  assert.equal(plan.targetDir, "/ck/target");
  assert.equal(
    line(dumpArgv({ criu: "criu", ...plan.dump(0) })),
    "nsenter --net=/run/netns/p4t-src -- criu dump -t 714 -D /ck/images -v4 -o dump.log " +
      "--tcp-established --network-lock skip",
  );
  // CRIU's own lock only when asked for: ours (lib/criu/port_lock.ts) holds for any number.
  assert.match(
    line(
      dumpArgv({
        criu: "criu",
        ...planProcessMigration({ ...OPTIONS, networkLock: "nftables" }).dump(0),
      }),
    ),
    /--network-lock nftables$/,
  );
  assert.deepEqual(plan.restoreTarget, {
    netns: "p4t-dst",
    imagesDir: "/ck/target",
    logFile: "restore.log",
    pidFile: "/ck/target/restored.pid",
  });
  // The rollback restores the untouched original, in the source.
  assert.deepEqual(plan.restoreSource, {
    netns: "p4t-src",
    imagesDir: "/ck/images",
    logFile: "restore-source.log",
    pidFile: "/ck/images/restored.pid",
  });
});

Deno.test("planProcessMigration: pre-dumps chain, and the final dump builds on the last one", () => {
  const plan = planProcessMigration({ ...OPTIONS, networkLock: "iptables" });
  assert.equal(
    line(preDumpArgv({ criu: "criu", ...plan.preDump(0) })),
    "nsenter --net=/run/netns/p4t-src -- criu pre-dump -t 714 -D /ck/pre-0 -v4 -o pre-dump.log " +
      "--track-mem",
  );
  assert.match(
    line(preDumpArgv({ criu: "criu", ...plan.preDump(1) })),
    /--prev-images-dir \.\.\/pre-0$/,
  );
  assert.match(
    line(dumpArgv({ criu: "criu", ...plan.dump(2) })),
    /--network-lock iptables --track-mem --prev-images-dir \.\.\/pre-1$/,
  );
});

/** RecordingShell whose `criu dump` leaves the dump1 fixture in its -D directory. */
class FixtureCriuShell extends RecordingShell {
  override async run(argv: readonly string[], options?: RunOptions): Promise<RunResult> {
    const result = await super.run(argv, options);
    if (argv.includes("dump")) {
      const dir = argv[argv.indexOf("-D") + 1];
      for (const name of dump1Images()) await Deno.copyFile(`${DUMP1}/${name}`, `${dir}/${name}`);
    }
    return result;
  }
}

Deno.test("ProcessDriver: dump, transfer, rewrite and cleanup keep the original untouched", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-pd-" });
  try {
    const shell = new FixtureCriuShell([{ match: /nft delete table/, result: { code: 0 } }]);
    // The fixture's dump was taken with CRIU's nftables lock.
    const driver = new ProcessDriver({
      ...OPTIONS,
      shell,
      checkpointDir: dir,
      networkLock: "nftables",
    });
    assert.equal(
      await driver.dump(),
      "pid 714, 2 connections, 51 pages written, frozen 8 ms by CRIU",
    );
    assert.equal(
      shell.lines()[0],
      `nsenter --net=/run/netns/p4t-src -- criu dump -t 714 -D ${dir}/images -v4 -o dump.log ` +
        "--tcp-established --network-lock nftables",
    );
    assert.equal(await driver.transfer(), `${dump1Images().length} files`);
    assert.equal(await driver.rewrite(), "3 sockets");
    const original = await Deno.readFile(`${dir}/images/files.img`);
    assert.deepEqual(original, await Deno.readFile(`${DUMP1}/files.img`));
    assert.deepEqual(
      await Deno.readFile(`${dir}/target/files.img`),
      await Deno.readFile(DUMP1_REWRITTEN_FILES),
    );
    // Other images are shared, not copied.
    const a = await Deno.stat(`${dir}/images/pstree.img`);
    const b = await Deno.stat(`${dir}/target/pstree.img`);
    assert.equal(a.ino, b.ino);

    const { runId } = await readDumpInfo(`${dir}/images`);
    assert.match(await driver.cleanupSource(), /^removed nft table inet CRIU-/);
    assert.equal(shell.lines()[1], line(nftLockCleanupArgv("p4t-src", runId!)));
    assert.equal(driver.location, "source");
    assert.equal(driver.pid, 714);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A child process listening on a loopback port, for the port lock to find. */
async function listeningChild(): Promise<{ child: Deno.ChildProcess; port: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "const l = Deno.listen({ hostname: '127.0.0.1', port: 0 }); " +
      "console.log(l.addr.port); await l.accept();",
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  return { child, port: Number(value!.trim()) };
}

Deno.test("ProcessDriver: by default the process's ports are locked by us, and unlocked when the dump fails", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-pd-" });
  const { child, port } = await listeningChild();
  try {
    const shell = new RecordingShell([
      { match: /criu dump/, result: { code: 134, stderr: "*** bit out of range ***" } },
      { match: /nft list tables/, result: { stdout: "table inet p4cf_lock\n" } },
    ]);
    const driver = new ProcessDriver({ ...OPTIONS, shell, checkpointDir: dir, pid: child.pid });
    await assert.rejects(driver.dump(), /criu dump failed|exit 134/);
    const lines = shell.lines();
    assert.match(
      lines[0],
      /^nsenter --net=\/run\/netns\/p4t-src -- sysctl -q -w net.ipv4.icmp_ratelimit=0 /,
    );
    assert.match(
      lines[1],
      new RegExp(
        `^nsenter --net=/run/netns/p4t-src -- nft .*tcp dport \\{ ${port} \\} reject`,
        "s",
      ),
    );
    assert.match(lines[2], /criu dump -t \d+ .*--network-lock skip$/);
    const unlock = "nsenter --net=/run/netns/p4t-src -- nft delete table inet p4cf_lock";
    assert.ok(lines.slice(3).includes(unlock), lines.join("\n"));
  } finally {
    child.kill();
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});

// --- The CRIU tier: real migrations through runMigration on the nft-stand-in rig. ---

function summary(r: MigrationResult): string {
  return r.phases.map((p) => `${p.phase} ${p.ms.toFixed(0)}${p.note ? ` (${p.note})` : ""}`)
    .join(", ") + `; frozen ${r.frozenMs.toFixed(0)} ms`;
}

capTest({
  name: "ProcessDriver migrates a server there and back; connections and counters survive",
  needs: NEEDS,
  fn: async () => {
    const { rig, pid } = await startedRig();
    try {
      const { source, target } = rig.plan;
      // The server's parent is its own waiter, not PID 1 (which reaps only every few seconds).
      assert.notEqual(processStat(pid)?.ppid, 1);
      const start = Date.now();
      const there = new ProcessDriver({
        sourceNetns: source.netns,
        targetNetns: target.netns,
        pid,
        fromIp: source.ip,
        toIp: target.ip,
        checkpointDir: `${rig.dir}/there`,
        resumeAfterSwitch: true,
        stopBeforeDump: true,
      });
      const first = await runMigration(there, {
        progress: new RecordingProgress(),
        switchUpdate: () => rig.flip("target"),
      });
      console.log(`there: ${summary(first)}`);
      assert.equal(first.outcome, "migrated", first.error ?? "");
      // CRIU was started ahead and held (lib/criu/run_gate.ts); this migration let it go.
      const prepared = first.phases.find((p) => p.phase === "prepare")?.note ?? "";
      assert.match(prepared, /criu dump and restore started and held/);
      assert.equal(there.location, "target");
      assert.equal(there.pid, pid, "CRIU restores the dumped pid");
      const restorePhase = first.phases.find((p) => p.phase === "restore");
      assert.match(restorePhase?.note ?? "", /stopped until the switch is updated/);
      // runMigration resumes it right after the switch update; cleanup then only removes the lock.
      assert.match(first.phases.at(-1)?.note ?? "", /^removed nft table/);
      assert.notEqual(processStat(there.pid)?.state, "T", "running again");
      await assertInNetns(there.pid, target.netns);
      // The dumped process's waiting parent reaps it at once; on a loaded machine the restore may
      // still find its pid a zombie for a few ms, never for long.
      assert.ok((there.restored?.pidWaitMs ?? 0) < 1000, "the dumped pid was reaped promptly");
      // criu stays the restored process's parent, to reap it when the next dump kills it.
      const firstCriu = there.restored!.criuPid;
      assert.equal(processStat(there.pid)?.ppid, firstCriu);
      assert.deepEqual(await criuTables(source.netns), [], "source lock released");
      await rig.waitForAnswers(CONNS, 10, Date.now(), 8000);

      const backStart = Date.now();
      const back = new ProcessDriver({
        sourceNetns: target.netns,
        targetNetns: source.netns,
        pid: there.pid,
        fromIp: target.ip,
        toIp: source.ip,
        checkpointDir: `${rig.dir}/back`,
        // Dumped stopped, and nobody resumes after the switch: the restore must continue it.
        stopBeforeDump: true,
      });
      const second = await runMigration(back, {
        progress: new RecordingProgress(),
        switchUpdate: () => rig.flip("source"),
      });
      console.log(`back: ${summary(second)}`);
      assert.equal(second.outcome, "migrated", second.error ?? "");
      assert.equal(back.location, "target");
      assert.notEqual(processStat(back.pid)?.state, "T", "restored running");
      await assertInNetns(back.pid, source.netns);
      assert.equal(back.restored?.pidWasBusy, false, "criu reaped the dumped process at once");
      assert.equal(pidAlive(firstCriu), false, "the first criu exits once its process is gone");
      assert.deepEqual(await criuTables(target.netns), []);
      assert.deepEqual(await criuTables(source.netns), []);

      await rig.waitForAnswers(CONNS, 10, Date.now(), 8000);
      await rig.stopClient();
      const records = await rig.clientRecords();
      const report = computeDowntime(records, { migrationStartMs: start });
      const backReport = computeDowntime(records, { migrationStartMs: backStart });
      console.log(
        `client downtime there ${report.maxDowntimeMs.toFixed(0)} ms, back ` +
          `${backReport.maxDowntimeMs.toFixed(0)} ms`,
      );
      assert.equal(report.anyBroken, false);
      assert.equal(report.countsContinuous, true);
      assert.equal(report.connections.length, CONNS);
    } finally {
      await rig.dispose();
    }
  },
});

capTest({
  name: "ProcessDriver: a restore failing on the target rolls back without touching the switch",
  needs: NEEDS,
  fn: async () => {
    const { rig, pid } = await startedRig();
    try {
      const { source, target } = rig.plan;
      // The target lacks the address the sockets are rewritten to: the restore cannot bind.
      await defaultShell.run(["ip", "-n", target.netns, "addr", "flush", "dev", target.iface]);
      const driver = new ProcessDriver({
        sourceNetns: source.netns,
        targetNetns: target.netns,
        pid,
        fromIp: source.ip,
        toIp: target.ip,
        checkpointDir: `${rig.dir}/ck`,
        stopBeforeDump: true,
      });
      const since = Date.now();
      let switched = false;
      const result = await runMigration(driver, {
        progress: new RecordingProgress(),
        switchUpdate: () => {
          switched = true;
          return Promise.resolve();
        },
      });
      console.log(summary(result));
      assert.equal(result.outcome, "rolled-back", result.error ?? "");
      assert.match(result.error ?? "", /criu restore failed[\s\S]*Cannot assign requested address/);
      assert.equal(switched, false);
      assert.equal(driver.location, "source");
      assert.equal(driver.pid, pid);
      assert.notEqual(processStat(driver.pid)?.state, "T", "rolled back running, not stopped");
      await assertInNetns(driver.pid, source.netns);
      assert.deepEqual(await criuTables(source.netns), [], "the rollback lifts the lock");
      // The original dump is untouched: files.img still has the source address.
      const info = await readDumpInfo(driver.plan.imagesDir);
      assert.ok(info.sockets.every((s) => s.srcAddr === source.ip));

      await assertClientIntact(rig, since, Date.now());
    } finally {
      await rig.dispose();
    }
  },
});

capTest({
  name: "ProcessDriver: a dump failing after prepare() leaves no held CRIU, nft or lock behind",
  needs: NEEDS,
  fn: async () => {
    const { rig, pid } = await startedRig();
    try {
      const { source, target } = rig.plan;
      const checkpointDir = `${rig.dir}/ck`;
      const driver = new ProcessDriver({
        sourceNetns: source.netns,
        targetNetns: target.netns,
        pid,
        fromIp: source.ip,
        toIp: target.ip,
        checkpointDir,
        stopBeforeDump: true,
      });
      assert.match(await driver.prepare(), /started and held/);
      // The process goes away between prepare() and dump(): the held CRIU cannot seize it.
      Deno.kill(pid, "SIGKILL");
      while (pidAlive(pid)) await new Promise((r) => setTimeout(r, 5));
      await assert.rejects(driver.dump(), /criu dump failed/);
      assert.deepEqual(criuRunsUnder(checkpointDir), []);
      assert.equal(await Deno.readTextFile(`${checkpointDir}/target/restore.exit`), "1\n");
      // The held restore's launch waits on restore.gate; the held nft reads its script on stdin.
      const held = findProcesses((a) =>
        a.some((x) => x.includes(`${checkpointDir}/restore.gate`)) ||
        (a.includes(`--net=/run/netns/${source.netns}`) && a.includes("nft") && a.at(-1) === "-")
      );
      assert.deepEqual(held, [], "nothing held is left running");
      assert.deepEqual(await criuTables(source.netns), []);
      const tables = await defaultShell.run(inNetns(source.netns, ["nft", "list", "tables"]));
      assert.doesNotMatch(tables.stdout, /p4cf_lock/);
    } finally {
      await rig.dispose();
    }
  },
});
