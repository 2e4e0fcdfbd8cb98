/**
 * The local runtime: hosts are network namespaces or Podman pods on this machine, switches BMv2
 * processes or containers, workloads processes (CRIU) or containers (Podman).
 *
 * @module
 */
import type { Capability } from "../../capabilities.ts";
import { runDirOf } from "../../lab/paths.ts";
import { netnsPath, pidAlive } from "../../shell.ts";
import { buildHostImage } from "../../topology/host_image.ts";
import { readState } from "../../topology/state.ts";
import { down } from "../../topology/teardown.ts";
import { buildWorkloads } from "../../workloads/build.ts";
import { readPlacements, writePlacements } from "../../workloads/placements.ts";
import { planWorkloadStart, startWorkload, type WorkloadPlacement } from "../../workloads/start.ts";
import { labRunDir } from "../../lab/paths.ts";
import type { RuntimeKind } from "../kind.ts";
import { settleLabPodmanCommands } from "../orphan_commands.ts";
import { topologyUp } from "./switched_topology.ts";

function placementAlive(p: WorkloadPlacement): boolean {
  return p.kind === "process" ? p.pid !== undefined && pidAlive(p.pid) : true;
}

export const localKind: RuntimeKind = {
  name: "local",

  requires(lab): Capability[] {
    const podman = lab.hosts.some((h) => h.kind === "pod") ||
      lab.switches.some((s) => s.kind === "bmv2-container");
    return podman ? ["podman"] : [];
  },

  async up(lab, ctx, options) {
    const paths = await buildWorkloads({ shell: ctx.shell });
    if (!options.topologyOnly) {
      for (const w of lab.workloads) {
        const plan = planWorkloadStart(lab, w, paths, runDirOf(lab));
        if (plan.image) await buildHostImage(ctx.shell, plan.image, ctx.progress);
      }
    }
    return await topologyUp(lab, ctx, options);
  },

  async startWorkloads(lab, ctx) {
    const runDir = runDirOf(lab);
    const paths = await buildWorkloads({ shell: ctx.shell });
    const placements = await readPlacements(runDir);
    // Servers first, so clients find them; each starts only if not already running.
    const plans = lab.workloads.map((w) => planWorkloadStart(lab, w, paths, runDir)).sort((a, b) =>
      a.workload.role === b.workload.role ? 0 : a.workload.role === "server" ? -1 : 1
    );
    for (const plan of plans) {
      const current = placements.find((p) => p.name === plan.workload.name);
      if (current && placementAlive(current)) continue;
      const done = ctx.progress.step(`workload ${plan.workload.name} on ${plan.host.name}`);
      await ctx.record([
        plan.workload.kind === "process"
          ? {
            kind: "process",
            name: plan.workload.name,
            pidFile: plan.pidFile!,
            comm: plan.argv[0].split("/").pop()!.slice(0, 15),
          }
          : { kind: "container", name: plan.argv[plan.argv.indexOf("--name") + 1] },
      ]);
      const placement = await startWorkload(ctx.shell, plan);
      const others = placements.filter((p) => p.name !== placement.name);
      placements.splice(0, placements.length, ...others, placement);
      await writePlacements(runDir, placements);
      done(placement.pid ? `pid ${placement.pid}` : placement.container);
    }
    return placements;
  },

  async down(lab, options) {
    const runDir = typeof lab === "string" ? labRunDir(lab) : runDirOf(lab);
    const id = typeof lab === "string"
      ? (await readState(runDir).catch(() => undefined))?.id
      : lab.id;
    // Podman commands a killed migration left running go first (lib/runtime/orphan_commands.ts).
    await settleLabPodmanCommands(runDir, id, options);
    return await down(lab, options);
  },

  netnsOf(lab, host) {
    const h = lab.hosts.find((x) => x.name === host);
    return Promise.resolve(h ? netnsPath(h.netns ?? h.name) : undefined);
  },
};
