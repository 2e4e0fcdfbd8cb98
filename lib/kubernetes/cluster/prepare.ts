/**
 * The parts of `up` before any process starts: the ports must be free, the directories exist
 * (owner-only), the certificates and configuration files are written.
 *
 * @module
 */
import { namespaceObject } from "../namespace.ts";
import { UserError } from "../../errors.ts";
import { describeOwner, portOwners } from "../../net/port_owner.ts";
import type { Shell } from "../../shell.ts";
import { clusterPorts, type ClusterSpec } from "./components.ts";
import {
  crioConf,
  kubeconfigs,
  kubeletConfig,
  manifest,
  type NodeIdentity,
  PAUSE_IMAGE,
  rbacObjects,
  SYSTEM_CNI_DIRS,
} from "./config.ts";
import type { ClusterPaths } from "./paths.ts";
import { issueCertificates, pkiPlan } from "./pki.ts";

/**
 * A kubelet or CRI-O running on this machine other than the pids in `except` (another lab's
 * cluster, or the machine's own), described, or undefined.
 */
export function runningNodeProcess(except: ReadonlySet<number> = new Set()): string | undefined {
  const found = nodeProcess(except);
  return found && `${found.comm} (pid ${found.pid})`;
}

/** {@link runningNodeProcess}'s process: its name and pid, or undefined. */
export function nodeProcess(
  except: ReadonlySet<number> = new Set(),
): { comm: "kubelet" | "crio"; pid: number } | undefined {
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || except.has(Number(e.name))) continue;
    try {
      const comm = Deno.readTextFileSync(`/proc/${e.name}/comm`).trim();
      if (comm === "kubelet" || comm === "crio") return { comm, pid: Number(e.name) };
    } catch {
      // Exited meanwhile.
    }
  }
  return undefined;
}

/**
 * Refuses before anything is created when another kubelet or CRI-O runs (the cluster changes
 * machine-wide settings — sysctls, /etc/criu/runc.conf, /var/lib/kubelet — that two clusters
 * would fight over) or a port of the cluster is taken.
 */
export function checkPorts(node: Pick<NodeIdentity, "ports">): void {
  const other = runningNodeProcess();
  if (other) {
    throw new UserError(
      `Cannot start the lab's Kubernetes cluster: ${other} already runs on this machine`,
      {
        hint: "one Kubernetes lab runs at a time (its cluster changes machine-wide settings): " +
          "take the other lab down, or use that cluster with `lab up <lab> --kubeconfig <file>`",
      },
    );
  }
  for (const port of clusterPorts(node)) {
    const owners = portOwners(port);
    if (owners.length) {
      throw new UserError(
        `Cannot start the lab's Kubernetes cluster: port ${port} is in use by ${
          owners.map(describeOwner).join(", ")
        }`,
        {
          hint: "the lab's cluster ports are derived from its id: take down the lab holding " +
            "them (`deno task lab down <lab>`), stop that process, or give the lab another id",
        },
      );
    }
  }
}

/** etcd >= 3.5 can skip fsync (a throwaway cluster: starts much faster on slow disks). */
export async function etcdCanSkipFsync(shell: Shell, etcd: string): Promise<boolean> {
  const out = await shell.run([etcd, "--version"], { check: false });
  const m = /etcd Version: (\d+)\.(\d+)/.exec(out.stdout);
  return m !== null && (Number(m[1]) > 3 || (Number(m[1]) === 3 && Number(m[2]) >= 5));
}

async function writePrivate(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text, { mode: 0o600 });
  await Deno.chmod(path, 0o600);
}

/** Certificates, kubeconfigs, crio.conf, kubelet configuration, RBAC manifest. */
export async function writeConfiguration(shell: Shell, spec: ClusterSpec): Promise<void> {
  const { paths, node, binaries } = spec;
  await issueCertificates(shell, pkiPlan(paths.pkiDir, node));
  for (const [path, text] of kubeconfigs(paths, node)) await writePrivate(path, text);
  // Only the plugin directories this machine has: CRI-O would create the others.
  const systemCniDirs = SYSTEM_CNI_DIRS.filter((d) => {
    try {
      return Deno.statSync(d).isDirectory;
    } catch {
      return false;
    }
  });
  await Deno.writeTextFile(
    paths.crioConf,
    crioConf({ paths, binaries, pauseImage: PAUSE_IMAGE, systemCniDirs }),
  );
  await Deno.writeTextFile(paths.kubeletConfig, kubeletConfig(paths, node));
  await Deno.writeTextFile(
    paths.rbacManifest,
    manifest([...rbacObjects(), namespaceObject(node.namespace)]),
  );
}

export async function makeDirs(paths: ClusterPaths): Promise<void> {
  for (const dir of [paths.root, paths.shortDir]) {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await Deno.chmod(dir, 0o700);
  }
  for (
    const dir of [
      paths.logsDir,
      paths.pidsDir,
      paths.crioStateDir,
      paths.cniBinDir,
      paths.cniConfDir,
      paths.kubeletDir,
      paths.podLogsDir,
      paths.imagesDir,
    ]
  ) await Deno.mkdir(dir, { recursive: true });
  // etcd refuses a data directory others can read.
  await Deno.mkdir(paths.etcdDir, { recursive: true, mode: 0o700 });
}
