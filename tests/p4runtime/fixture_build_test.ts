/** The committed build of tests/fixtures/p4rt_fixture.p4 is what p4c makes of the source. */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { capTest } from "../_caps.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BUILD = "tests/fixtures/build";

capTest({
  name: "the committed P4Runtime fixture build matches tests/fixtures/p4rt_fixture.p4",
  needs: ["p4c"],
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "p4rt-fixture-" });
    try {
      // From the repository root with a relative source path, as the committed build was made
      // (p4c records the path in the BMv2 JSON).
      const res = await new Deno.Command("p4c", {
        cwd: ROOT,
        args: [
          "--target",
          "bmv2",
          "--arch",
          "v1model",
          "-o",
          out,
          "--p4runtime-files",
          `${out}/p4rt_fixture.p4info.json,${out}/p4rt_fixture.p4info.bin`,
          "tests/fixtures/p4rt_fixture.p4",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(res.success, new TextDecoder().decode(res.stderr));
      const regenerate =
        "recompile: see the p4c command in tests/p4runtime/fixture_build_test.ts, " +
        "then `deno fmt tests/fixtures/build`";
      for (const name of ["p4rt_fixture.json", "p4rt_fixture.p4info.json"]) {
        // `program` in the BMv2 JSON names p4c's intermediate file in the output directory.
        const read = async (path: string) => ({
          ...JSON.parse(await Deno.readTextFile(path)),
          program: undefined,
        });
        assert.deepEqual(
          await read(`${out}/${name}`),
          await read(`${ROOT}${BUILD}/${name}`),
          `${BUILD}/${name} is stale; ${regenerate}`,
        );
      }
      assert.deepEqual(
        await Deno.readFile(`${out}/p4rt_fixture.p4info.bin`),
        await Deno.readFile(`${ROOT}${BUILD}/p4rt_fixture.p4info.bin`),
        `${BUILD}/p4rt_fixture.p4info.bin is stale; ${regenerate}`,
      );
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
