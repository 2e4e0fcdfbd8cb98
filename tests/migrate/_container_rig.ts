/**
 * The CRIU tier's nft-stand-in rig with Podman pods as source and target, and the counter server
 * started in the source pod as a lab starts a container workload: container migration tested
 * without BMv2.
 */
import assert from "node:assert/strict";
import { MigrationRig, type RigRole } from "../../lib/criu/selfcheck_rig.ts";
import type { Host, Lab } from "../../lib/lab/types.ts";
import { ContainerDriver } from "../../lib/migrate/container_driver.ts";
import { type MigrationResult, runMigration } from "../../lib/migrate/run.ts";
import { restoredPidPath } from "../../lib/podman/criu_config.ts";
import { silentProgress } from "../../lib/progress.ts";
import { defaultShell, processStat } from "../../lib/shell.ts";
import { buildHostImage } from "../../lib/topology/host_image.ts";
import {
  planWorkloadStart,
  startWorkload,
  type WorkloadPlacement,
} from "../../lib/workloads/start.ts";
import { CONNS, criuTables, prefix } from "../criu/_rig.ts";

export const CONTAINER_NEEDS = ["netns", "criu", "podman"] as const;

/** The image the labs run the counter server from (lab/host-containers.yaml). */
export const SERVER_IMAGE = "p4cf-counter-server";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function sh(...argv: string[]): Promise<string> {
  return (await defaultShell.run(argv)).stdout.trim();
}

/** A lab model of the rig's pods and its server, so the lab's own workload starter applies. */
export function rigLab(rig: MigrationRig): Lab {
  const { plan } = rig;
  const host = (name: RigRole): Host => ({
    name,
    kind: "pod",
    ip: plan[name].ip,
    prefix: 24,
    mac: "",
    iface: plan[name].iface,
    gateway: plan[name].gateway,
    gatewayMac: "",
    switch: plan.router,
    switchPort: name === "source" ? 2 : 3,
    netns: plan[name].netns,
    pod: plan[name].pod,
  });
  return {
    name: plan.prefix,
    id: plan.prefix,
    runDir: rig.dir,
    description: "container migration rig",
    file: "",
    hosts: [host("source"), host("target")],
    switches: [],
    loadBalancer: {
      switch: plan.router,
      vip: plan.vip,
      servicePort: plan.port,
      backends: ["source"],
    },
    workloads: [{
      name: "server",
      host: "source",
      kind: "container",
      role: "server",
      image: SERVER_IMAGE,
      command: ["counter_server", "{port}"],
    }],
  };
}

export interface ContainerRig {
  rig: MigrationRig;
  server: WorkloadPlacement;
  /** Full pod ids by role (what Podman's cgroups are named after). */
  podIds: Record<RigRole, string>;
}

/**
 * A pod rig with the server container running in the source pod and a client whose
 * connections are warm. Disposing the rig removes the pods, their containers and cgroups.
 */
export async function startedContainerRig(): Promise<ContainerRig> {
  const rig = await MigrationRig.create({ prefix: prefix(), pods: true });
  try {
    const lab = rigLab(rig);
    const plan = planWorkloadStart(lab, lab.workloads[0], rig.bin, rig.dir);
    await buildHostImage(defaultShell, plan.image!);
    const server = await startWorkload(defaultShell, plan);
    await waitForLog(server.logFile, "listening");
    const podIds = {
      source: await sh("podman", "pod", "inspect", "--format", "{{.Id}}", rig.plan.source.pod!),
      target: await sh("podman", "pod", "inspect", "--format", "{{.Id}}", rig.plan.target.pod!),
    };
    await rig.startClient(CONNS);
    await rig.waitForAnswers(CONNS, 10);
    return { rig, server, podIds };
  } catch (err) {
    await rig.dispose();
    throw err;
  }
}

async function waitForLog(file: string, text: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const log = await Deno.readTextFile(file).catch(() => "");
    if (log.includes(text)) return;
    if (Date.now() > deadline) throw new Error(`"${text}" not in ${file}: ${log.trim()}`);
    await sleep(20);
  }
}

/** What the switch update saw while the target waited: proof the CRIU config file applied. */
export interface FrozenView {
  /** CRIU's lock tables in the source namespace (network-lock nftables). */
  sourceLockTables: string[];
  /** The restored server's pid, as the hook recorded it at CRIU's pre-resume point. */
  restoredPid: number;
  /** Its state per /proc (leave-stopped: `T`). */
  restoredState?: string;
}

