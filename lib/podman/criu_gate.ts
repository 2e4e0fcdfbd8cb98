/**
 * A gate in front of CRIU for the restore of a prepared container, so that Podman and runc do
 * their part of the restore while the source is still being dumped.
 *
 * Podman's restore spends 60-150 ms (more on a busy machine) before runc first runs CRIU: its
 * checks (`criu swrk` for the version, `runc checkpoint --help`), mounting the root file system,
 * writing the OCI spec, starting conmon and runc. None of it needs CRIU's images, only that a
 * `checkpoint/inventory.img` exists. So the migration sends the restore to its own Podman API
 * service (lib/podman/api.ts) as the dump starts, with a placeholder inventory, and that service
 * runs runc with `--criu <gate>` ({@link gateRuntimeFlag}): runc's first act, its CRIU version
 * check, waits in the gate until the images are in place ({@link GatePaths.ready}), then the gate
 * becomes CRIU. A failed dump opens it the other way ({@link GatePaths.abort}): runc fails, so
 * does Podman's restore, and nothing was restored.
 *
 * Only that service's runc calls go through the gate; every other Podman command (the peer
 * bench's among them) runs CRIU as always.
 *
 * @module
 */
import { shellQuote } from "../shell.ts";

export interface GatePaths {
  /** The gate script. */
  script: string;
  /** Created when the images are in place: the gate lets CRIU run. */
  ready: string;
  /** Created when the dump failed: the gate fails. */
  abort: string;
  /** A FIFO nobody writes to: the gate's 2 ms wait without starting a process. */
  fifo: string;
}

/** The gate's files in a migration's directory. */
export function gatePaths(dir: string): GatePaths {
  return {
    script: `${dir}/criu-gate`,
    ready: `${dir}/criu-gate.ready`,
    abort: `${dir}/criu-gate.abort`,
    fifo: `${dir}/criu-gate.fifo`,
  };
}

/** How long the gate waits at most before it fails, ms. */
export const GATE_TIMEOUT_MS = 10_000;

/** The migrating process, by pid and start time (/proc/<pid>/stat field 22). */
export interface GateOwner {
  pid: number;
  startTime: string;
}

/**
 * The gate (bash: `read -t` waits without a process; see {@link GatePaths.fifo}). It also fails
 * as soon as `owner` is gone (a killed migration: `lab recover` and `lab down` need not wait).
 */
export function gateScript(
  paths: GatePaths,
  criu: string,
  owner: GateOwner,
  timeoutMs = GATE_TIMEOUT_MS,
): string {
  const q = shellQuote;
  if (!/^\d+$/.test(owner.startTime)) throw new RangeError(`bad start time "${owner.startTime}"`);
  return `#!/bin/bash
# Written by P4ContainerFlow (lib/podman/criu_gate.ts): runc's CRIU for one restore; waits until
# the migration has put CRIU's images in place.
owner() {
  local st
  st=$(< /proc/${owner.pid}/stat) 2>/dev/null || return 1
  read -r -a f <<< "\${st##*) }"
  [ "\${f[19]}" = ${owner.startTime} ]
}
for ((i = 0; i < ${Math.ceil(timeoutMs / 2)}; i++)); do
  [ -e ${q(paths.ready)} ] && exec ${q(criu)} "$@"
  [ -e ${q(paths.abort)} ] && { echo "the migration's dump failed" >&2; exit 1; }
  owner || { echo "the migration (pid ${owner.pid}) is gone" >&2; exit 1; }
  read -r -t 0.002 _ <> ${q(paths.fifo)}
done
echo "no checkpoint images within ${timeoutMs} ms" >&2
exit 1
`;
}

/** Podman's `--runtime-flag` that makes runc run CRIU through the gate. */
export function gateRuntimeFlag(paths: GatePaths): string[] {
  return ["--runtime-flag", `criu=${paths.script}`];
}

/** Makes the gate's FIFO. */
export function mkfifoArgv(paths: GatePaths): string[] {
  return ["mkfifo", "--mode", "600", paths.fifo];
}

/**
 * What Podman's restore checks before it restores a container from its own directory: that the
 * checkpoint has an inventory. The real one replaces it before the gate opens.
 */
export const PLACEHOLDER_INVENTORY = "inventory.img";
