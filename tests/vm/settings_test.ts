/** lib/vm/settings.ts: vm-check's settings from the environment, with clear errors. */
import assert from "node:assert/strict";
import { UserError } from "../../lib/errors.ts";
import { DEFAULT_VM_DIR, vmCheckSettings } from "../../lib/vm/settings.ts";

const NOW = new Date("2026-12-06T09:30:00.123Z");

Deno.test("defaults: the cache outside the repository, 2 vCPUs, software emulation", () => {
  const s = vmCheckSettings({}, {}, NOW);
  assert.equal(s.dir, DEFAULT_VM_DIR);
  assert.equal(s.boxFile, `${DEFAULT_VM_DIR}/p4cf-debian12.box`);
  assert.equal(s.vagrantHome, `${DEFAULT_VM_DIR}/vagrant.d`);
  assert.equal(s.logDir, `${DEFAULT_VM_DIR}/logs/2026-12-06T09-30-00`);
  assert.equal(s.cpus, 2);
  assert.equal(s.driver, "qemu");
  assert.equal(s.domain, "p4cf-vmcheck-default");
  assert.equal(s.keep, false);
});

Deno.test("P4CF_VM_DIR and the sizes are honoured", () => {
  const s = vmCheckSettings({ keep: true, testArgs: ["tests/criu"] }, {
    P4CF_VM_DIR: "/opt/vm/",
    P4CF_VM_CPUS: "4",
    P4CF_VM_MEMORY_MB: "6144",
    P4CF_VM_DRIVER: "kvm",
  }, NOW);
  assert.equal(s.boxFile, "/opt/vm/p4cf-debian12.box");
  assert.equal(s.cpus, 4);
  assert.equal(s.memoryMb, 6144);
  assert.equal(s.driver, "kvm");
  assert.deepEqual(s.testArgs, ["tests/criu"]);
});

Deno.test("bad settings: one error naming the variable", () => {
  const bad: [Record<string, string>, RegExp][] = [
    [{ P4CF_VM_DIR: "relative/dir" }, /P4CF_VM_DIR="relative\/dir" is not an absolute path/],
    [{ P4CF_VM_DRIVER: "xen" }, /P4CF_VM_DRIVER="xen"/],
    [{ P4CF_VM_CPUS: "two" }, /P4CF_VM_CPUS="two" is not a positive whole number/],
    [{ P4CF_VM_MEMORY_MB: "0" }, /P4CF_VM_MEMORY_MB="0"/],
  ];
  for (const [env, message] of bad) {
    assert.throws(() => vmCheckSettings({}, env, NOW), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, message);
      assert.ok(e.hint);
      return true;
    });
  }
});
