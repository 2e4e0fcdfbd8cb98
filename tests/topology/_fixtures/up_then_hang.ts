/**
 * Child process for the crash tests: brings a lab up and, before step N, writes a marker file
 * and hangs, so the parent can kill -9 it half-way.
 *
 *   deno run -A up_then_hang.ts <lab file> <run root> <step index> <marker file>
 */
import { parseLabFile } from "../../../lib/lab/parse.ts";
import { up } from "../../../lib/topology/apply.ts";

const [labFile, runRoot, stepText, marker] = Deno.args;
const lab = await parseLabFile(labFile, { runRoot });
await up(lab, {
  beforeStep: async (_step, index) => {
    if (index !== Number(stepText)) return;
    await Deno.writeTextFile(marker, "ready");
    await new Promise((resolve) => setTimeout(resolve, 600_000));
  },
});
