/**
 * What this machine can do: root, network namespaces, CRIU, Podman, BMv2, p4c. Tools are found
 * through lib/tools.ts (explicit settings such as P4CF_BMV2, then PATH, then install directories).
 * Each probe returns `undefined` when the capability is present, or the reason it is not (with
 * what to do about it). Used by `main.ts doctor`, by the CLI before long operations, and by the
 * test tiers.
 *
 * @module
 */
import { kubernetesMissing } from "./kubernetes/cluster/binaries.ts";
import { findTool, isExecutable, searchDirs } from "./tools.ts";

export type Capability =
  | "root"
  | "netns"
  | "criu"
  | "podman"
  | "bmv2"
  | "p4c"
  | "redis"
  /** The programs of a Kubernetes lab's own cluster (lib/kubernetes/cluster/binaries.ts). */
  | "kubernetes";

/** The oldest CRIU that dumps TCP sockets on current kernels (4.1 fails on SO_PASSSEC). */
export const CRIU_MIN_VERSION = [4, 2] as const;

const PROVISION_HINT = "run `bash lab/provision.sh` as root";

/** Finds an executable on PATH, or undefined. */
export function which(cmd: string): string | undefined {
  if (cmd.includes("/")) return isExecutable(cmd) ? cmd : undefined;
  return searchDirs(cmd, (Deno.env.get("PATH") ?? "").split(":"));
}

/** The CRIU binary to use: $CRIU, else `criu` on PATH or in /usr/local/sbin etc. (lib/tools.ts). */
export function criuBinary(): string | undefined {
  return findTool("criu").path;
}

/** Parses `criu --version` output ("Version: 4.2.1") into numbers. */
export function parseCriuVersion(text: string): number[] | undefined {
  const m = /^Version:\s*(\d+)\.(\d+)(?:\.(\d+))?/m.exec(text);
  return m ? m.slice(1).filter((x) => x !== undefined).map(Number) : undefined;
}

function versionAtLeast(v: number[], min: readonly number[]): boolean {
  for (let i = 0; i < min.length; i++) {
    const a = v[i] ?? 0;
    if (a !== min[i]) return a > min[i];
  }
  return true;
}

export function criuCapability(): string | undefined {
  if (Deno.uid() !== 0) return "CRIU needs root";
  const criu = findTool("criu");
  if (!criu.path) return criu.reason;
  const bin = criu.path;
  const out = new Deno.Command(bin, { args: ["--version"], stdout: "piped", stderr: "null" })
    .outputSync();
  const version = parseCriuVersion(new TextDecoder().decode(out.stdout));
  if (!version || !versionAtLeast(version, CRIU_MIN_VERSION)) {
    return `${bin} is version ${version?.join(".") ?? "unknown"}, ` +
      `CRIU >= ${CRIU_MIN_VERSION.join(".")} is needed on this kernel; ${PROVISION_HINT}`;
  }
  return undefined;
}

/** Probes one capability; undefined means present. */
export function probeCapability(cap: Capability): string | undefined {
  switch (cap) {
    case "root":
      return Deno.uid() === 0 ? undefined : "not running as root; run it as root";
    case "netns":
      if (Deno.uid() !== 0) return "network namespaces need root";
      return findTool("ip").path && findTool("nsenter").path
        ? undefined
        : `iproute2 or nsenter is not installed; ${PROVISION_HINT}`;
    case "criu":
      return criuCapability();
    case "podman":
      if (Deno.uid() !== 0) return "Podman labs need root";
      return findTool("podman").reason ?? findTool("runc").reason;
    case "bmv2":
      return findTool("bmv2").reason;
    case "p4c":
      return findTool("p4c").reason ?? findTool("p4c-bm2-ss").reason;
    case "redis":
      return findTool("redis-server").reason;
    case "kubernetes":
      return kubernetesMissing();
  }
}
