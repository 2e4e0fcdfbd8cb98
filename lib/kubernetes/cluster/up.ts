/**
 * `clusterUp`: a throwaway single-node Kubernetes cluster for one lab, from the machine's own
 * binaries, with its own certificates and all its state under the lab's run directory. Every
 * process and every change to the machine is recorded before it is made, so `clusterDown` removes
 * it all, also after `kill -9` of `up`. A healthy cluster of the lab is kept; anything less is
 * removed first and brought up afresh.
 *
 * ```ts
 * const info = await clusterUp(lab, { shell, progress, record });
 * const api = await KubeApi.fromKubeconfig(info.kubeconfig);
 * ```
 *
 * @module
 */
import { namespaceObject } from "../namespace.ts";
import { MissingCapabilityError } from "../../errors.ts";
import { runDirOf } from "../../lab/paths.ts";
import type { Lab } from "../../lab/types.ts";
import type { Progress } from "../../progress.ts";
import type { Shell } from "../../shell.ts";
import type { LabObject } from "../../topology/objects.ts";
import type { KubeApi } from "../api.ts";
import { findBinaries, kubernetesMissing } from "./binaries.ts";
import {
  apiServerArgv,
  type ClusterSpec,
  controllerManagerArgv,
  crioArgv,
  etcdArgv,
  kubeletArgv,
  nodeNamespaceArgv,
  schedulerArgv,
} from "./components.ts";
import {
  type KubeObject,
  type NodeIdentity,
  nodeIdentity,
  objectPath,
  PAUSE_IMAGE,
  rbacObjects,
} from "./config.ts";
import { clusterDown } from "./down.ts";
import { adminClient, answers, nodeReady, plainHealthz, tlsClient, waitHealthy } from "./health.ts";
import {
  ensureCriuRuncConf,
  ensureNodeDevice,
  ensureSharedMount,
  NETNS_DIR,
  recordHardwiredDirs,
  snapshotSysctls,
} from "./host.ts";
import { type ClusterInfo, clusterInfo } from "./info.ts";
import { type ClusterPaths, clusterPaths, type Component, COMPONENTS, exitFile } from "./paths.ts";
import { ensurePauseImage } from "./pause.ts";
import { checkPorts, etcdCanSkipFsync, makeDirs, writeConfiguration } from "./prepare.ts";
import { commOf, processPid, readProcesses, startComponent } from "./processes.ts";

export interface ClusterUpContext {
  shell: Shell;
  progress: Progress;
  /** Records objects in the lab's state file before they are created. */
  record(objects: LabObject[]): Promise<void>;
  /**
   * Installs the lab's CNI plugin and network configuration into `cniBinDir`/`cniConfDir`; run
   * after the directories exist and before CRI-O starts (CRI-O reports the network ready, and
   * the node Ready, only once a configuration is there).
   */
  prepareNetwork?(dirs: { cniBinDir: string; cniConfDir: string }): Promise<void>;
  /** Scales every wait (default 1; slower machines may want 2). */
  timeoutScale?: number;
}

/** True when every recorded process runs and the API server reports the node Ready. */
async function healthy(paths: ClusterPaths, node: NodeIdentity): Promise<boolean> {
  const procs = await readProcesses(paths);
  if (procs.length < COMPONENTS.length || procs.some((p) => processPid(p) === undefined)) {
    return false;
  }
  try {
    using api = await adminClient(paths);
    return (await nodeReady(api, node.nodeName)) === true;
  } catch {
    return false;
  }
}

/** Waits for the node namespace's holder to have its mounts ready; records its namespace. */
async function waitNodeNamespace(paths: ClusterPaths, pid: number, scale: number): Promise<void> {
  await waitHealthy(paths, "node-ns", pid, async () => {
    if (await Deno.stat(paths.nodeNsReady).then(() => true, () => false)) return true;
    if (await Deno.stat(exitFile(paths, "node-ns")).then(() => true, () => false)) {
      return "the namespace script ended";
    }
    return "mounting";
  }, { timeoutMs: 10_000 * scale, intervalMs: 50 });
  await Deno.writeTextFile(paths.nodeNsId, await Deno.readLink(`/proc/${pid}/ns/mnt`));
}

/** Server-side apply of cluster-scoped objects (idempotent). */
async function applyObjects(api: KubeApi, objects: KubeObject[]): Promise<void> {
  for (const obj of objects) {
    await api.request("PATCH", `${objectPath(obj)}?fieldManager=p4cf&force=true`, {
      body: obj,
      contentType: "application/apply-patch+yaml",
    });
  }
}

/**
 * Brings up (or keeps) the lab's cluster and returns how to use it.
 *
 * @throws {MissingCapabilityError} before anything is created when a program is missing.
 * @throws {UserError} when a port is taken or a component does not become healthy (with the
 * tail of its log); what was started stays recorded for `clusterDown`.
 */
