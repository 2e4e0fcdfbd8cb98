/**
 * The runs of exercise 6's check (ex6_migrate_pod.ts): the student's `migratePod` called under
 * observation (ex6_pod_watch.ts) while the check holds the lab's migration lock, and what the
 * check waits for and puts back around it: the client answering again, a slot freed, what a
 * failed first run left.
 *
 * @module
 */
import { ControllerApi } from "../controller/api_client.ts";
import { podLogFile, requireAccess } from "../kubernetes/access.ts";
import { KubeApi, readKubeconfig } from "../kubernetes/api.ts";
import { clusterPaths } from "../kubernetes/cluster/paths.ts";
import { cniLogPath } from "../kubernetes/cni/allocate.ts";
import { readAllocations, releaseReservation } from "../kubernetes/cni/state.ts";
import { labNamespace } from "../kubernetes/namespace.ts";
import type { Lab } from "../lab/types.ts";
import { migrateLockPath } from "../lab/paths.ts";
import { SILENCE_TABLE } from "../migrate/pod_driver.ts";
import { acquireLock } from "../pid_lock.ts";
import { inNetnsPath } from "../shell.ts";
import { readPlacements, writePlacements } from "../workloads/placements.ts";
import type { WorkloadPlacement } from "../workloads/start.ts";
import { type CheckContext, readClientLog, sleep } from "./check_context.ts";
import type { MigratePod, PodSlot } from "./contexts.ts";
import type { PodRunRecord } from "./ex6_judges.ts";
import {
  type KubeCall,
  lookAtPods,
  ObservedKubeApi,
  type PodLook,
  sentPackets,
  slotsFromCniLog,
} from "./ex6_pod_watch.ts";
import { ObservedController } from "./migration_watch.ts";
import { runStudent, type StudentRun } from "./student_code.ts";

/** One observed run of the student's function. */
export interface ObservedPodRun {
  run: StudentRun<string>;
  record: PodRunRecord;
  look: () => Promise<PodLook>;
  sourceNetns: string;
}

/** Everything a run needs from the running lab. */
export interface PodLabContext {
  ctx: CheckContext;
  lab: Lab;
  runDir: string;
  namespace: string;
  node: string;
  podman: string[];
  /** The grader's own API client (its reads are not the student's). */
  own: KubeApi;
  adminConfig: string;
  migratorConfig: string;
  source: PodSlot;
  client: WorkloadPlacement;
  clientIp: string;
  migrate: MigratePod;
  dir: string;
}

/** Calls the student's function under observation, holding the lab's migration lock. */
export async function runObserved(
  p: PodLabContext,
  oldPod: string,
  target: PodSlot,
  name: string,
  timeoutMs: number,
): Promise<ObservedPodRun> {
  const { ctx, lab, runDir, namespace } = p;
  const held = (await readAllocations(runDir))[p.source.name];
  if (!held || held.pod !== oldPod) {
    throw new Error(`Pod ${oldPod} does not hold ${p.source.name} (${held?.pod ?? "nobody"})`);
  }
  const sourceNetns = held.netns;
  const kubeCalls: KubeCall[] = [];
  const sourceTx = () => sentPackets(ctx.shell, sourceNetns);
  const observe = { namespace, calls: kubeCalls, sourceTx };
  const api = new ObservedKubeApi(await readKubeconfig(p.adminConfig), observe);
  const checkpointApi = new ObservedKubeApi(await readKubeconfig(p.migratorConfig), observe);
  const look = () =>
    lookAtPods({
      shell: ctx.shell,
      api: p.own,
      namespace,
      runDir,
      target,
      port: lab.loadBalancer.servicePort,
      clientIp: p.clientIp,
    });
  const controller = await ObservedController.forLabObserved(lab, look);
  const dir = `${p.dir}/${name}`;
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  // The controller's follower keeps off the backends while a migration holds the lab.
  const lock = await acquireLock(
    migrateLockPath(runDir),
    (owner) => `A migration in lab ${lab.name} is in progress (pid ${owner})`,
  );
  const startedAt = Date.now();
  let run: StudentRun<string>;
  try {
    run = await runStudent(
      "migratePod()",
      () =>
        p.migrate({
          pod: oldPod,
          container: "server",
          namespace,
          node: p.node,
          source: { ...p.source, netns: sourceNetns },
          target,
          api,
          checkpointApi,
          podman: [...p.podman],
          runDir,
          labId: lab.id!,
          dir,
          controller,
          shell: ctx.shell,
          log: (m) => ctx.progress.info(`your code: ${m}`),
        }),
      timeoutMs,
      "the error names the step that failed; `lab check 6 --keep --verbose` keeps the lab and " +
        "the checkpoint (in the lab's migrations/ directory) to look closer",
    );
  } finally {
    await lock.release();
  }
  const endedAt = Date.now();
  const endTx = await sourceTx();
  const cniLog = await Deno.readTextFile(cniLogPath(runDir)).catch(() => "");
  api.close();
  checkpointApi.close();
  const record: PodRunRecord = {
    source: p.source,
    target,
    oldPod,
    workload: "server",
    clientPod: p.client.pod ?? "client",
    startedAt,
    endedAt,
    kubeCalls,
    switchCalls: controller.calls,
    endTx,
    after: await look(),
    createdSlots: slotsFromCniLog(cniLog, namespace),
  };
  return { run, record, look, sourceNetns };
}

