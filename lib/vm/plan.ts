/**
 * What `deno task vm-check` does, as data: the steps (argv, environment, time bound, what a
 * failure means) from the settings and what is already in place. Pure, so tests check the whole
 * plan without root, libvirt or a VM; {@link ./apply.ts} runs it.
 *
 * ```ts
 * const steps = planVmCheck(settings, { boxFile: false, boxAdded: false, virtlogd: true,
 *   libvirtd: true, mirror: { archive: "http://deb.example/debian" }, caFiles: [], repo: "/src" });
 * steps.map((s) => s.id); // ["build-box", "add-box", "up", "provision", "test", "destroy"]
 * ```
 *
 * @module
 */
import type { DebianMirror } from "./apt_mirror.ts";
import { DOMAIN_PREFIX, type VmCheckSettings } from "./settings.ts";

export type VmStepId =
  | "start-virtlogd"
  | "start-libvirtd"
  | "build-box"
  | "add-box"
  | "drop-box-volumes"
  | "up"
  | "provision"
  | "test"
  | "destroy"
  | "stop-libvirtd"
  | "stop-virtlogd";

export interface VmStep {
  id: VmStepId;
  /** What the step does, for its progress line. */
  title: string;
  argv: string[];
  /** Added to the environment of the command. */
  env: Record<string, string>;
  /** Working directory (the repository for Vagrant: its Vagrantfile). */
  cwd: string;
  timeoutMs: number;
  /**
   * `stop`: the check cannot go on without it (the cleanup still runs); `continue`: reported,
   * the next steps run (provisioning reports what it could not install and goes on, and the tests
   * say what is missing); `cleanup`: runs at the end whatever happened, also after Ctrl-C.
   */
  onFailure: "stop" | "continue" | "cleanup";
}

/** What is in place before the check starts (probed by apply.ts). */
export interface VmFacts {
  /** The box file exists in the cache directory. */
  boxFile: boolean;
  /** Vagrant (with the cache's VAGRANT_HOME) already has the box. */
  boxAdded: boolean;
  virtlogd: boolean;
  libvirtd: boolean;
  /** This machine's Debian mirror (from its apt sources), for the box. */
  mirror: DebianMirror;
  /** Certificates this machine trusts beyond the distribution's (an egress proxy's). */
  caFiles: string[];
  /** apt settings the mirror needs here (apt.conf lines: proxies, old release files). */
  aptSettings: string[];
  /** The repository: its Vagrantfile and lab/provision.sh. */
  repo: string;
}

const MIN = 60_000;

/**
 * ssh options of the test run: a VM that stops answering for 5 minutes ends the step (ssh exits
 * 255) instead of holding it for the run's whole bound, since an idle ssh never notices; the
 * console log then says what the guest's kernel last did.
 */
export const SSH_KEEPALIVE = ["-o", "ServerAliveInterval=30", "-o", "ServerAliveCountMax=10"];

/** The environment every `vagrant` command of the check runs with (see the Vagrantfile). */
export function vagrantEnv(s: VmCheckSettings): Record<string, string> {
  return {
    VAGRANT_HOME: s.vagrantHome,
    VAGRANT_DOTFILE_PATH: s.vagrantState,
    VAGRANT_DEFAULT_PROVIDER: "libvirt",
    P4CF_VAGRANT_BOX: s.boxName,
    P4CF_VAGRANT_CPUS: String(s.cpus),
    P4CF_VAGRANT_MEMORY: String(s.memoryMb),
    P4CF_LIBVIRT_DRIVER: s.driver,
    P4CF_LIBVIRT_PREFIX: DOMAIN_PREFIX,
    // The guest kernel's messages, for a VM that stops answering (read with the other logs).
    P4CF_LIBVIRT_CONSOLE_LOG: `${s.logDir}/console.log`,
  };
}

/**
 * The command inside the VM: the README's test command as the VM's user runs it (with sudo),
 * with the run's bound and each command's bound raised for an emulated CPU.
 */
export function testCommand(s: VmCheckSettings): string {
  const args = s.testArgs.map(shellQuote).join(" ");
  return `cd /vagrant && sudo env P4CF_COMMAND_TIMEOUT_S=${s.commandTimeoutS} ` +
    `deno task test --timeout ${s.testTimeoutS}${args ? ` ${args}` : ""}`;
}

