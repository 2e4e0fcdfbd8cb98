/**
 * `deno task vm-check`: proves the Vagrant path in a real VM. Builds a Debian 12 box from this
 * machine's apt mirror (cached), `vagrant up` with the project's Vagrantfile (libvirt, software
 * emulation by default), provisioning, the test suite inside, and destroys the VM.
 */
import { formatTable } from "../lib/table.ts";
import { consoleProgress } from "../lib/progress.ts";
import { applyVmCheck, destroyHint, probeVmFacts } from "../lib/vm/apply.ts";
import { planVmCheck, testCommand } from "../lib/vm/plan.ts";
import { formatElapsed, parseNotInstalled, parseTestSummary } from "../lib/vm/report.ts";
import { DEFAULT_VM_DIR, vmCheckSettings } from "../lib/vm/settings.ts";
import { type Command, runCommandMain } from "./command.ts";

export const vmCheck: Command = {
  summary: "Prove the Vagrant VM: build a Debian 12 box, vagrant up, provision, test, destroy",
  usage: `Usage: deno task vm-check [--rebuild-box] [--keep] [--dry-run] [-- test-args]

As root, on a machine with libvirt and Vagrant (apt-get install vagrant vagrant-libvirt
libvirt-daemon-system qemu-system-x86 qemu-utils debootstrap dnsmasq-base rsync):
  1. starts virtlogd and libvirtd when they are not running (no systemd needed);
  2. builds a Debian 12 Vagrant box from the Debian mirror this machine's apt uses (debootstrap,
     no boot loader: the box boots its kernel directly), once: it is cached;
  3. vagrant up with the project's Vagrantfile (P4CF_VAGRANT_BOX, libvirt driver qemu: software
     emulation, so no hardware virtualization is needed);
  4. vagrant provision (lab/provision.sh, as the Vagrantfile runs it): a package source it
     cannot reach (p4lang's, Kubernetes', CRI-O's) is reported and skipped;
  5. the README's test command inside the VM: deno task test in /vagrant, run with the VM
     user's sudo;
  6. vagrant destroy, also after a failure or Ctrl-C.
Each step's output goes to a log; a progress line with the elapsed time comes every 30 s. Exits 0
when every step worked and no test failed.

Options:
  --rebuild-box   Build the box again even when it is cached
  --keep          Leave the VM running at the end (vagrant ssh into it; destroy it yourself)
  --dry-run       Print the plan and exit
  -- ARGS         Arguments for deno task test inside the VM (e.g. -- tests/criu)

Environment:
  P4CF_VM_DIR=${DEFAULT_VM_DIR}   the cache: box, Vagrant's home and state, logs (~3 GB)
  P4CF_VM_CPUS=2, P4CF_VM_MEMORY_MB=5120   the VM's size
  P4CF_VM_DRIVER=qemu|kvm           libvirt's domain type (kvm needs hardware virtualization)
  P4CF_VM_TEST_TIMEOUT_S=7200       bound of the test run inside (its --timeout)
  P4CF_VM_COMMAND_TIMEOUT_S=900     each command's bound inside (P4CF_COMMAND_TIMEOUT_S there:
                                    an emulated CPU is many times slower)`,
  options: {
    "rebuild-box": { type: "boolean" },
    keep: { type: "boolean" },
    "dry-run": { type: "boolean" },
  },
  async run(values, _positionals, passthrough) {
    const settings = vmCheckSettings({
      rebuildBox: values["rebuild-box"] === true,
      keep: values.keep === true,
      testArgs: passthrough,
    }, Deno.env.toObject());
    const repo = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
    const facts = await probeVmFacts(settings, repo);
    const steps = planVmCheck(settings, facts);
    if (values["dry-run"]) {
      for (const s of steps) {
        const env = Object.entries(s.env).map(([k, v]) => `${k}=${v}`).join(" ");
        console.log(`${s.id.padEnd(15)} ${env ? `${env} ` : ""}${s.argv.join(" ")}`);
      }
      return 0;
    }
    const progress = consoleProgress();
    progress.info(`cache ${settings.dir}; logs ${settings.logDir}`);
    progress.info(`inside the VM: ${testCommand(settings)}`);
    const start = performance.now();
    const results = await applyVmCheck(settings, steps, { progress });
    const total = performance.now() - start;

    console.log(formatTable(
      ["step", "result", "time"],
      [
        ...results.map((r) => [r.id, r.status, r.status === "skipped" ? "" : formatElapsed(r.ms)]),
        ["total", "", formatElapsed(total)],
      ],
    ));
    const read = (id: string) => {
      const r = results.find((x) => x.id === id);
      try {
        return r ? Deno.readTextFileSync(r.log) : "";
      } catch {
        return "";
      }
    };
    const notInstalled = parseNotInstalled(read("provision"));
    if (notInstalled.length) {
      console.log("Not installed in the VM (sources not reachable from here, or missing):");
      for (const n of notInstalled) console.log(`  - ${n}`);
    }
    const summary = parseTestSummary(read("test"));
    if (summary) {
      if (summary.skipReasons) console.log(`In the VM: ${summary.skipReasons}`);
      console.log(
        `In the VM: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`,
      );
    } else if (results.some((r) => r.id === "test" && r.status !== "skipped")) {
      console.log("In the VM: the test run printed no summary (see its log)");
    }
    if (results.find((r) => r.id === "test")?.code === 255) {
      console.log(
        `The VM stopped answering ssh for 5 min; its kernel's last words: ${settings.logDir}/console.log`,
      );
    }
    if (settings.keep) {
      console.log(`The VM is left running; remove it with: ${destroyHint(settings)}`);
    }
    const failed = results.some((r) => r.status === "failed" || r.status === "interrupted");
    return !failed && summary !== undefined && summary.failed === 0 ? 0 : 1;
  },
};

if (import.meta.main) Deno.exit(await runCommandMain("vm-check", vmCheck, Deno.args));
