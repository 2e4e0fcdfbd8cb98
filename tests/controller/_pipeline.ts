/**
 * The compiled load-balancer pipeline for the controller tests: `p4/build/` when committed, else
 * a fresh p4c compilation of `p4/lb.p4` into a temporary directory (removed when the test
 * process ends). `P4CF_TEST_LB_BUILD=<dir>` points at another build (lb.json, lb.p4info.*).
 * When none can be had, tests are skipped with the printed reason.
 */
import { compileP4 } from "../../lib/p4/compile.ts";
import { repoRoot } from "../../lib/lab/paths.ts";
import { which } from "../../lib/capabilities.ts";
import { defaultPipelinePaths, type PipelinePaths } from "../../lib/controller/pipeline.ts";

export type PipelineOrReason = { paths: PipelinePaths } | { reason: string };

function present(paths: PipelinePaths): boolean {
  return Object.values(paths).every((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
}

async function find(): Promise<PipelineOrReason> {
  const override = Deno.env.get("P4CF_TEST_LB_BUILD");
  if (override) {
    const paths = defaultPipelinePaths(override);
    return present(paths) ? { paths } : { reason: `P4CF_TEST_LB_BUILD=${override} lacks lb.*` };
  }
  const committed = defaultPipelinePaths();
  if (present(committed)) return { paths: committed };
  if (!which("p4c")) return { reason: "p4/build/ is not committed and p4c is not installed" };
  const dir = await Deno.makeTempDir({ prefix: "p4t-lb-build-" });
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // Already gone.
    }
  });
  try {
    await compileP4({ root: repoRoot(), outDir: dir });
  } catch (err) {
    const first = (err as Error).message.split("\n").find((l) => /error/i.test(l)) ?? "";
    return { reason: `p4/build/ is not committed and p4/lb.p4 does not compile: ${first}` };
  }
  return { paths: defaultPipelinePaths(dir) };
}

let cached: Promise<PipelineOrReason> | undefined;

/** The pipeline to test with, or why there is none (computed once per test process). */
export function lbPipeline(): Promise<PipelineOrReason> {
  return cached ??= find();
}

/** Deno.test that is skipped, with the reason printed, when no pipeline can be had. */
export async function pipelineTest(
  name: string,
  fn: (paths: PipelinePaths) => Promise<void>,
): Promise<void> {
  const found = await lbPipeline();
  if ("reason" in found) console.log(`SKIP ${name}: ${found.reason}`);
  Deno.test({
    name,
    ignore: "reason" in found,
    fn: () => fn((found as { paths: PipelinePaths }).paths),
  });
}
