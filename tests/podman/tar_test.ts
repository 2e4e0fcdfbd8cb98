import assert from "node:assert/strict";
import { editTarMember, listTar } from "../../lib/podman/tar.ts";

/** Builds a real archive with the system's tar (GNU, with a long name and PAX-free defaults). */
async function makeArchive(dir: string, format: string): Promise<Uint8Array> {
  await Deno.mkdir(`${dir}/src/checkpoint`, { recursive: true });
  await Deno.writeTextFile(`${dir}/src/config.dump`, '{"name":"server"}');
  await Deno.writeFile(
    `${dir}/src/checkpoint/files.img`,
    new Uint8Array(700).map((_, i) => i % 251),
  );
  // ustar cannot hold a name this long; gnu and pax can, each in its own way.
  if (format !== "ustar") {
    await Deno.writeTextFile(`${dir}/src/${"long-name-".repeat(12)}.txt`, "x");
  }
  const tar = new Deno.Command("tar", {
    args: [`--format=${format}`, "-C", `${dir}/src`, "-cf", "-", "."],
    stdout: "piped",
  });
  const out = await tar.output();
  assert.ok(out.success);
  return out.stdout;
}

async function extract(dir: string, archive: Uint8Array): Promise<void> {
  await Deno.mkdir(`${dir}/out`, { recursive: true });
  await Deno.writeFile(`${dir}/edited.tar`, archive);
  const out = await new Deno.Command("tar", {
    args: ["-C", `${dir}/out`, "-xf", `${dir}/edited.tar`],
  })
    .output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
}

for (const format of ["gnu", "pax", "ustar"]) {
  Deno.test(`editTarMember changes one member of a ${format} archive; tar reads the result`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const archive = await makeArchive(dir, format);
      const names = listTar(archive).map((m) => m.name);
      assert.ok(names.includes("./checkpoint/files.img"), names.join(","));
      if (format !== "ustar") assert.ok(names.some((n) => n.includes("long-name-long-name")));
      const replacement = new Uint8Array(1030).fill(7);
      const edited = editTarMember(archive, "checkpoint/files.img", (old) => {
        assert.equal(old.length, 700);
        return replacement;
      });
      await extract(dir, edited);
      assert.deepEqual(await Deno.readFile(`${dir}/out/checkpoint/files.img`), replacement);
      assert.equal(await Deno.readTextFile(`${dir}/out/config.dump`), '{"name":"server"}');
      // Editing back restores the original archive byte for byte.
      const original = await Deno.readFile(`${dir}/src/checkpoint/files.img`);
      assert.deepEqual(editTarMember(edited, "./checkpoint/files.img", () => original), archive);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("editTarMember refuses a missing member", () => {
  assert.throws(
    () => editTarMember(new Uint8Array(1024), "checkpoint/files.img", (d) => d),
    /No regular file/,
  );
});
