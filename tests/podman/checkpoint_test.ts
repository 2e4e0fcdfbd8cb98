import assert from "node:assert/strict";
import {
  checkpointArgv,
  copyRootfsChangesArgv,
  listingChanges,
  newContainerId,
  parseStorage,
  prepareTargetArgv,
  prepareTargetSteps,
  removeArgv,
  renameConfigDump,
  restoreArgv,
  restoredName,
  restorePreparedArgv,
  STORAGE_FORMAT,
  upperDirListing,
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

const labRun = [
  "/usr/bin/podman",
  "run",
  "--detach",
  "--name",
  "hc-server",
  "--pod",
  "hc-h2",
  "--label",
  "p4cf.lab=host-containers",
  "--annotation",
  "org.criu.config=/run/lab/criu/server.conf",
  "--log-driver",
  "k8s-file",
  "--log-opt",
  "path=/run/lab/server.log",
  "localhost/p4cf-counter-server:latest",
  "12345",
];

Deno.test("the prepared target is created as the source was, under the temporary name in the target pod", () => {
  assert.deepEqual(prepareTargetArgv(labRun, "hc-server-p4cf-next", "pod3id"), [
    "podman",
    "create",
    "--name",
    "hc-server-p4cf-next",
    "--pod",
    "pod3id",
    "--label",
    "p4cf.lab=host-containers",
    "--annotation",
    "org.criu.config=/run/lab/criu/server.conf",
    "--log-driver",
    "k8s-file",
    "--log-opt",
    "path=/run/lab/server.log",
    "localhost/p4cf-counter-server:latest",
    "12345",
  ]);
  // `--flag=value` forms, and `create` as the verb; a later "--name" (the command's) stays.
  assert.deepEqual(
    prepareTargetArgv(
      ["podman", "create", "--name=a", "--pod=p", "img", "--name", "x"],
      "a-next",
      "pid",
    ),
    ["podman", "create", "--name", "a-next", "--pod", "pid", "img", "--name", "x"],
  );
});

Deno.test("a create command the migration cannot follow faithfully gives no prepared target", () => {
  assert.equal(prepareTargetArgv([], "n", "p"), undefined);
  assert.equal(
    prepareTargetArgv(["docker", "run", "--name", "a", "--pod", "p", "i"], "n", "p"),
    undefined,
  );
  assert.equal(prepareTargetArgv(["podman", "run", "--name", "a", "img"], "n", "p"), undefined);
  assert.equal(prepareTargetArgv(["podman", "run", "--pod", "p", "img"], "n", "p"), undefined);
  assert.equal(
    prepareTargetArgv(["podman", "run", "--rm", "--name", "a", "--pod", "p", "i"], "n", "p"),
    undefined,
  );
});

Deno.test("the prepared target is initialised and stopped, then restored from its own directory", () => {
  assert.deepEqual(prepareTargetSteps("c"), [
    ["podman", "init", "c"],
    ["podman", "stop", "--time", "0", "c"],
  ]);
  assert.deepEqual(restorePreparedArgv("c"), [
    "podman",
    "container",
    "restore",
    "--tcp-established",
    "c",
  ]);
  assert.deepEqual(copyRootfsChangesArgv("/s/diff", "/t/diff"), [
    "cp",
    "-a",
    "/s/diff/.",
    "/t/diff/",
  ]);
});

Deno.test("a container's storage is read from one inspect line", () => {
  const id = "c".repeat(64);
  assert.deepEqual(
    parseStorage(`${id} /var/lib/c/${id}/userdata /var/lib/o/x/diff /l/2/diff:/l/1/diff\n`),
    {
      id,
      bundle: `/var/lib/c/${id}/userdata`,
      upper: "/var/lib/o/x/diff",
      lower: ["/l/2/diff", "/l/1/diff"],
    },
  );
  assert.match(STORAGE_FORMAT, /\.StaticDir.*UpperDir/);
  assert.equal(parseStorage(""), undefined);
  assert.equal(parseStorage(`${id} <no value> /x`), undefined);
  assert.equal(parseStorage(`abc /a /b`), undefined);
});

Deno.test("an upper directory's listing sees every change but directories' times", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-upper-" });
  try {
    await Deno.mkdir(`${dir}/etc`);
    await Deno.writeTextFile(`${dir}/etc/a`, "1");
    const before = await upperDirListing(dir);
    // A temporary directory made and removed (CRIU's dump does that in /tmp): no change.
    await Deno.mkdir(`${dir}/etc/x`);
    await Deno.remove(`${dir}/etc/x`);
    assert.equal(await upperDirListing(dir), before);
    // A directory that appeared is an addition; a file written the same size an alteration.
    await Deno.mkdir(`${dir}/tmp`);
    assert.deepEqual(listingChanges(before, await upperDirListing(dir)), {
      added: [{ path: "/tmp", type: "d" }],
      altered: false,
    });
    await new Promise((r) => setTimeout(r, 10));
    await Deno.writeTextFile(`${dir}/etc/a`, "2");
    assert.equal(listingChanges(before, await upperDirListing(dir)).altered, true);
    await Deno.remove(`${dir}/tmp`);
    await Deno.remove(`${dir}/etc/a`);
    assert.deepEqual(listingChanges(before, await upperDirListing(dir)), {
      added: [],
      altered: true,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
