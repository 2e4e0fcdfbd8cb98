/**
 * `clusterUp` in a process of its own, for the test that kills it with SIGKILL half-way:
 * `deno run -A _up_child.ts <runDir> <lab id>`.
 */
import { clusterUp } from "../../../lib/kubernetes/cluster/up.ts";
import type { Lab } from "../../../lib/lab/types.ts";
import { silentProgress } from "../../../lib/progress.ts";
import { defaultShell } from "../../../lib/shell.ts";
import { writeTestCni } from "./_cluster.ts";

const [runDir, id] = Deno.args;
const lab = { name: `child-${id}`, id, runDir } as Lab;
await clusterUp(lab, {
  shell: defaultShell,
  progress: silentProgress,
  record: () => Promise.resolve(),
  prepareNetwork: async ({ cniConfDir }) => {
    await writeTestCni(lab, cniConfDir);
  },
});
console.log("up");
