import assert from "node:assert/strict";
import {
  buildWorkloads,
  compileArgv,
  planWorkloadBuild,
  type WorkloadFileState,
  workloadPaths,
} from "../../lib/workloads/build.ts";
import { which } from "../../lib/capabilities.ts";
import { RecordingShell } from "../../lib/shell.ts";

function state(name: "counter_server" | "counter_client", src: number, out?: number) {
  return {
    name,
    source: `/r/lab/workloads/${name}.c`,
    output: `/r/.run/bin/${name}`,
    sourceMtimeMs: src,
    outputMtimeMs: out,
  } satisfies WorkloadFileState;
}

Deno.test("compileArgv builds a static optimised binary", () => {
  assert.deepEqual(compileArgv("a.c", "out/a"), [
    "gcc",
    "-static",
    "-O2",
    "-Wall",
    "-Wextra",
    "-o",
    "out/a",
    "a.c",
  ]);
});

Deno.test("planWorkloadBuild compiles only missing or stale binaries, via a temp file", () => {
  const steps = planWorkloadBuild(
    [state("counter_server", 100, 200), state("counter_client", 300, 200)],
    { tempSuffix: ".tmp1" },
  );
  assert.equal(steps.length, 1);
  assert.equal(steps[0].name, "counter_client");
  assert.equal(steps[0].tempOutput, "/r/.run/bin/counter_client.tmp1");
  assert.deepEqual(steps[0].argv.slice(-3), [
    "-o",
    "/r/.run/bin/counter_client.tmp1",
    "/r/lab/workloads/counter_client.c",
  ]);
  assert.equal(planWorkloadBuild([state("counter_server", 1)]).length, 1);
  assert.equal(planWorkloadBuild([state("counter_server", 1, 2)], { force: true }).length, 1);
});

Deno.test("buildWorkloads runs the compiler through the shell for stale binaries", async () => {
  const root = await Deno.makeTempDir({ prefix: "p4t-build-" });
  try {
    await Deno.mkdir(`${root}/lab/workloads`, { recursive: true });
    for (const n of ["counter_server", "counter_client"]) {
      await Deno.writeTextFile(`${root}/lab/workloads/${n}.c`, "int main(void){return 0;}\n");
    }
    const shell = new RecordingShell();
    // The recording shell compiles nothing, so the rename fails: the temp file must not remain.
    await assert.rejects(() => buildWorkloads({ shell, root }));
    assert.equal(shell.calls.length, 1);
    assert.equal(shell.calls[0][0], "gcc");
    const left = [...Deno.readDirSync(`${root}/.run/bin`)];
    assert.deepEqual(left, []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name: "buildWorkloads compiles the real workloads once and then does nothing",
  ignore: !which("gcc"),
  fn: async () => {
    const paths = await buildWorkloads();
    assert.deepEqual(paths, workloadPaths());
    for (const p of Object.values(paths)) assert.ok(Deno.statSync(p).isFile);
    const shell = new RecordingShell();
    await buildWorkloads({ shell });
    assert.equal(shell.calls.length, 0);
  },
});
