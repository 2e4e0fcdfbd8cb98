import assert from "node:assert/strict";
import { checkpointArgv, removeArgv, restoreArgv } from "../../lib/podman/checkpoint.ts";

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
