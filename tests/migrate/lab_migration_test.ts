/**
 * Whole-lab migrations on a real BMv2: lab up (topology, switch, controller, workloads), then
 * `migrateWorkload` there and back, with the client's own log as the judge.
 */
import assert from "node:assert/strict";
import { labDown, labUp } from "../../lib/runtime/session.ts";
import { migrateWorkload } from "../../lib/migrate/lab_migration.ts";
import { silentProgress } from "../../lib/progress.ts";
import { capTest } from "../_caps.ts";
import { testLab } from "../topology/_lab.ts";
import { clientAnswering } from "../../lib/workloads/client_ready.ts";
import { outageSpread, requestOutages } from "../../lib/bench/load.ts";
import { parseWorkloadLog } from "../../lib/workloads/client_log.ts";
import { readPlacements } from "../../lib/workloads/placements.ts";

/** A copy of a lab whose client opens `conns` connections, on its own switch ports. */
function withClients(conns: number, port: number, intervalMs?: number) {
  const interval = intervalMs === undefined ? "" : `, -i, "${intervalMs}"`;
  return (text: string) =>
    text
      .replace(/^ {2}s1: \{\}$/m, `  s1: { grpc_port: ${port}, thrift_port: ${port - 41000} }`)
      .replace(
        'command: [counter_client, -H, "{vip}", -p, "{port}"]',
        `command: [counter_client, -H, "{vip}", -p, "{port}", -c, "${conns}"${interval}]`,
      );
}

capTest({
  name: "process lab: 50 client connections survive a migration there and back on BMv2",
  needs: ["netns", "criu", "bmv2"],
  async fn() {
    const { lab, runRoot, text } = await testLab("process-migration", withClients(50, 50161));
    assert.match(text, /-c, "50"/);
    try {
      await labUp(lab, { progress: silentProgress });
      await new Promise((r) => setTimeout(r, 500));
      for (const to of ["h3", "h2"]) {
        const report = await migrateWorkload(lab, { workload: "server", to, settleMs: 1000 });
        assert.equal(report.outcome, "migrated", report.error ?? "");
        assert.equal(report.to, to);
        const d = report.downtime!;
        assert.equal(d.connections.length, 50, "every connection answered");
        assert.equal(d.anyBroken, false, `broken: ${d.brokenConnections.join(",")}`);
        assert.ok(d.countsContinuous, "each connection's counter continued");
        assert.ok(d.connections.every((c) => c.answers > 0));
      }
    } finally {
      await labDown(lab, { progress: silentProgress });
      await Deno.remove(runRoot, { recursive: true }).catch(() => {});
    }
  },
});

capTest({
  name:
    "process lab: 1,000 client connections survive a migration there and back, and no lock is left",
  needs: ["netns", "criu", "bmv2"],
  async fn() {
    // CRIU's own nftables lock aborted this dump (a netlink descriptor above FD_SETSIZE) and left
    // a table that silenced a quarter of the connections for good.
    const { lab, runRoot } = await testLab("process-migration", withClients(1000, 50163, 1000));
    try {
      await labUp(lab, { progress: silentProgress });
      // CRIU refuses to dump connections still waiting in the listen queue ("in-flight"): wait
      // until every one of them has been accepted and answered.
      await clientAnswering(lab, 1000);
      for (const to of ["h3", "h2"]) {
        const report = await migrateWorkload(lab, { workload: "server", to, settleMs: 3000 });
        assert.equal(report.outcome, "migrated", report.error ?? "");
        const d = report.downtime!;
        assert.equal(d.connections.length, 1000, "every connection answered");
        const events = d.connections.flatMap((c) => c.event ? [c.event] : []).slice(0, 3);
        assert.equal(
          d.anyBroken,
          false,
          `broken: ${d.brokenConnections.join(",")}; ${JSON.stringify(events)}`,
        );
        assert.ok(d.countsContinuous, "each connection's counter continued");
        const source = lab.hosts.find((h) => h.name === report.from)!;
        const tables = await new Deno.Command("ip", {
          args: ["netns", "exec", source.netns!, "nft", "list", "tables"],
        }).output();
        assert.equal(new TextDecoder().decode(tables.stdout).trim(), "", "no lock table left");
      }
    } finally {
      await labDown(lab, { progress: silentProgress });
      await Deno.remove(runRoot, { recursive: true }).catch(() => {});
    }
  },
});

