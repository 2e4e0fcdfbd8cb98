import assert from "node:assert/strict";
import { UserError } from "../../lib/errors.ts";
import { assertNotForeign, claimLab, labOwner, releaseLab } from "../../lib/runtime/registry.ts";

Deno.test("a lab id is owned by one run directory; another refuses up and down unless forced", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-registry-" });
  const a = await Deno.makeTempDir({ prefix: "p4t-checkout-a-" });
  const b = await Deno.makeTempDir({ prefix: "p4t-checkout-b-" });
  try {
    const labA = { name: "demo", id: "dm", runDir: a };
    const labB = { name: "demo", id: "dm", runDir: b };
    await claimLab(labA, { dir });
    // Only a lab that is up (has a state file) holds its id.
    assert.equal(await labOwner("dm", { dir }), undefined);
    await Deno.writeTextFile(`${a}/state.json`, "{}");
    assert.equal((await labOwner("dm", { dir }))?.runDir, a);
    await claimLab(labA, { dir }); // the owner again: fine
    for (const verb of ["up", "down"] as const) {
      await assert.rejects(() => assertNotForeign(labB, verb, { dir }), (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.match(err.message, new RegExp(`Cannot ${verb} lab demo: .*${a}`));
        assert.match(err.hint ?? "", /--force/);
        return true;
      });
    }
    await assert.rejects(() => claimLab(labB, { dir }), UserError);
    await releaseLab(labB, { dir }); // not the owner: keeps A's entry
    assert.equal((await labOwner("dm", { dir }))?.runDir, a);
    await claimLab(labB, { dir, force: true });
    assert.equal((await labOwner("dm", { dir }))?.runDir, undefined, "B has no state yet");
    await releaseLab(labB, { dir });
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    assert.equal((await Deno.stat(dir)).mode! & 0o077, 0);
  } finally {
    for (const d of [dir, a, b]) await Deno.remove(d, { recursive: true });
  }
});
