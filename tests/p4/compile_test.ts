import assert from "node:assert/strict";
import { capTest } from "../_caps.ts";
import { checkCompiledUpToDate, compileP4, planCompile } from "../../lib/p4/compile.ts";
import { LB_PROGRAM } from "../../lib/p4/lb_program.ts";
import { RecordingShell } from "../../lib/shell.ts";
import { UserError } from "../../lib/errors.ts";

const root = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

Deno.test("p4c argv: one run writes the BMv2 JSON and three P4Info encodings", () => {
  const plan = planCompile({ root: "/repo" });
  assert.equal(plan.cwd, "/repo");
  assert.deepEqual(plan.argv, [
    "p4c",
    "--target",
    "bmv2",
    "--arch",
    "v1model",
    "-o",
    "p4/build",
    "--p4runtime-files",
    "p4/build/lb.p4info.txtpb,p4/build/lb.p4info.json,p4/build/lb.p4info.bin",
    "p4/lb.p4",
  ]);
  assert.deepEqual(plan.outputs, {
    bmv2Json: LB_PROGRAM.bmv2Json,
    p4infoText: LB_PROGRAM.p4infoText,
    p4infoJson: LB_PROGRAM.p4infoJson,
    p4infoBinary: LB_PROGRAM.p4infoBinary,
  });
  const other = planCompile({ source: "p4/other.p4", outDir: "/tmp/out/", p4c: "/usr/bin/p4c" });
  assert.equal(other.argv[0], "/usr/bin/p4c");
  assert.equal(other.outputs.bmv2Json, "/tmp/out/other.json");
  assert.throws(() => planCompile({ source: "/abs/lb.p4" }), UserError);
});

Deno.test("compileP4 runs the planned argv in the root through the shell", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "p4t-compile-" });
  try {
    const shell = new RecordingShell();
    await compileP4({ root: tmp, shell });
    assert.equal(shell.calls.length, 1);
    assert.deepEqual(shell.calls[0], planCompile({ root: tmp }).argv);
    assert.ok((await Deno.stat(`${tmp}/p4/build`)).isDirectory);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

capTest({
  name: "committed p4/build matches a fresh compilation of p4/lb.p4",
  needs: ["p4c"],
  fn: async () => {
    const result = await checkCompiledUpToDate({ root });
    assert.deepEqual(
      result.differences,
      [],
      "p4/build is stale: run `deno task build` and commit p4/build",
    );
    assert.ok(result.upToDate);
  },
});
