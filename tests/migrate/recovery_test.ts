import assert from "node:assert/strict";
import { MigrationJournal } from "../../lib/migrate/journal.ts";
import { planRecovery, recoverMigration } from "../../lib/migrate/recovery.ts";
import {
  archiveComplete,
  criuNftTables,
  dumpComplete,
  parseCriuArgv,
  removeCriuLocks,
} from "../../lib/migrate/recovery_probes.ts";
import { RecordingProgress } from "../../lib/progress.ts";
import { RecordingShell } from "../../lib/shell.ts";

Deno.test("a recovery finishes what runs on the target and lets the source run on", () => {
  const none = { checkpointComplete: false, rollback: false };
  assert.deepEqual(planRecovery({ ...none, running: "target" }), { action: "finish-on-target" });
  assert.deepEqual(planRecovery({ ...none, running: "source" }), { action: "resume-source" });
  // What runs wins over what the journal says was under way.
  assert.deepEqual(
    planRecovery({ running: "target", checkpointComplete: true, rollback: true }),
    { action: "finish-on-target" },
  );
  assert.deepEqual(
    planRecovery({ running: "source", checkpointComplete: true, rollback: false }),
    { action: "resume-source" },
  );
});

Deno.test("with nothing running a recovery restores from the checkpoint, where the journal says", () => {
  assert.deepEqual(planRecovery({ checkpointComplete: true, rollback: false }), {
    action: "restore-on-target",
  });
  assert.deepEqual(planRecovery({ checkpointComplete: true, rollback: true }), {
    action: "restore-on-source",
  });
  assert.deepEqual(
    planRecovery({ checkpointComplete: false, checkpointInPlace: true, rollback: false }),
    { action: "restore-in-place" },
  );
  const lost = planRecovery({ checkpointComplete: false, rollback: false });
  assert.equal(lost.action, "lost");
});

Deno.test("CRIU runs are recognised by their argv, with their images directory and log", () => {
  assert.deepEqual(
    parseCriuArgv(7, [
      "/usr/local/sbin/criu",
      "restore",
      "-D",
      "/r/migrations/x/target",
      "-v4",
      "-o",
      "restore.log",
      "--pidfile",
      "/r/migrations/x/target/restored.pid",
    ]),
    { pid: 7, operation: "restore", imagesDir: "/r/migrations/x/target", logFile: "restore.log" },
  );
  assert.equal(parseCriuArgv(8, ["criu-ns", "dump", "-D", "/x"]), undefined);
  assert.equal(parseCriuArgv(9, ["criu", "swrk", "3"]), undefined, "runc's CRIU names no dir");
});

Deno.test("CRIU's lock tables are told apart from others in nft's listing", () => {
  const listing =
    "table inet CRIU-4d1e\ntable ip filter\ntable inet p4cf_t1\n  table inet CRIU-x\n";
  assert.deepEqual(criuNftTables(listing), ["CRIU-4d1e", "CRIU-x"]);
});

Deno.test("removing a dump's locks deletes CRIU's nft tables and iptables rules, and ours", async () => {
  const shell = new RecordingShell([
    { match: /nft list tables/, result: { stdout: "table inet CRIU-ab12\ntable inet other\n" } },
    {
      match: /iptables -w -S$/,
      result: {
        stdout: "-P INPUT ACCEPT\n" +
          "-A INPUT -s 10.0.1.1/32 -d 10.0.2.2/32 -p tcp -m tcp --sport 5 --dport 6 " +
          "-m mark ! --mark 0xc114 -j DROP\n",
      },
    },
  ]);
  const removed = await removeCriuLocks(shell, "t-h2");
  assert.equal(removed.length, 3, removed.join("\n"));
  const lines = shell.lines();
  assert.ok(lines.includes("nsenter --net=/run/netns/t-h2 -- nft delete table inet CRIU-ab12"));
  // Our own port lock (a process dump with --network-lock skip) goes too.
  assert.ok(lines.includes("nsenter --net=/run/netns/t-h2 -- nft delete table inet p4cf_lock"));
  assert.ok(!lines.some((l) => l.includes("delete table inet other")), "other tables stay");
  assert.ok(lines.some((l) => / iptables -w -D INPUT .*--mark 0xc114 -j DROP$/.test(l)));
});

/** An uncompressed tar of `files` (name -> content), as Podman exports a checkpoint. */
async function tarOf(files: Record<string, string>): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "p4t-tar-" });
  try {
    for (const [name, content] of Object.entries(files)) {
      await Deno.mkdir(`${dir}/${name}`.replace(/\/[^/]+$/, ""), { recursive: true });
      await Deno.writeTextFile(`${dir}/${name}`, content);
    }
    const out = await new Deno.Command("tar", {
      args: ["-cf", "-", "-C", dir, ...Object.keys(files)],
      stdout: "piped",
    }).output();
    assert.ok(out.success);
    return out.stdout;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a checkpoint export counts only when it is whole and holds CRIU's images", async () => {
  const whole = await tarOf({
    "config.dump": "{}",
    "checkpoint/inventory.img": "i".repeat(700),
    "checkpoint/pstree.img": "p",
    "checkpoint/files.img": "f",
  });
  assert.equal(archiveComplete(whole), true);
  assert.equal(archiveComplete(whole.subarray(0, 1536)), false, "cut inside the archive");
  assert.equal(archiveComplete(new Uint8Array(0)), false, "the empty file a dead Podman left");
  const partial = await tarOf({ "config.dump": "{}", "checkpoint/inventory.img": "i" });
  assert.equal(archiveComplete(partial), false, "no process tree or files image");
});

Deno.test("a dump counts as complete only when CRIU logged its success", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-dump-" });
  try {
    await Deno.writeTextFile(`${dir}/dump.log`, "(00.01) Dumping pages\n");
    await Deno.writeTextFile(`${dir}/inventory.img`, "");
    assert.equal(await dumpComplete(dir), false);
    await Deno.writeTextFile(`${dir}/dump.log`, "(00.10) Dumping finished successfully\n", {
      append: true,
    });
    assert.equal(await dumpComplete(dir), true);
    await Deno.remove(`${dir}/inventory.img`);
    assert.equal(await dumpComplete(dir), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a process that runs nowhere and left no checkpoint is reported lost, untouched", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "p4t-recovery-" });
  try {
    const journal = await MigrationJournal.create(runDir, {
      id: "x",
      lab: "p4t-lab",
      workload: "server",
      kind: "process",
      from: { name: "h2", ip: "10.0.2.2", netns: "p4t-no-such-ns-h2" },
      to: { name: "h3", ip: "10.0.3.3", netns: "p4t-no-such-ns-h3" },
      checkpointDir: `${runDir}/migrations/x`,
      // No process has this pid (above pid_max).
      source: { pid: 99_999_999 },
      preDumpRounds: 0,
    });
    const shell = new RecordingShell();
    const switched: string[] = [];
    const result = await recoverMigration(journal, {
      shell,
      progress: new RecordingProgress(),
      pointSwitch: (host) => {
        switched.push(host);
        return Promise.resolve("moved");
      },
      runDir,
    });
    assert.equal(result.outcome, "lost");
    assert.equal(result.host, undefined);
    assert.deepEqual(shell.calls, [], "nothing was run");
    assert.deepEqual(switched, [], "the switch was left alone");
  } finally {
    await Deno.remove(runDir, { recursive: true });
  }
});
