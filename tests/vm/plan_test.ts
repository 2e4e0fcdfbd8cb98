/** lib/vm/plan.ts: vm-check's steps as data, from the settings and what is in place. */
import assert from "node:assert/strict";
import {
  boxVolumePrefix,
  planVmCheck,
  shellQuote,
  testCommand,
  type VmFacts,
} from "../../lib/vm/plan.ts";
import { vmCheckSettings } from "../../lib/vm/settings.ts";

const FACTS: VmFacts = {
  boxFile: false,
  boxAdded: false,
  virtlogd: false,
  libvirtd: false,
  mirror: { archive: "http://m.example/debian", security: "http://m.example/debian-security" },
  caFiles: ["/usr/local/share/ca-certificates/proxy.crt"],
  aptSettings: [`Acquire::Check-Valid-Until "false";`],
  repo: "/src/p4cf",
};
const settings = (opts = {}, env: Record<string, string> = {}) =>
  vmCheckSettings(opts, { P4CF_VM_DIR: "/cache", ...env }, new Date(0));

Deno.test("a fresh machine: daemons, box build and add, up, provision, test, destroy", () => {
  const steps = planVmCheck(settings(), FACTS);
  assert.deepEqual(steps.map((s) => s.id), [
    "start-virtlogd",
    "start-libvirtd",
    "build-box",
    "add-box",
    "drop-box-volumes",
    "up",
    "provision",
    "test",
    "destroy",
    "stop-libvirtd",
    "stop-virtlogd",
  ]);
  const build = steps.find((s) => s.id === "build-box")!;
  // The mirror and certificates come from this machine, passed at run time.
  assert.deepEqual(build.argv, [
    "bash",
    "/src/p4cf/lab/vm/build-box.sh",
    "/cache/p4cf-debian12.box",
    "/cache/box-build",
    "http://m.example/debian",
    "http://m.example/debian-security",
    "/usr/local/share/ca-certificates/proxy.crt",
  ]);
  const up = steps.find((s) => s.id === "up")!;
  assert.deepEqual(up.argv, ["vagrant", "up", "--provider", "libvirt", "--no-provision"]);
  assert.equal(up.cwd, "/src/p4cf");
  assert.equal(up.env.VAGRANT_HOME, "/cache/vagrant.d");
  assert.equal(up.env.VAGRANT_DOTFILE_PATH, "/cache/vagrant-state");
  assert.equal(up.env.P4CF_VAGRANT_BOX, "p4cf/debian12");
  assert.equal(up.env.P4CF_LIBVIRT_DRIVER, "qemu");
  assert.equal(up.env.P4CF_VAGRANT_CPUS, "2");
  // The guest kernel's console goes beside the steps' logs.
  assert.equal(up.env.P4CF_LIBVIRT_CONSOLE_LOG, "/cache/logs/1970-01-01T00-00-00/console.log");
  assert.equal(up.onFailure, "stop");
  // Provisioning reports unreachable sources and goes on: the tests still run.
  assert.equal(steps.find((s) => s.id === "provision")!.onFailure, "continue");
  const destroy = steps.find((s) => s.id === "destroy")!;
  assert.deepEqual(destroy.argv, ["vagrant", "destroy", "--force"]);
  assert.equal(destroy.onFailure, "cleanup");
});

Deno.test("a cached box is neither built nor added again; running daemons are left alone", () => {
  const facts = { ...FACTS, boxFile: true, boxAdded: true, virtlogd: true, libvirtd: true };
  assert.deepEqual(planVmCheck(settings(), facts).map((s) => s.id), [
    "up",
    "provision",
    "test",
    "destroy",
  ]);
  // A box file Vagrant does not have yet is added, not built.
  assert.deepEqual(
    planVmCheck(settings(), { ...facts, boxAdded: false }).map((s) => s.id).slice(0, 2),
    ["add-box", "up"],
  );
  // --rebuild-box builds it and replaces Vagrant's copy.
  const rebuilt = planVmCheck(settings({ rebuildBox: true }), facts);
  assert.deepEqual(rebuilt.map((s) => s.id).slice(0, 3), [
    "build-box",
    "add-box",
    "drop-box-volumes",
  ]);
  assert.ok(rebuilt[1].argv.includes("--force"));
});

Deno.test("no security mirror: '-'; --keep leaves the VM (no destroy step)", () => {
  const steps = planVmCheck(settings({ keep: true }), {
    ...FACTS,
    mirror: { archive: "http://m.example/debian" },
    caFiles: [],
  });
  assert.deepEqual(steps.find((s) => s.id === "build-box")!.argv.slice(4), [
    "http://m.example/debian",
    "-",
  ]);
  // Nor the daemons it started: the VM still needs them.
  assert.deepEqual(steps.map((s) => s.id).slice(-2), ["provision", "test"]);
});

Deno.test("the test command: the README's, with sudo and bounds raised for an emulated CPU", () => {
  assert.equal(
    testCommand(settings()),
    "cd /vagrant && sudo env P4CF_COMMAND_TIMEOUT_S=900 deno task test --timeout 7200",
  );
  const s = settings({ testArgs: ["tests/criu", "--filter", "tcp dump"] }, {
    P4CF_VM_TEST_TIMEOUT_S: "600",
  });
  assert.equal(
    testCommand(s),
    "cd /vagrant && sudo env P4CF_COMMAND_TIMEOUT_S=900 deno task test --timeout 600 " +
      "tests/criu --filter 'tcp dump'",
  );
  const test = planVmCheck(s, FACTS).find((x) => x.id === "test")!;
  assert.deepEqual(test.argv.slice(0, 3), ["vagrant", "ssh", "-c"]);
  // A VM that stops answering ends the step within minutes, not at the run's bound.
  assert.deepEqual(test.argv.slice(4), [
    "--",
    "-o",
    "ServerAliveInterval=30",
    "-o",
    "ServerAliveCountMax=10",
  ]);
  // Its bound leaves the run its own bound and a margin.
  assert.equal(test.timeoutMs, (600 + 600) * 1000);
});

Deno.test("a rebuilt box's old copies in libvirt's pool are found by vagrant-libvirt's name", () => {
  assert.equal(boxVolumePrefix("p4cf/debian12"), "p4cf-VAGRANTSLASH-debian12_vagrant_box_image_");
  const drop = planVmCheck(settings(), FACTS).find((s) => s.id === "drop-box-volumes")!;
  assert.match(drop.argv[2], /grep -F p4cf-VAGRANTSLASH-debian12_vagrant_box_image_\)/);
  assert.equal(drop.onFailure, "continue");
});

Deno.test("shellQuote", () => {
  assert.equal(shellQuote("tests/criu"), "tests/criu");
  assert.equal(shellQuote("a b"), "'a b'");
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
});
