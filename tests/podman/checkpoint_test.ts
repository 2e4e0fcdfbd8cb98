import assert from "node:assert/strict";
import {
  checkpointArgv,
  newContainerId,
  removeArgv,
  renameConfigDump,
  restoreArgv,
  restoredName,
} from "../../lib/podman/checkpoint.ts";

Deno.test("checkpoint exports an uncompressed archive with established TCP connections", () => {
  assert.deepEqual(
    checkpointArgv("p4cf-hc-server", "/run/ck.tar").join(" "),
    "podman container checkpoint --export /run/ck.tar --compress none --tcp-established p4cf-hc-server",
  );
});

Deno.test("restore imports into the target pod and ignores the recorded address", () => {
  const argv = restoreArgv("/run/ck.tar", "p4cf-hc-h3");
  assert.deepEqual(argv.slice(0, 5), ["podman", "container", "restore", "--import", "/run/ck.tar"]);
  for (const flag of ["--tcp-established", "--ignore-static-ip", "--ignore-static-mac"]) {
    assert.ok(argv.includes(flag), flag);
  }
  assert.deepEqual(argv.slice(-2), ["--pod", "p4cf-hc-h3"]);
  assert.ok(!argv.includes("--name"), "podman refuses --name with --tcp-established");
});

Deno.test("remove tolerates a container that is already gone", () => {
  assert.deepEqual(removeArgv("x"), ["podman", "rm", "--force", "--ignore", "x"]);
});

/** The shape of Podman 4.3's config.dump: indented JSON, nested keys that look alike. */
const CONFIG_DUMP = `{
  "spec": {
    "hostname": "hc-h2",
    "annotations": {
      "name": "not this one"
    }
  },
  "id": "${"a".repeat(64)}",
  "name": "hc-server",
  "pod": "${"b".repeat(64)}",
  "staticDir": "/var/lib/containers/storage/overlay-containers/${"a".repeat(64)}/userdata",
  "CreateCommand": [
    "podman",
    "run",
    "--name",
    "hc-server"
  ],
  "shmSize": 65536000
}
`;

Deno.test("the imported copy gets a new id and the temporary name, every other byte kept", () => {
  const id = newContainerId();
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.notEqual(newContainerId(), id);
  const out = renameConfigDump(CONFIG_DUMP, restoredName("hc-server"), id);
  assert.equal(
    out,
    CONFIG_DUMP.replace(`"id": "${"a".repeat(64)}"`, `"id": "${id}"`)
      .replace(`"name": "hc-server"`, `"name": "hc-server-p4cf-next"`),
  );
  const parsed = JSON.parse(out);
  assert.equal(parsed.spec.annotations.name, "not this one");
  assert.deepEqual(parsed.CreateCommand.at(-1), "hc-server");
});

Deno.test("a config.dump without exactly one top-level id or name is refused", () => {
  assert.throws(
    () => renameConfigDump(CONFIG_DUMP.replace(/^ {2}"id".*\n/m, ""), "x", "c".repeat(64)),
    /one top-level "id" field, found 0/,
  );
  assert.throws(() => renameConfigDump(CONFIG_DUMP, "x", "not-hex"), RangeError);
  assert.throws(() => renameConfigDump(CONFIG_DUMP, "-bad", "c".repeat(64)), RangeError);
});
