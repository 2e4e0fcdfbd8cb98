/**
 * How a Kubernetes lab reaches its cluster, written by `lab up` to `<runDir>/kubernetes.json`
 * and read by everything after it (workloads, the controller's follower, migrations, status,
 * down): the cluster the lab started itself, or one the user brought with `--kubeconfig`.
 *
 * @module
 */
import { UserError } from "../errors.ts";
import { KubeApi } from "./api.ts";

export interface ClusterAccess {
  /** Kubeconfig with full rights in the lab's namespace (the lab's own admin, or the user's). */
  kubeconfig: string;
  /**
   * Kubeconfig allowed only the kubelet checkpoint API through the node proxy (the lab's own
   * cluster); absent: `kubeconfig` is used.
   */
  migratorKubeconfig?: string;
  /** The node the lab's pods run on. */
  node: string;
  /** The podman command that builds images into the cluster's image storage. */
  podman: string[];
  /** Where the kubelet writes pod logs (`<ns>_<pod>_<uid>/<container>/<n>.log`). */
  podLogsDir: string;
  /** The cluster was brought by the user: `down` deletes only the lab's namespace. */
  external: boolean;
}

export function accessPath(runDir: string): string {
  return `${runDir}/kubernetes.json`;
}

export async function writeAccess(runDir: string, access: ClusterAccess): Promise<void> {
  const tmp = `${accessPath(runDir)}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(access, null, 2) + "\n", { mode: 0o600 });
  await Deno.rename(tmp, accessPath(runDir));
}

/** The lab's cluster access, or undefined when the lab never reached `up`'s cluster step. */
export async function readAccess(runDir: string): Promise<ClusterAccess | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(accessPath(runDir))) as ClusterAccess;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/** The lab's cluster access; a UserError saying to bring the lab up when there is none. */
export async function requireAccess(
  lab: { name: string; runDir?: string },
): Promise<ClusterAccess> {
  const access = lab.runDir ? await readAccess(lab.runDir) : undefined;
  if (!access) {
    throw new UserError(`Lab ${lab.name} has no cluster (it is not up)`, {
      hint: `bring it up with \`deno task lab up ${lab.name}\``,
    });
  }
  return access;
}

/** The kubelet's log file of a pod's container, found under the pod logs directory. */
export async function podLogFile(
  access: ClusterAccess,
  namespace: string,
  pod: string,
  container: string,
): Promise<string | undefined> {
  try {
    for await (const e of Deno.readDir(access.podLogsDir)) {
      if (!e.isDirectory || !e.name.startsWith(`${namespace}_${pod}_`)) continue;
      const dir = `${access.podLogsDir}/${e.name}/${container}`;
      const logs: string[] = [];
      for await (const f of Deno.readDir(dir)) if (f.name.endsWith(".log")) logs.push(f.name);
      logs.sort((a, b) => Number.parseInt(a) - Number.parseInt(b));
      if (logs.length) return `${dir}/${logs.at(-1)}`;
    }
  } catch {
    // No logs yet.
  }
  return undefined;
}

/** API clients of a lab's cluster, closed by `await using`. */
export interface ClusterClients extends AsyncDisposable {
  access: ClusterAccess;
  /** Full rights in the lab's namespace. */
  api: KubeApi;
  /** Allowed the kubelet checkpoint API only (the lab's own cluster), else `api`. */
  checkpointApi: KubeApi;
}

/** Opens the lab's cluster clients (a UserError when the lab is not up). */
export async function openClusterClients(
  lab: { name: string; runDir?: string },
): Promise<ClusterClients> {
  const access = await requireAccess(lab);
  const api = await KubeApi.fromKubeconfig(access.kubeconfig);
  const checkpointApi = access.migratorKubeconfig
    ? await KubeApi.fromKubeconfig(access.migratorKubeconfig)
    : api;
  return {
    access,
    api,
    checkpointApi,
    [Symbol.asyncDispose]() {
      api.close();
      if (checkpointApi !== api) checkpointApi.close();
      return Promise.resolve();
    },
  };
}