/** The steps, in order. Steps already done (a built box, a running libvirtd) are left out. */
export function planVmCheck(s: VmCheckSettings, facts: VmFacts): VmStep[] {
  const steps: VmStep[] = [];
  const host = (
    id: VmStepId,
    title: string,
    argv: string[],
    timeoutMs: number,
    onFailure: VmStep["onFailure"] = "stop",
  ) => steps.push({ id, title, argv, env: {}, cwd: facts.repo, timeoutMs, onFailure });
  const vagrant = (
    id: VmStepId,
    title: string,
    args: string[],
    timeoutMs: number,
    onFailure: VmStep["onFailure"],
  ) =>
    steps.push({
      id,
      title,
      argv: ["vagrant", ...args],
      env: vagrantEnv(s),
      cwd: facts.repo,
      timeoutMs,
      onFailure,
    });

  // No systemd here (or none at all): libvirt's daemons are started by hand.
  if (!facts.virtlogd) host("start-virtlogd", "start virtlogd", ["virtlogd", "--daemon"], MIN);
  if (!facts.libvirtd) host("start-libvirtd", "start libvirtd", ["libvirtd", "--daemon"], MIN);
  const build = s.rebuildBox || !facts.boxFile;
  if (build) {
    steps.push({
      id: "build-box",
      title: `build the Debian 12 box from ${facts.mirror.archive} (debootstrap, ~2-5 min)`,
      argv: [
        "bash",
        `${facts.repo}/lab/vm/build-box.sh`,
        s.boxFile,
        s.workDir,
        facts.mirror.archive,
        facts.mirror.security ?? "-",
        ...facts.caFiles,
      ],
      env: { P4CF_BOX_APT_CONF: facts.aptSettings.map((l) => `${l}\n`).join("") },
      cwd: facts.repo,
      timeoutMs: 30 * MIN,
      onFailure: "stop",
    });
  }
  if (build || !facts.boxAdded) {
    vagrant(
      "add-box",
      `vagrant box add ${s.boxName}`,
      ["box", "add", "--force", "--name", s.boxName, s.boxFile],
      10 * MIN,
      "stop",
    );
  }
  if (build) {
    // vagrant-libvirt uploads a box into libvirt's pool once per box file; a rebuilt box's old
    // copies would stay there for good.
    host(
      "drop-box-volumes",
      "remove the old box's copies from libvirt's storage pool",
      ["bash", "-c", dropVolumesScript(boxVolumePrefix(s.boxName), s.domain)],
      5 * MIN,
      "continue",
    );
  }
  vagrant(
    "up",
    `vagrant up (libvirt, ${s.driver}, ${s.cpus} vCPUs, ${s.memoryMb} MB)`,
    ["up", "--provider", "libvirt", "--no-provision"],
    30 * MIN,
    "stop",
  );
  vagrant(
    "provision",
    "provisioning inside the VM (lab/provision.sh)",
    ["provision"],
    150 * MIN,
    "continue",
  );
  vagrant(
    "test",
    "the tests inside the VM (deno task test)",
    ["ssh", "-c", testCommand(s), "--", ...SSH_KEEPALIVE],
    (s.testTimeoutS + 10 * 60) * 1000,
    "continue",
  );
  if (!s.keep) {
    vagrant("destroy", "destroy the VM", ["destroy", "--force"], 10 * MIN, "cleanup");
    // The daemons the check started go too (by their pid files: others' are left alone).
    for (const d of ["libvirtd", "virtlogd"] as const) {
      if (facts[d]) continue;
      host(
        `stop-${d}`,
        `stop the ${d} it started`,
        ["bash", "-c", `p=$(cat /run/${d}.pid 2>/dev/null) && kill "$p" || true`],
        MIN,
        "cleanup",
      );
    }
  }
  return steps;
}

/** Quotes a word for a POSIX shell (the command `vagrant ssh -c` runs). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./=:@%+,-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The name vagrant-libvirt gives a box's copies in libvirt's storage pool (up to a timestamp). */
export function boxVolumePrefix(boxName: string): string {
  return `${boxName.replaceAll("/", "-VAGRANTSLASH-")}_vagrant_box_image_`;
}

/** Not while the check's VM exists (a VM kept with --keep runs on one of them). */
export function dropVolumesScript(prefix: string, domain: string): string {
  const virsh = "virsh -c qemu:///system";
  return `${virsh} pool-info default >/dev/null 2>&1 || exit 0; ` +
    `if ${virsh} domstate ${domain} >/dev/null 2>&1; then echo "${domain} exists: kept"; exit 0; fi; ` +
    `vols=$(${virsh} vol-list default) || exit 1; ` +
    `for v in $(awk 'NR > 2 {print $1}' <<<"$vols" | grep -F ${shellQuote(prefix)}); do ` +
    `${virsh} vol-delete --pool default "$v" && echo "removed $v"; done`;
}
