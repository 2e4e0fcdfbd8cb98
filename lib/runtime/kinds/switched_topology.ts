/**
 * The part every kind of lab shares: its hosts' namespaces, the links and the BMv2 switches
 * (lib/topology/), with the switches started unless only the topology is wanted.
 *
 * @module
 */
import { bmv2Argv } from "../../bmv2/switch.ts";
import type { Lab } from "../../lab/types.ts";
import { up, type UpResult } from "../../topology/apply.ts";
import { switchStarter } from "../../topology/switch_start.ts";
import type { KindContext, KindUpOptions } from "../kind.ts";

export function topologyUp(lab: Lab, ctx: KindContext, options: KindUpOptions): Promise<UpResult> {
  return up(lab, {
    shell: ctx.shell,
    progress: ctx.progress,
    topologyOnly: options.topologyOnly,
    startSwitch: options.topologyOnly
      ? undefined
      : switchStarter((s) => bmv2Argv(s.switch, { runDir: s.runDir, pcap: options.pcap })),
  });
}