capTest({
  name: "process lab: 100 connections; the refused segments are handed over, and the worst " +
    "connection's outage is at most 1.5x the median's",
  needs: ["netns", "criu", "bmv2"],
  async fn() {
    // Without the hand-over, every client with a request refused by the lock waited for its
    // retransmission timer; with BMv2's 64-packet queues, the burst of retransmissions after the
    // move was partly dropped and those clients backed off again. A request every 30 ms: each
    // connection has one waiting through most of the frozen window (with requests far apart, the
    // waits spread over the whole window whatever the migration does).
    const { lab, runRoot } = await testLab("process-migration", withClients(100, 50164, 30));
    try {
      await labUp(lab, { progress: silentProgress });
      await clientAnswering(lab, 100);
      const client = (await readPlacements(lab.runDir!)).find((p) => p.name === "client")!;
      for (const to of ["h3", "h2"]) {
        const report = await migrateWorkload(lab, { workload: "server", to, settleMs: 2000 });
        assert.equal(report.outcome, "migrated", report.error ?? "");
        const d = report.downtime!;
        const events = d.connections.flatMap((c) => c.event ? [c.event] : []).slice(0, 3);
        assert.equal(
          d.anyBroken,
          false,
          `broken: ${d.brokenConnections.join(",")}; ${JSON.stringify(events)}; ` +
            JSON.stringify(report.phases.map((p) => [p.phase, Math.round(p.ms), p.note])),
        );
        const cleanup = report.phases.find((p) => p.phase === "cleanup")?.note ?? "";
        // The tap ran, and of the copies it kept (a client retransmits while the server is
        // frozen) it sent the last of each: one or more.
        const [, sent, held] = /(\d+) of (\d+) held segment\(s\) replayed/.exec(cleanup) ?? [];
        assert.ok(Number(sent) > 0 && Number(sent) <= Number(held), `hand-over: ${cleanup}`);
        const replayed = Number(sent);
        const start = Date.parse(report.startedAt);
        const log = parseWorkloadLog(await Deno.readTextFile(client.logFile), client.logFile);
        const spread = outageSpread([
          ...requestOutages(log, start, start + report.wallMs).values(),
        ]);
        console.log(`  to ${to}: ${replayed} segments handed over; ${JSON.stringify(spread)}`);
        assert.ok(spread.worstOverMedian <= 1.5, JSON.stringify(spread));
      }
    } finally {
      await labDown(lab, { progress: silentProgress });
      await Deno.remove(runRoot, { recursive: true }).catch(() => {});
    }
  },
});

capTest({
  name: "container lab: a Podman container moves between pods and its clients stay connected",
  needs: ["netns", "criu", "podman", "bmv2"],
  async fn() {
    const { lab, runRoot } = await testLab("host-containers", withClients(5, 50162));
    try {
      await labUp(lab, { progress: silentProgress });
      await new Promise((r) => setTimeout(r, 500));
      const report = await migrateWorkload(lab, { workload: "server", to: "h3", settleMs: 1500 });
      assert.equal(report.outcome, "migrated", report.error ?? "");
      assert.equal(report.downtime?.connections.length, 5);
      assert.equal(report.downtime?.anyBroken, false);
      assert.ok(report.downtime?.countsContinuous);
      const cleanup = report.phases.find((p) => p.phase === "cleanup");
      assert.ok(cleanup?.ok, cleanup?.error ?? "");
      // The segment tap ran: whatever CRIU's lock refused went to the restored server.
      assert.match(cleanup?.note ?? "", /\d+ of \d+ held segment\(s\) replayed/);
    } finally {
      await labDown(lab, { progress: silentProgress });
      await Deno.remove(runRoot, { recursive: true }).catch(() => {});
    }
  },
});
