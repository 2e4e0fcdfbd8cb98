/**
 * Post-copy's failure cases between simulated machines: a source machine that goes silent while
 * the target still pulls pages ends in a clear error (and the half-arrived server stopped), not a
 * hang; and `lab down` after `migrate` is killed with SIGKILL mid-way removes the tunnels, the
 * underlay, every machine's processes and directories, and puts back what it changed.
 */
import assert from "node:assert/strict";
import { migrateWorkload } from "../../lib/migrate/lab_migration.ts";
import { silentProgress } from "../../lib/progress.ts";
import { labUp } from "../../lib/runtime/session.ts";
import { readPlacements } from "../../lib/workloads/placements.ts";
import { pidAlive } from "../../lib/shell.ts";
import { capTest } from "../_caps.ts";
import { sh } from "../topology/_lab.ts";
import { withMachinesLab } from "./_rig.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The first file named `name` under a machine's migrations (once the migration made it). */
async function waitForMigrationFile(
  runDir: string,
  machine: string,
  name: string,
  timeoutMs = 60_000,
): Promise<string> {
  const root = `${runDir}/machines/${machine}/migrations`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const runs = await Array.fromAsync(Deno.readDir(root)).catch(() => [] as Deno.DirEntry[]);
    for (const m of runs) {
      for (const rel of [name, `target/images/${name}`]) {
        const path = `${root}/${m.name}/${rel}`;
        if (await Deno.stat(path).then(() => true, () => false)) return path;
      }
    }
    await sleep(5);
  }
  throw new Error(`no ${name} under ${root} in ${timeoutMs} ms`);
}

capTest({
  name: "post-copy: a source machine gone silent ends in a clear error, not a hang",
  needs: ["netns", "criu", "bmv2"],
  fn: () =>
    withMachinesLab({ ballastMb: 256 }, async ({ lab }) => {
      await labUp(lab, { progress: silentProgress });
      const migration = migrateWorkload(lab, {
        workload: "server",
        to: "h3",
        lazy: true,
        settleMs: 200,
        silentWaitMs: 200,
        postCopyStallMs: 2000,
      });
      // Once the server runs on m3 and pulls its memory, m2's underlay goes dark.
      await waitForMigrationFile(lab.runDir!, "m3", "restored.pid");
      await sh("ip", "link", "set", "dev", `${lab.id}-m2-ul`, "down");
      const t0 = Date.now();
      const report = await migration;
      assert.ok(Date.now() - t0 < 30_000, "ended by the stall watchdog, not a hang");
      const pc = report.machines?.postCopy;
      assert.equal(pc?.ok, false);
      assert.match(report.error ?? "", /post-copy failed after \d+ of \d+ pages: no page arrived/);
      assert.match(report.error ?? "", /server on m3 was stopped, as its memory is incomplete/);
      assert.ok(pc!.pagesTransferred < pc!.pagesTotal, "the source went before the last page");
      const server = (await readPlacements(lab.runDir!)).find((p) => p.name === "server");
      assert.ok(server?.pid && !pidAlive(server.pid), "the half-arrived server does not run on");
    }),
});

capTest({
  name: "lab down after migrate --lazy is killed mid-way leaves no tunnel, underlay or machine",
  needs: ["netns", "criu", "bmv2"],
  async fn() {
    const pipeMax = await Deno.readTextFile("/proc/sys/fs/pipe-max-size");
    await withMachinesLab({ ballastMb: 256 }, async ({ lab, runRoot }) => {
      await labUp(lab, { progress: silentProgress });
      const main = new URL("../../main.ts", import.meta.url).pathname;
      const args = ["run", "-A", main, "migrate", lab.file, "server", "--to", "h3", "--lazy"];
      const child = new Deno.Command(Deno.execPath(), {
        args: [...args, "--run-root", runRoot],
        stdout: "null",
        stderr: "null",
      }).spawn();
      // Mid post-copy: the lazy-pages daemon on m3 pulls memory from the dump on m2.
      await waitForMigrationFile(lab.runDir!, "m3", "restored.pid");
      child.kill("SIGKILL");
      await child.status;
    });
    assert.equal(
      await Deno.readTextFile("/proc/sys/fs/pipe-max-size"),
      pipeMax,
      "a limit the killed migration raised is back",
    );
  },
});
