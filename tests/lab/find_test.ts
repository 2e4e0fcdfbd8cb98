import assert from "node:assert/strict";
import { UserError } from "../../lib/errors.ts";
import { findLab, listLabs } from "../../lib/lab/find.ts";
import { labDefinitionsDir } from "../../lib/lab/paths.ts";

Deno.test("a lab name resolves to lab/<name>.yaml", () => {
  assert.equal(findLab("process-migration"), `${labDefinitionsDir()}/process-migration.yaml`);
  assert.ok(listLabs().includes("redis"));
  assert.ok(!listLabs().includes("lab.schema"));
});

Deno.test("a path resolves to that file, relative paths against the working directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-find-" });
  try {
    await Deno.writeTextFile(`${dir}/mine.yaml`, "hosts: {}\n");
    assert.equal(findLab(`${dir}/mine.yaml`), `${dir}/mine.yaml`);
    const cwd = Deno.cwd();
    Deno.chdir(dir);
    try {
      assert.equal(findLab("./mine.yaml"), `${dir}/mine.yaml`);
      assert.equal(findLab("mine.yaml"), `${dir}/mine.yaml`);
    } finally {
      Deno.chdir(cwd);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an unknown lab is a UserError listing the available labs", () => {
  assert.throws(() => findLab("proces-migration"), (err: unknown) => {
    assert.ok(err instanceof UserError);
    assert.equal(err.message, 'There is no lab named "proces-migration"');
    assert.match(
      err.hint ?? "",
      /^did you mean "process-migration"\? \(available labs: .*host-containers.*redis/,
    );
    return true;
  });
  assert.throws(() => findLab("nothing-like-it"), (err: unknown) => {
    assert.ok(err instanceof UserError);
    assert.match(
      err.hint ?? "",
      /^available labs: host-containers, kubernetes, process-machines, process-migration/,
    );
    return true;
  });
  assert.throws(() => findLab("./missing.yaml"), /Lab file "\.\/missing\.yaml" does not exist/);
});
