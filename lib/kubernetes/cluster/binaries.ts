/**
 * The programs a lab's own Kubernetes cluster runs, found on this machine: first in the directory
 * named by `P4CF_KUBERNETES_BIN` (binaries built or unpacked somewhere private), then on PATH.
 * Nothing is downloaded and no path is hard-coded.
 *
 * ```ts
 * const reason = kubernetesMissing();
 * if (reason) console.log(`no cluster here: ${reason}`);
 * else console.log(findBinaries().kubelet);
 * ```
 *
 * @module
 */
import { criuCapability, which } from "../../capabilities.ts";
import { MissingCapabilityError } from "../../errors.ts";

/** The environment variable naming a directory searched before PATH. */
export const BIN_ENV = "P4CF_KUBERNETES_BIN";

/** Kubernetes and CRI-O programs (from their apt repositories, or a directory of binaries). */
export const KUBERNETES_PROGRAMS = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kubelet",
  "crio",
  "pinns",
  "crictl",
] as const;

/** What CRI-O runs containers and images with, and what sets the cluster up (distribution packages). */
export const NODE_TOOLS = [
  "runc",
  "conmon",
  "openssl",
  "podman",
  "gcc",
  "unshare",
  "nsenter",
] as const;

export type ProgramName = typeof KUBERNETES_PROGRAMS[number] | typeof NODE_TOOLS[number];

/** Absolute path of every program the cluster needs. */
export type ClusterBinaries = Record<ProgramName, string>;

/** Where a program is: `$P4CF_KUBERNETES_BIN/<name>` when executable there, else on `$PATH`. */
export function findProgram(
  name: string,
  env: Record<string, string | undefined> = Deno.env.toObject(),
): string | undefined {
  const dirs = [env[BIN_ENV], ...(env.PATH ?? "").split(":")];
  for (const dir of dirs) {
    if (!dir) continue;
    const path = which(`${dir.replace(/\/+$/, "")}/${name}`);
    if (path) return path;
  }
  return undefined;
}

/** The programs found, and the names of those that are not. */
export function lookupBinaries(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): { found: Partial<ClusterBinaries>; missing: ProgramName[] } {
  const found: Partial<ClusterBinaries> = {};
  const missing: ProgramName[] = [];
  for (const name of [...KUBERNETES_PROGRAMS, ...NODE_TOOLS]) {
    const path = findProgram(name, env);
    if (path) found[name] = path;
    else missing.push(name);
  }
  return { found, missing };
}

const KUBERNETES_HINT = "the Vagrant VM installs Kubernetes and CRI-O (`vagrant up`); elsewhere " +
  `point ${BIN_ENV} at a directory holding them: kube-apiserver, kube-controller-manager, ` +
  "kube-scheduler and kubelet from Kubernetes' server release archive " +
  "(kubernetes-server-linux-amd64.tar.gz), crio and pinns from CRI-O's release or apt repository, " +
  "crictl from cri-tools, etcd from your distribution (etcd-server) or etcd's release";

/** Why this machine cannot run the lab's cluster, or undefined when it can. */
export function kubernetesMissing(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): string | undefined {
  if (Deno.uid() !== 0) return "the Kubernetes runtime needs root";
  const reasons: string[] = [];
  const { missing } = lookupBinaries(env);
  const k8s = missing.filter((m) => (KUBERNETES_PROGRAMS as readonly string[]).includes(m));
  const tools = missing.filter((m) => (NODE_TOOLS as readonly string[]).includes(m));
  if (k8s.length) reasons.push(`${k8s.join(", ")} not found; ${KUBERNETES_HINT}`);
  if (tools.length) {
    reasons.push(
      `${
        tools.join(", ")
      } not found; install them (Debian/Ubuntu: runc conmon openssl podman gcc ` +
        "util-linux) or run `sudo bash lab/provision.sh`",
    );
  }
  // CRI-O checkpoints containers with CRIU (enable_criu_support), which the migration needs.
  const criu = criuCapability();
  if (criu) reasons.push(criu);
  return reasons.length ? reasons.join("; ") : undefined;
}

/**
 * Every program's path.
 *
 * @throws {MissingCapabilityError} naming what is missing and how to get it.
 */
export function findBinaries(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): ClusterBinaries {
  const { found, missing } = lookupBinaries(env);
  if (missing.length) {
    throw new MissingCapabilityError(
      `Cannot run a Kubernetes cluster: ${missing.join(", ")} not found`,
      {
        hint: KUBERNETES_HINT,
      },
    );
  }
  return found as ClusterBinaries;
}
