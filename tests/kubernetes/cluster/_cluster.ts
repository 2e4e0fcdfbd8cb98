/**
 * Helpers of the real cluster tests: a test tier that skips (printing why) when the machine
 * cannot run a cluster or one already runs, a plain bridge CNI network for the test, and a
 * snapshot of the machine state a cluster may change, to prove `down` put everything back.
 */
import { runningNodeProcess } from "../../../lib/kubernetes/cluster/prepare.ts";
import { kubernetesMissing } from "../../../lib/kubernetes/cluster/binaries.ts";
import { nodeIdentity } from "../../../lib/kubernetes/cluster/config.ts";
import { clusterPaths } from "../../../lib/kubernetes/cluster/paths.ts";
import { HARDWIRED_DIRS, readSysctls } from "../../../lib/kubernetes/cluster/host.ts";
import type { Lab } from "../../../lib/lab/types.ts";
import { output } from "../../topology/_lab.ts";

/**
 * Why a cluster cannot be brought up here, or undefined. (Its ports are the lab's own, derived
 * from the test lab's random id: another cluster running beside it does not matter.)
 */
export function clusterSkipReason(): string | undefined {
  return kubernetesMissing();
}

/** Deno.test that runs only when a cluster can come up, else is ignored with a printed reason. */
export function clusterTest(name: string, fn: () => Promise<void>): void {
  const reason = clusterSkipReason();
  if (reason) console.log(`SKIP ${name}: ${reason}`);
  Deno.test({
    name,
    ignore: reason !== undefined,
    async fn() {
      // The previous test's node may still be exiting (its down returned once it was told to):
      // the bring-up refuses beside a running kubelet or CRI-O, rightly.
      for (let i = 0; i < 100 && runningNodeProcess(); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      await fn();
    },
  });
}

/** The test's own CNI bridge (removed by the test, not by the cluster). */
export function testBridge(lab: Lab): string {
  return `${lab.id}-cni0`;
}

/** A plain bridge + host-local network on a private /24, for pods of the test only. */
export async function writeTestCni(lab: Lab, confDir: string): Promise<string> {
  // Derived from the id: the same on a second `up` of the lab, which finds the bridge in place.
  const subnet = `10.252.${nodeIdentity(lab.id!).nodeIp.split(".")[2]}.0/24`;
  const conf = {
    cniVersion: "1.0.0",
    name: `${lab.id}-test`,
    plugins: [{
      type: "bridge",
      bridge: testBridge(lab),
      isGateway: true,
      ipMasq: false,
      ipam: {
        type: "host-local",
        dataDir: `${clusterPaths(lab.runDir!).root}/cni/ipam`,
        ranges: [[{ subnet }]],
        routes: [{ dst: "0.0.0.0/0" }],
      },
    }],
  };
  await Deno.writeTextFile(`${confDir}/10-test.conflist`, JSON.stringify(conf, null, 2));
  return subnet;
}

/** What a cluster changes on the machine, to compare before and after. */
export interface MachineState {
  sysctls: Record<string, string>;
  paths: Record<string, boolean>;
  /** Controllers of the cgroup v2 hierarchy (hugetlb leaves it while a node namespace mounts it). */
  unifiedControllers: string;
}

export function machineState(): MachineState {
  const exists = (p: string) => {
    try {
      Deno.lstatSync(p);
      return true;
    } catch {
      return false;
    }
  };
  const unified = ["/sys/fs/cgroup/unified/cgroup.controllers", "/sys/fs/cgroup/cgroup.controllers"]
    .map((f) => {
      try {
        return Deno.readTextFileSync(f).trim();
      } catch {
        return undefined;
      }
    }).find((x) => x !== undefined) ?? "";
  return {
    sysctls: readSysctls(),
    paths: Object.fromEntries(
      [...HARDWIRED_DIRS, "/etc/criu/runc.conf", "/etc/criu"].map((p) => [p, exists(p)]),
    ),
    unifiedControllers: unified,
  };
}

/**
 * What the lab's cluster left: processes naming its run directory, mounts under it, links and
 * netns with its prefix (but the test's bridge), its cgroups.
 */
export async function clusterLeftovers(lab: Lab, ignoreLinks: string[] = []): Promise<string[]> {
  const paths = clusterPaths(lab.runDir!);
  const found: string[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
      if (cmd.includes(paths.root) || cmd.includes(paths.shortDir)) {
        found.push(`process ${e.name}: ${cmd.slice(0, 120)}`);
      }
    } catch {
      // exited
    }
  }
  for (const t of (await output("findmnt", ["-rn", "-o", "TARGET"])).split("\n")) {
    if (t.startsWith(lab.runDir!) || t.startsWith(paths.shortDir)) found.push(`mount ${t}`);
  }
  for (const line of (await output("ip", ["-o", "link", "show"])).split("\n")) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1];
    if (name?.startsWith(`${lab.id}-`) && !ignoreLinks.includes(name)) found.push(`link ${name}`);
  }
  for (const line of (await output("ip", ["netns", "list"])).split("\n")) {
    if (line.startsWith(`${lab.id}-`)) found.push(`netns ${line}`);
  }
  const cgroup = `p4cf-${lab.id}`;
  for (
    const dir of [
      "/sys/fs/cgroup",
      ...[...Deno.readDirSync("/sys/fs/cgroup")].map((h) => `/sys/fs/cgroup/${h.name}`),
    ]
  ) {
    try {
      Deno.statSync(`${dir}/${cgroup}`);
      found.push(`cgroup ${dir}/${cgroup}`);
    } catch {
      // none
    }
  }
  for (const p of [paths.root, paths.shortDir]) {
    try {
      Deno.statSync(p);
      found.push(`directory ${p}`);
    } catch {
      // removed
    }
  }
  return found;
}

/** Polls `f` until it returns true or `ms` pass; returns its last answer. */
export async function eventually(
  f: () => boolean | Promise<boolean>,
  ms: number,
): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await f()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return await f();
}
