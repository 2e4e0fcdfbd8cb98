import assert from "node:assert/strict";
import { findExercise } from "../../lib/exercises/catalog.ts";
import { retargetImports, studentFileFrom } from "../../lib/exercises/foreign_checkout.ts";

Deno.test("a student's library imports are pointed at the grading checkout", () => {
  const text = 'import { criuDump } from "../../../lib/criu/checkpoint.ts";\n' +
    'import type { X } from "../../../lib/exercises/contexts.ts";\n' +
    'import { helper } from "./helper.ts";\nimport "jsr:@std/assert";\n' +
    'const m = await import("../../../lib/shell.ts");\n';
  const out = retargetImports(
    text,
    "/home/alice/p4cf/lab/exercises/3-x/migrate.ts",
    "/home/alice/p4cf",
    "/srv/grader",
  );
  assert.equal(
    out,
    'import { criuDump } from "/srv/grader/lib/criu/checkpoint.ts";\n' +
      'import type { X } from "/srv/grader/lib/exercises/contexts.ts";\n' +
      'import { helper } from "/home/alice/p4cf/lab/exercises/3-x/helper.ts";\n' +
      'import "jsr:@std/assert";\n' +
      'const m = await import("/srv/grader/lib/shell.ts");\n',
  );
});

Deno.test("--from copies TypeScript into .run/grading, and reads a lab file where it is", async () => {
  const from = await Deno.makeTempDir({ prefix: "p4t-from-" });
  const root = await Deno.makeTempDir({ prefix: "p4t-root-" });
  try {
    await Deno.mkdir(`${from}/lab/exercises/2-program-lb`, { recursive: true });
    await Deno.mkdir(`${from}/lab/exercises/1-topology`, { recursive: true });
    await Deno.writeTextFile(
      `${from}/lab/exercises/2-program-lb/program_lb.ts`,
      'import type { Lab } from "../../../lib/lab/types.ts";\n',
    );
    await Deno.writeTextFile(`${from}/lab/exercises/1-topology/lab.yaml`, "name: x\n");
    const { file: copy, original } = await studentFileFrom(findExercise(2), from, "alice", root);
    assert.equal(copy, `${root}/.run/grading/alice/2-program-lb/program_lb.ts`);
    assert.equal(original, `${from}/lab/exercises/2-program-lb/program_lb.ts`);
    assert.equal(
      await Deno.readTextFile(copy),
      `import type { Lab } from "${root}/lib/lab/types.ts";\n`,
    );
    assert.equal(
      (await studentFileFrom(findExercise(1), from, "alice", root)).file,
      `${from}/lab/exercises/1-topology/lab.yaml`,
    );
    await assert.rejects(
      () => studentFileFrom(findExercise(3), from, "alice", root),
      /Cannot read/,
    );
  } finally {
    await Deno.remove(from, { recursive: true });
    await Deno.remove(root, { recursive: true });
  }
});