/**
 * Waits until every connection of the client has an answer after `since` (at most `timeoutMs`):
 * how many did, of how many, and the longest wait.
 */
export async function answeredSince(
  logFile: string,
  since: number,
  timeoutMs: number,
): Promise<{ kept: number; total: number; worstMs: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const records = await readClientLog(logFile).catch(() => []);
    const conns = new Set(records.map((r) => r.conn));
    const first = new Map<number, number>();
    for (const r of records) {
      if (r.kind === "answer" && r.at > since && !first.has(r.conn)) first.set(r.conn, r.at);
    }
    const worstMs = Math.max(0, ...[...first.values()].map((t) => t - since));
    if (first.size >= conns.size || Date.now() >= deadline) {
      return { kept: first.size, total: conns.size, worstMs };
    }
    await sleep(100);
  }
}

/** Waits until no pod holds `slot` (a deleted pod's slot is freed by its CNI DEL). */
export async function waitSlotFree(runDir: string, slot: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && (await readAllocations(runDir))[slot]) await sleep(100);
}

/**
 * Puts back what a first run left, so that the real run starts as the lab began: pods it
 * created, reservations, the library's silence table, the switch. Returns what it did.
 */
export async function tidyAfterFault(
  p: PodLabContext,
  o: ObservedPodRun,
  controller: ControllerApi,
): Promise<string[]> {
  const done: string[] = [];
  const keep = [o.record.oldPod, o.record.clientPod];
  for (const pod of o.record.after.pods) {
    if (keep.includes(pod.name) || pod.deleting) continue;
    await p.own.delete(`/api/v1/namespaces/${p.namespace}/pods/${pod.name}`, {
      gracePeriodSeconds: 0,
    });
    done.push(`deleted pod ${pod.name}`);
  }
  for (const pod of Object.keys(o.record.after.reservations)) {
    await releaseReservation(p.runDir, pod);
    done.push(`released ${pod}'s reservation`);
  }
  const unsilenced = await p.ctx.shell.run(
    inNetnsPath(o.sourceNetns, ["nft", "delete", "table", "inet", SILENCE_TABLE]),
    { check: false },
  );
  if (unsilenced.code === 0) done.push(`removed table ${SILENCE_TABLE} from the old pod`);
  const hosts = (await controller.backends()).backends.map((b) => b.host);
  if (!hosts.includes(p.source.name) && hosts.length) {
    await controller.migrateBackend(hosts[0], p.source.name);
    done.push(`switch back to ${p.source.name}`);
  }
  return done;
}

/** Files the kubelet's checkpoint API left in its checkpoints directory. */
export async function kubeletArchives(runDir: string): Promise<string[]> {
  const dir = clusterPaths(runDir).checkpointsDir;
  const found: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) found.push(`${dir}/${e.name}`);
  } catch {
    // No directory: nothing was left.
  }
  return found;
}

/** Records where the server runs now, for `lab status` and a kept lab. */
export async function recordServer(
  lab: Lab,
  runDir: string,
  pod: string,
  host: string,
): Promise<void> {
  const placements = await readPlacements(runDir);
  const server = placements.find((x) => x.name === "server");
  if (!server) return;
  const access = await requireAccess(lab);
  server.host = host;
  server.pod = server.container = pod;
  server.logFile = await podLogFile(access, labNamespace(lab), pod, "server") ?? server.logFile;
  await writePlacements(runDir, placements);
}
