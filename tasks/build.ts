/** `build`: compile the P4 program (when p4c is installed) and the workload binaries. */
import { probeCapability } from "../lib/capabilities.ts";
import { checkCompiledUpToDate, compileP4 } from "../lib/p4/compile.ts";
import { consoleProgress } from "../lib/progress.ts";
import { buildWorkloads } from "../lib/workloads/build.ts";
import type { Command } from "./command.ts";

export const build: Command = {
  summary: "Compile p4/lb.p4 into p4/build/ (needs p4c) and the workload binaries",
  usage: `Usage: deno task build [--check]

Compiles p4/lb.p4 with p4c into p4/build/ (BMv2 JSON and P4Info as text, JSON and binary; commit
them), and the C workloads into .run/bin/. Without p4c the committed P4 output is used as is.

Options:
  --check   Only check that p4/build/ is what p4c makes of p4/lb.p4 (exit 1 if not)`,
  options: { check: { type: "boolean" } },
  async run(values) {
    const progress = consoleProgress();
    const p4c = probeCapability("p4c");
    if (values.check) {
      if (p4c) {
        console.error(`cannot check: ${p4c}`);
        return 1;
      }
      const result = await checkCompiledUpToDate();
      for (const d of result.differences) console.log(`differs: ${d.committed} (${d.kind})`);
      console.log(
        result.upToDate ? "p4/build/ is up to date" : "p4/build/ is stale: run `deno task build`",
      );
      return result.upToDate ? 0 : 1;
    }
    if (p4c) {
      progress.warn(`${p4c}; keeping the committed p4/build/`);
    } else {
      const done = progress.step("p4c: p4/lb.p4 -> p4/build/");
      await compileP4();
      done();
    }
    const done = progress.step("workloads: lab/workloads/*.c -> .run/bin/");
    const paths = await buildWorkloads();
    done(Object.values(paths).join(", "));
    return 0;
  },
};
