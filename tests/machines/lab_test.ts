/**
 * Labs with machines on a real BMv2: hosts on two simulated machines reach the switch through
 * VXLAN tunnels over a 1 Gbit/s underlay, and the server moves between them with every byte of
 * its checkpoint crossing the underlay: stop-and-copy there and back with 50 connections, then
 * post-copy (`--lazy`). `lab down` leaves nothing.
 */
import assert from "node:assert/strict";
import { migrateWorkload } from "../../lib/migrate/lab_migration.ts";
import { readUnderlayStatus } from "../../lib/machines/apply.ts";
import { silentProgress } from "../../lib/progress.ts";
import { labUp } from "../../lib/runtime/session.ts";
import { capTest } from "../_caps.ts";
import { output } from "../topology/_lab.ts";
import { withMachinesLab } from "./_rig.ts";

capTest({
  name: "machines lab: 50 connections survive stop-and-copy there and back, and post-copy",
  needs: ["netns", "criu", "bmv2"],
  fn: () =>
    withMachinesLab({ conns: 50 }, async ({ lab }) => {
      const id = lab.id!;
      await labUp(lab, { progress: silentProgress });
      // The hosts of m2 and m3 sit behind tunnels; the underlay is shaped as the file says.
      const port = await output("ip", ["-d", "link", "show", "dev", `${id}-s1-eth2`]);
      assert.match(port, /vxlan id \d+ remote 172\.30\.\d+\.2 local 172\.30\.\d+\.1/);
      assert.match(await output("tc", ["qdisc", "show", "dev", `${id}-m2-ul`]), /tbf .*rate 1Gbit/);
      const status = await readUnderlayStatus(lab.runDir!);
      assert.equal(status.find((s) => s.machine === "m2")?.rate, "1gbit");
      assert.equal(typeof status.find((s) => s.machine === "m2")?.delayApplied, "boolean");
      await new Promise((r) => setTimeout(r, 500));

      for (const [to, lazy] of [["h3", false], ["h2", false], ["h3", true]] as const) {
        const report = await migrateWorkload(lab, { workload: "server", to, lazy, settleMs: 1000 });
        const what = `${lazy ? "post-copy" : "stop-and-copy"} to ${to}`;
        assert.equal(report.outcome, "migrated", `${what}: ${report.error ?? ""}`);
        assert.equal(report.machines?.mode, lazy ? "lazy" : "stop-and-copy");
        assert.equal(report.machines?.to, to === "h3" ? "m3" : "m2");
        const d = report.downtime!;
        assert.equal(d.connections.length, 50, `${what}: every connection answered`);
        assert.equal(d.anyBroken, false, `${what}: broken ${d.brokenConnections.join(",")}`);
        assert.ok(d.countsContinuous, `${what}: each connection's counter continued`);
        // Nothing shared on disk: the target's copy came over the underlay into its own directory.
        const transfer = report.phases.find((p) => p.phase === "transfer");
        assert.match(transfer?.note ?? "", /\d+ files/);
        if (lazy) {
          const pc = report.machines!.postCopy!;
          assert.ok(pc.ok, pc.error ?? "");
          assert.ok(pc.pagesTransferred > 0 && pc.pagesTransferred === pc.pagesTotal);
          assert.ok(pc.allPagesMs > 0);
        }
      }
    }),
});

capTest({
  name: "machines lab: two hosts of one simulated machine swap the server, both modes",
  needs: ["netns", "criu", "bmv2"],
  fn: () =>
    withMachinesLab({ edit: (t) => t.replace("machine: m3", "machine: m2") }, async ({ lab }) => {
      await labUp(lab, { progress: silentProgress });
      await new Promise((r) => setTimeout(r, 300));
      for (const [to, lazy] of [["h3", false], ["h2", true]] as const) {
        const report = await migrateWorkload(lab, { workload: "server", to, lazy, settleMs: 800 });
        assert.equal(report.outcome, "migrated", report.error ?? "");
        assert.deepEqual([report.machines?.from, report.machines?.to], ["m2", "m2"]);
        assert.equal(report.downtime?.anyBroken, false);
        assert.ok(report.downtime?.countsContinuous);
      }
    }),
});