export interface ContainerMigration {
  driver: ContainerDriver;
  result: MigrationResult;
  frozen?: FrozenView;
}

/**
 * Migrates the server container from one pod to the other with the real driver and
 * runMigration; the switch update flips the stand-in. `toIp` overrides the address the sockets
 * are rewritten to (a wrong one makes the restore fail).
 */
export async function migrateContainer(
  cr: ContainerRig,
  from: RigRole,
  to: RigRole,
  options: { toIp?: string; dir?: string } = {},
): Promise<ContainerMigration> {
  const { rig, server } = cr;
  const driver = new ContainerDriver({
    container: server.container!,
    sourcePod: rig.plan[from].pod!,
    targetPod: rig.plan[to].pod!,
    sourceNetns: rig.plan[from].netns,
    targetNetns: rig.plan[to].netns,
    fromIp: rig.plan[from].ip,
    toIp: options.toIp ?? rig.plan[to].ip,
    checkpointDir: `${rig.dir}/${options.dir ?? `${from}-to-${to}`}`,
    criuConfig: server.criuConfig,
  });
  let frozen: FrozenView | undefined;
  const result = await runMigration(driver, {
    progress: silentProgress,
    switchUpdate: async () => {
      // Two file reads and one nft call: a few ms of the frozen window, for the proof that the
      // container's CRIU configuration (nftables lock, leave-stopped, hook) was honoured.
      const pid = Number((await Deno.readTextFile(restoredPidPath(server.criuConfig!))).trim());
      frozen = {
        sourceLockTables: await criuTables(rig.plan[from].netns),
        restoredPid: pid,
        restoredState: processStat(pid)?.state,
      };
      await rig.flip(to);
      return `stand-in -> ${to}`;
    },
  });
  return { driver, result, frozen };
}

/** Names of the containers in a pod, its infra container left out. */
export async function podContainers(pod: string): Promise<string[]> {
  const out = await sh(
    "podman",
    "ps",
    "--all",
    "--filter",
    `pod=${pod}`,
    "--format",
    "{{.Names}} {{.IsInfra}}",
  );
  return out.split("\n").filter((l) => l && !l.endsWith(" true")).map((l) => l.split(" ")[0]);
}

/** Asserts the server container runs in `role`'s pod and the other pod holds no container. */
export async function assertServerIn(cr: ContainerRig, role: RigRole): Promise<void> {
  const other: RigRole = role === "source" ? "target" : "source";
  const name = cr.server.container!;
  const [pod, status] =
    (await sh("podman", "inspect", "--format", "{{.Pod}} {{.State.Status}}", name))
      .split(" ");
  assert.equal(pod, cr.podIds[role], `container ${name} is in pod ${pod}`);
  assert.equal(status, "running");
  assert.deepEqual(await podContainers(cr.rig.plan[role].pod!), [name]);
  assert.deepEqual(await podContainers(cr.rig.plan[other].pod!), []);
}

/** What a rig prefix left on the machine: containers, pods, namespaces, pod cgroups. */
export async function leftovers(cr: ContainerRig): Promise<string[]> {
  const p = cr.rig.plan.prefix;
  const names = async (...argv: string[]) =>
    (await sh(...argv)).split("\n").map((l) => l.split(" ")[0]).filter((n) => n.startsWith(p));
  // Where Podman's cgroupfs manager puts pods: one libpod_parent per hierarchy (v1 and hybrid)
  // or at the root (v2 only).
  const parents = ["/sys/fs/cgroup/libpod_parent"];
  for (const h of Deno.readDirSync("/sys/fs/cgroup")) {
    if (h.isDirectory) parents.push(`/sys/fs/cgroup/${h.name}/libpod_parent`);
  }
  const cgroups: string[] = [];
  for (const parent of parents) {
    for (const id of Object.values(cr.podIds)) {
      const dir = `${parent}/${id}`;
      if (await Deno.stat(dir).then(() => true, () => false)) cgroups.push(dir);
    }
  }
  return [
    ...await names("podman", "ps", "--all", "--format", "{{.Names}}"),
    ...await names("podman", "pod", "ls", "--format", "{{.Name}}"),
    ...await names("ip", "netns", "list"),
    ...cgroups,
  ];
}
