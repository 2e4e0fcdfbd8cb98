/**
 * Test labs with machines: a copy of lab/process-machines.yaml under a unique name and id, on
 * its own switch ports, with `conns` client connections and a server holding `ballastMb` MB.
 */
import assert from "node:assert/strict";
import type { Lab } from "../../lib/lab/types.ts";
import { silentProgress } from "../../lib/progress.ts";
import { labDown } from "../../lib/runtime/session.ts";
import { leftovers, output, type TestLab, testLab, uniqueSwitchPorts } from "../topology/_lab.ts";

export interface MachinesLabOptions {
  conns?: number;
  ballastMb?: number;
  /** A further change to the lab's text. */
  edit?: (text: string) => string;
}

export async function machinesTestLab(options: MachinesLabOptions = {}): Promise<TestLab> {
  return await testLab(
    "process-machines",
    (text) =>
      (options.edit ?? ((t) => t))(uniqueSwitchPorts(text))
        .replace(
          'command: [counter_server, "{port}"]',
          `command: [counter_server, "{port}", 0.0.0.0, "${options.ballastMb ?? 0}"]`,
        )
        .replace(
          'command: [counter_client, -H, "{vip}", -p, "{port}"]',
          `command: [counter_client, -H, "{vip}", -p, "{port}", -c, "${options.conns ?? 1}"]`,
        ),
  );
}

/**
 * Everything of a lab with machines still on this machine: `leftovers` (namespaces, links,
 * switches), its nftables table, processes whose command line names its run directory (page
 * servers, lazy-pages daemons, receivers, dumps), and its machines' directories.
 */
export async function machineLeftovers(lab: Lab): Promise<string[]> {
  const found = await leftovers(lab, false);
  if ((await output("nft", ["list", "tables"])).includes(`p4cf_${lab.id}`)) {
    found.push(`nft table p4cf_${lab.id}`);
  }
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name) || Number(entry.name) === Deno.pid) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).replaceAll("\0", " ");
      if (cmdline.includes(lab.runDir!)) found.push(`process ${entry.name}: ${cmdline}`);
    } catch {
      // Exited meanwhile.
    }
  }
  if (await Deno.stat(`${lab.runDir}/machines`).then(() => true, () => false)) {
    found.push(`directory ${lab.runDir}/machines`);
  }
  return found;
}

/**
 * Runs `fn` with a machines test lab, then takes the lab down and asserts it left nothing
 * (`fn` brings it up as it needs).
 */
export async function withMachinesLab(
  options: MachinesLabOptions,
  fn: (t: TestLab) => Promise<void>,
): Promise<void> {
  const t = await machinesTestLab(options);
  try {
    await fn(t);
  } finally {
    await labDown(t.lab, { progress: silentProgress });
  }
  assert.deepEqual(await machineLeftovers(t.lab), []);
  await Deno.remove(t.runRoot, { recursive: true }).catch(() => {});
}
