/**
 * The runtime of a lab with `machines`: the local runtime's hosts, switches and workloads, with
 * the hosts of machines other than the switches' on simulated machines (lib/machines/). `up`
 * builds the topology without its switches, then the underlay and the machines, replaces the
 * remote hosts' veths by tunnels, and only then starts the switches on their ports; `down`
 * removes all of it (recorded in the same state file) and every machine's directory.
 *
 * @module
 */
import type { Capability } from "../../capabilities.ts";
import { labRunDir, runDirOf } from "../../lab/paths.ts";
import { checkUnderlayFree, machinesUp } from "../../machines/apply.ts";
import { startServersInPidNamespaces } from "../../machines/pid_namespace.ts";
import { restorePipeSize } from "../../machines/pipe_size.ts";
import { bmv2Argv } from "../../bmv2/switch.ts";
import { up } from "../../topology/apply.ts";
import { switchStarter } from "../../topology/switch_start.ts";
import type { Progress } from "../../progress.ts";
import type { RuntimeKind } from "../kind.ts";
import { localKind } from "./local.ts";

/** Options `lab down` passes through (its own, beyond the kind's). */
interface MachinesDownOptions {
  keepCheckpoints?: boolean;
}

export const machinesKind: RuntimeKind = {
  name: "machines",

  requires(lab, options): Capability[] {
    return localKind.requires(lab, options);
  },

  async up(lab, ctx, options) {
    // Before anything exists: an underlay subnet this machine already routes is refused.
    await checkUnderlayFree(ctx.shell, lab);
    // The first pass leaves the switches out on purpose: say when they come, not "--topology-only".
    const progress: Progress = options.topologyOnly ? ctx.progress : {
      ...ctx.progress,
      info: (m) =>
        ctx.progress.info(m.replace(/: left out \(--topology-only\)$/, ": after the tunnels")),
    };
    // The local kind builds the workloads, then the hosts and their veths only.
    const hosts = await localKind.up(lab, { ...ctx, progress }, {
      ...options,
      topologyOnly: true,
    });
    try {
      await machinesUp(lab, ctx);
      if (options.topologyOnly) return hosts;
      // The switches bind the tunnels, which exist now: `up` starts the steps it left out.
      const switches = await up(lab, {
        shell: ctx.shell,
        progress: ctx.progress,
        startSwitch: switchStarter((s) =>
          bmv2Argv(s.switch, { runDir: s.runDir, pcap: options.pcap })
        ),
      });
      return {
        ...hosts,
        alreadyUp: hosts.alreadyUp && switches.steps.length === 0,
        steps: [...hosts.steps.filter((s) => !s.skipped), ...switches.steps],
        skipped: switches.skipped,
        totalMs: hosts.totalMs + switches.totalMs,
      };
    } catch (err) {
      // A lab that was up before stays for `down` to judge; one this `up` began goes.
      if (hosts.alreadyUp) throw err;
      ctx.progress.warn(`bringing up the machines of lab ${lab.name} failed; removing the lab`);
      await machinesKind.down(lab, { shell: ctx.shell, progress: ctx.progress }).catch((e) =>
        ctx.progress.warn(`cleanup failed too: ${(e as Error).message}`)
      );
      throw err;
    }
  },

  async startWorkloads(lab, ctx) {
    // Servers first, each in its own pid namespace (lib/machines/pid_namespace.ts); the local
    // runtime then starts the rest and keeps what runs.
    await startServersInPidNamespaces(lab, ctx);
    return await localKind.startWorkloads(lab, ctx);
  },

  async down(lab, options) {
    const runDir = typeof lab === "string" ? labRunDir(lab) : runDirOf(lab);
    const result = await localKind.down(lab, options);
    // A post-copy migration killed while it had raised fs.pipe-max-size (machines/pipe_size.ts).
    await restorePipeSize(runDir).catch(() => {});
    // The machines' directories hold their checkpoints (servers' memory): kept only when asked.
    if (!(options as MachinesDownOptions).keepCheckpoints) {
      await Deno.remove(`${runDir}/machines`, { recursive: true }).catch(() => {});
    }
    return result;
  },

  netnsOf(lab, host) {
    return localKind.netnsOf(lab, host);
  },
};
