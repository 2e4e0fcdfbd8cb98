/**
 * The settings of `deno task vm-check`, from its options and the environment, with the paths it
 * derives from them. Everything large (the box, the VM's state, logs) lives under one cache
 * directory outside the repository.
 *
 * ```ts
 * const s = vmCheckSettings({}, { P4CF_VM_DIR: "/opt/vm" });
 * s.boxFile; // "/opt/vm/p4cf-debian12.box"
 * ```
 *
 * @module
 */
import { UserError } from "../errors.ts";

/** The cache directory when `P4CF_VM_DIR` is not set. */
export const DEFAULT_VM_DIR = "/var/lib/p4cf-vm";

/** The libvirt domain's name prefix: the domain is `<prefix>default`. */
export const DOMAIN_PREFIX = "p4cf-vmcheck-";

export interface VmCheckSettings {
  /** Cache directory: the box file, Vagrant's home (the added box) and state, logs. */
  dir: string;
  /** The box's name for Vagrant. */
  boxName: string;
  cpus: number;
  memoryMb: number;
  /** libvirt's domain type: `qemu` (software emulation) or `kvm`. */
  driver: "qemu" | "kvm";
  /** Build the box again even when it exists. */
  rebuildBox: boolean;
  /** Leave the VM running at the end (for a look inside with `vagrant ssh`). */
  keep: boolean;
  /** Bound of the test run inside the VM, in seconds (its `--timeout`). */
  testTimeoutS: number;
  /** Bound of each command the tests run inside the VM (P4CF_COMMAND_TIMEOUT_S there). */
  commandTimeoutS: number;
  /** Arguments for `deno task test` inside the VM (paths, --filter …). */
  testArgs: string[];
  /** The box file, the scratch directory its build uses, Vagrant's home and state, logs. */
  boxFile: string;
  workDir: string;
  vagrantHome: string;
  vagrantState: string;
  logDir: string;
  /** The libvirt domain Vagrant creates. */
  domain: string;
}

export interface VmCheckOptions {
  rebuildBox?: boolean;
  keep?: boolean;
  testArgs?: string[];
}

/**
 * The settings from options and environment:
 * `P4CF_VM_DIR` (default /var/lib/p4cf-vm), `P4CF_VM_CPUS` (2), `P4CF_VM_MEMORY_MB` (5120),
 * `P4CF_VM_DRIVER` (qemu), `P4CF_VM_TEST_TIMEOUT_S` (7200), `P4CF_VM_COMMAND_TIMEOUT_S` (900).
 *
 * @throws {UserError} for a setting that is not valid, naming it.
 */
export function vmCheckSettings(
  options: VmCheckOptions,
  env: Record<string, string | undefined>,
  now: Date = new Date(),
): VmCheckSettings {
  const dir = (env.P4CF_VM_DIR || DEFAULT_VM_DIR).replace(/\/+$/, "");
  if (!dir.startsWith("/")) {
    throw new UserError(`P4CF_VM_DIR="${dir}" is not an absolute path`, {
      hint: "set it to a directory with ~10 GB free outside the repository, e.g. /var/lib/p4cf-vm",
    });
  }
  const driver = env.P4CF_VM_DRIVER || "qemu";
  if (driver !== "qemu" && driver !== "kvm") {
    throw new UserError(`P4CF_VM_DRIVER="${driver}" is neither qemu nor kvm`, {
      hint: "qemu: software emulation, works everywhere (slow); kvm: hardware virtualization",
    });
  }
  const stamp = now.toISOString().replace(/[:.]/g, "-").slice(0, 19);
  return {
    dir,
    boxName: "p4cf/debian12",
    cpus: positive(env, "P4CF_VM_CPUS", 2),
    memoryMb: positive(env, "P4CF_VM_MEMORY_MB", 5120),
    driver,
    rebuildBox: options.rebuildBox ?? false,
    keep: options.keep ?? false,
    testTimeoutS: positive(env, "P4CF_VM_TEST_TIMEOUT_S", 7200),
    commandTimeoutS: positive(env, "P4CF_VM_COMMAND_TIMEOUT_S", 900),
    testArgs: options.testArgs ?? [],
    boxFile: `${dir}/p4cf-debian12.box`,
    workDir: `${dir}/box-build`,
    vagrantHome: `${dir}/vagrant.d`,
    vagrantState: `${dir}/vagrant-state`,
    logDir: `${dir}/logs/${stamp}`,
    domain: `${DOMAIN_PREFIX}default`,
  };
}

function positive(env: Record<string, string | undefined>, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    throw new UserError(`${name}="${raw}" is not a positive whole number`, {
      hint: `unset it for the default (${fallback})`,
    });
  }
  return n;
}