export async function clusterUp(
  lab: Pick<Lab, "name" | "id" | "runDir">,
  ctx: ClusterUpContext,
): Promise<ClusterInfo> {
  const { shell, progress } = ctx;
  const scale = ctx.timeoutScale ?? 1;
  const runDir = runDirOf(lab);
  if (!lab.id) throw new TypeError(`Lab ${lab.name} has no id (not made by the lab parser)`);
  const paths = clusterPaths(runDir);
  const node = nodeIdentity(lab.id);
  if (await healthy(paths, node)) {
    progress.info(`cluster of ${lab.name} already up (node ${node.nodeName})`);
    // Recorded again, in case the state file was lost meanwhile (the record skips duplicates).
    await ctx.record([
      { kind: "link", name: node.device },
      ...(await readProcesses(paths)).map((p) => ({ kind: "process" as const, ...p })),
    ]);
    return clusterInfo(paths, node);
  }
  const missing = kubernetesMissing();
  if (missing) {
    throw new MissingCapabilityError(`Cannot bring up lab ${lab.name}'s cluster: ${missing}`, {
      hint: "see README.md (Kubernetes runtime)",
    });
  }
  const binaries = findBinaries();
  if (await Deno.stat(paths.root).then(() => true, () => false)) {
    const done = progress.step("cluster: removing the previous, unhealthy cluster");
    await clusterDown(runDir, { shell, progress });
    done();
  }
  checkPorts(node);
  const spec: ClusterSpec = {
    paths,
    binaries,
    node,
    etcdNoFsync: await etcdCanSkipFsync(shell, binaries.etcd),
  };

  let done = progress.step(`cluster: prepare the machine (node address ${node.nodeIp})`);
  await makeDirs(paths);
  await Deno.writeTextFile(paths.identity, JSON.stringify(node) + "\n");
  await snapshotSysctls(paths);
  await recordHardwiredDirs(paths);
  await ensureCriuRuncConf(paths);
  await ctx.record([{ kind: "link", name: node.device }]);
  await ensureNodeDevice(shell, node);
  // Shared with the node's mount namespace (see components.ts): /run/netns as iproute2 makes it
  // (never undone, like iproute2), and the pods' namespaces (a mount under the run directory,
  // which `down` unmounts).
  await ensureSharedMount(shell, NETNS_DIR);
  await ensureSharedMount(shell, paths.crioNamespacesDir);
  done();

  done = progress.step("cluster: certificates and configuration");
  await writeConfiguration(shell, spec);
  done();

  done = progress.step(`cluster: pause image ${PAUSE_IMAGE}`);
  await ensurePauseImage(shell, binaries, paths);
  if (ctx.prepareNetwork) {
    await ctx.prepareNetwork({ cniBinDir: paths.cniBinDir, cniConfDir: paths.cniConfDir });
  }
  done();

  const start = (name: Component, argv: string[], comm = commOf(argv[0])) =>
    startComponent(ctx, paths, name, argv, comm);

  done = progress.step("cluster: etcd");
  const etcd = await start("etcd", etcdArgv(spec));
  {
    using api = await tlsClient(
      `https://127.0.0.1:${node.ports.etcdClient}`,
      paths.pkiDir,
      "etcd-ca",
      "apiserver-etcd-client",
    );
    await waitHealthy(paths, "etcd", etcd, () => answers(api, "/health"), {
      timeoutMs: 30_000 * scale,
    });
  }
  done();

  // The API server takes seconds to start: the node namespace and CRI-O start meanwhile.
  done = progress.step("cluster: API server, CRI-O");
  const apiPid = await start("kube-apiserver", apiServerArgv(spec));
  const holder = await start("node-ns", nodeNamespaceArgv(spec), "sleep");
  await waitNodeNamespace(paths, holder, scale);
  const crio = await start("crio", crioArgv(spec, holder), commOf(binaries.crio));
  const crictl = [binaries.crictl, "--runtime-endpoint", `unix://${paths.crioSocket}`];
  await waitHealthy(paths, "crio", crio, async () => {
    const r = await shell.run([...crictl, "--timeout", "2s", "version"], { check: false });
    return r.code === 0 ? true : r.stderr.trim().split("\n").pop() ?? "no answer";
  }, { timeoutMs: 30_000 * scale });
  using admin = await adminClient(paths);
  await waitHealthy(paths, "kube-apiserver", apiPid, () => answers(admin, "/readyz"), {
    timeoutMs: 60_000 * scale,
  });
  done();

  done = progress.step(`cluster: RBAC for the migrator, namespace ${node.namespace}`);
  await applyObjects(admin, [...rbacObjects(), namespaceObject(node.namespace)]);
  done();

  done = progress.step("cluster: controller manager, scheduler, kubelet");
  const cm = await start("kube-controller-manager", controllerManagerArgv(spec));
  const sched = await start("kube-scheduler", schedulerArgv(spec));
  const kubelet = await start("kubelet", kubeletArgv(spec, holder), commOf(binaries.kubelet));
  for (
    const [name, pid, port] of [
      ["kube-controller-manager", cm, node.ports.controllerManager],
      ["kube-scheduler", sched, node.ports.scheduler],
    ] as const
  ) {
    using api = await tlsClient(`https://127.0.0.1:${port}`, paths.pkiDir, "ca", "admin");
    await waitHealthy(paths, name, pid, () => answers(api, "/healthz"), {
      timeoutMs: 30_000 * scale,
    });
  }
  await waitHealthy(paths, "kubelet", kubelet, () => plainHealthz(node.ports.kubeletHealthz), {
    timeoutMs: 30_000 * scale,
  });
  done();

  done = progress.step(`cluster: node ${node.nodeName} Ready`);
  await waitHealthy(paths, "kubelet", kubelet, () => nodeReady(admin, node.nodeName), {
    timeoutMs: 60_000 * scale,
    hint: `is a CNI network configuration in ${paths.cniConfDir}? (CRI-O reports the network ` +
      "ready only then); see also the kubelet's and CRI-O's logs",
  });
  done();

  done = progress.step(`cluster: namespace ${node.namespace} ready for pods`);
  // Pods are refused until the controller manager made the namespace's default service account.
  await waitHealthy(
    paths,
    "kube-controller-manager",
    cm,
    () => answers(admin, `/api/v1/namespaces/${node.namespace}/serviceaccounts/default`),
    { timeoutMs: 30_000 * scale },
  );
  done();

  const info = clusterInfo(paths, node);
  await Deno.writeTextFile(paths.info, JSON.stringify(info, null, 2) + "\n");
  return info;
}
