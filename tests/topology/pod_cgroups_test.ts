import assert from "node:assert/strict";
import { parsePodIds } from "../../lib/topology/objects.ts";
import { removePodCgroups } from "../../lib/topology/pod_cgroups.ts";

const ID_A = "a".repeat(64);
const ID_B = "b".repeat(64);

Deno.test("pod ids are read from podman pod ls --format json", () => {
  const out = `[{"Name":"pm-h1","Id":"${ID_A}","Status":"Running"},{"Name":"pm-h2"}]`;
  assert.deepEqual([...parsePodIds(out)], [["pm-h1", ID_A]]);
  assert.deepEqual([...parsePodIds("")], []);
});

Deno.test("a removed pod's cgroups go from every hierarchy, other pods' stay", async () => {
  const root = await Deno.makeTempDir({ prefix: "p4t-cgroups-" });
  try {
    for (const h of ["unified", "systemd", "memory"]) {
      await Deno.mkdir(`${root}/${h}/libpod_parent/${ID_A}/libpod-x`, { recursive: true });
      await Deno.mkdir(`${root}/${h}/libpod_parent/${ID_B}`, { recursive: true });
    }
    const removed = removePodCgroups([ID_A, "not-an-id"], root);
    assert.deepEqual(
      removed.sort(),
      ["memory", "systemd", "unified"].map((h) => `${root}/${h}/libpod_parent/${ID_A}`),
    );
    for (const h of ["unified", "systemd", "memory"]) {
      assert.deepEqual([...Deno.readDirSync(`${root}/${h}/libpod_parent`)].map((e) => e.name), [
        ID_B,
      ]);
    }
    assert.deepEqual(removePodCgroups([ID_A], root), [], "safe twice");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
