import assert from "node:assert/strict";
import { formatDiagnostics, parseCheckOutput, typeCheck } from "../../lib/exercises/typecheck.ts";

const OUTPUT =
  `\x1b[0m\x1b[1mTS2551 \x1b[0m[ERROR]: Property 'imagesDirr' does not exist on type 'ProcessMigration'. Did you mean 'imagesDir'?
  const { changed } = await rewriteDumpAddresses(m.imagesDirr, {
                                                   ~~~~~~~~~~
    at file:///repo/lab/exercises/3-migrate-process/migrate.ts:18:52

    'imagesDir' is declared here.
      imagesDir: string;
      ~~~~~~~~~
        at file:///repo/lib/exercises/contexts.ts:34:3

TS2304 [ERROR]: Cannot find name 'critDump'.
    at file:///repo/lab/exercises/3-migrate-process/migrate.ts:9:9

Found 2 errors.
`;

Deno.test("deno check's output becomes file:line:col diagnostics, the error's own place only", () => {
  const d = parseCheckOutput(OUTPUT, "/repo");
  assert.deepEqual(d.map((x) => [x.file, x.line, x.column, x.code]), [
    ["lab/exercises/3-migrate-process/migrate.ts", 18, 52, "TS2551"],
    ["lab/exercises/3-migrate-process/migrate.ts", 9, 9, "TS2304"],
  ]);
  assert.equal(
    formatDiagnostics(d).split("\n")[0],
    "lab/exercises/3-migrate-process/migrate.ts:18:52 TS2551 Property 'imagesDirr' does not " +
      "exist on type 'ProcessMigration'. Did you mean 'imagesDir'?",
  );
});

Deno.test("a typo in a student's file is found before anything runs", async () => {
  const root = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
  const dir = await Deno.makeTempDir({ dir: `${root}/.run`, prefix: "p4t-typecheck-" }).catch(
    async () => {
      await Deno.mkdir(`${root}/.run`, { recursive: true });
      return await Deno.makeTempDir({ dir: `${root}/.run`, prefix: "p4t-typecheck-" });
    },
  );
  try {
    const file = `${dir}/migrate.ts`;
    await Deno.writeTextFile(
      file,
      `import type { ProcessMigration } from "${root}/lib/exercises/contexts.ts";\n` +
        "export function migrateServer(m: ProcessMigration): Promise<number> {\n" +
        "  return Promise.resolve(m.pidd);\n}\n",
    );
    const result = await typeCheck(file, root);
    assert.equal(result.ok, false);
    assert.equal(result.diagnostics.length, 1);
    assert.equal(result.diagnostics[0].line, 3);
    assert.match(result.diagnostics[0].message, /Property 'pidd' does not exist/);
    await Deno.writeTextFile(file, (await Deno.readTextFile(file)).replace("pidd", "pid"));
    assert.equal((await typeCheck(file, root)).ok, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
