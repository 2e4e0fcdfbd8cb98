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
 * check, waits in the gate until the migration opens it with the images in place, then the gate
 * becomes CRIU. A failed dump opens it the other way: runc fails, so does Podman's restore, and
 * nothing was restored. The gate is the one the process migration holds its CRIU runs at
 * (lib/criu/run_gate.ts): a lock that the kernel releases if the migration dies.
 *
 * Only that service's runc calls go through the gate; every other Podman command (the peer
 * bench's among them) runs CRIU as always.
 *
 * @module
 */
import { GATE_GO, GATE_STOP, GATE_TIMEOUT, gateReadSh } from "../criu/run_gate.ts";
import { shellQuote } from "../shell.ts";

export interface GatePaths {
  /** The gate script runc runs as its CRIU. */
  script: string;
  /** The gate itself, a {@link ../criu/run_gate.ts RunGate} the migration holds closed. */
  gate: string;
}

/** The gate's files in a migration's directory. */
export function gatePaths(dir: string): GatePaths {
  return { script: `${dir}/criu-gate`, gate: `${dir}/criu-gate.lock` };
}

/** How long the gate waits at most before it fails, ms. */
export const GATE_TIMEOUT_MS = 10_000;

/**
 * The gate script: it waits at the migration's {@link ../criu/run_gate.ts RunGate}, then runs
 * CRIU when it opens with "go", and fails when it opens with "stop" (the dump failed), when the
 * migration died holding it (`lab recover` and `lab down` need not wait), or after `timeoutMs`.
 * Once open, it stays open: runc runs CRIU more than once.
 */
export function gateScript(paths: GatePaths, criu: string, timeoutMs = GATE_TIMEOUT_MS): string {
  const seconds = timeoutMs / 1000;
  return `#!/bin/sh
# Written by P4ContainerFlow (lib/podman/criu_gate.ts): runc's CRIU for one restore; waits until
# the migration has put CRIU's images in place.
${gateReadSh(paths.gate, seconds)}
case "$gate" in
  ${GATE_GO}) exec ${shellQuote(criu)} "$@" ;;
  ${GATE_STOP}) echo "the migration's dump failed" >&2 ;;
  ${GATE_TIMEOUT}) echo "no checkpoint images within ${timeoutMs} ms" >&2 ;;
  *) echo "the migration is gone" >&2 ;;
esac
exit 1
`;
}

/** Podman's `--runtime-flag` that makes runc run CRIU through the gate. */
export function gateRuntimeFlag(paths: GatePaths): string[] {
  return ["--runtime-flag", `criu=${paths.script}`];
}

/**
 * What Podman's restore checks before it restores a container from its own directory: that the
 * checkpoint has an inventory. The real one replaces it before the gate opens.
 */
export const PLACEHOLDER_INVENTORY = "inventory.img";
