/**
 * Migration of a Kubernetes pod to a new pod with a new address (runtime `kubernetes`):
 *
 * - prepare: read the source pod and the slot it holds, reserve the target slot for the new pod
 *   (the lab's CNI plugin gives a reserved pod that slot's address, so the checkpoint can be
 *   rewritten for it before the pod exists);
 * - dump: silence the source (an nftables table in its namespace lets nothing in or out but the
 *   ICMP errors refusing its clients' segments: the kubelet checkpoint API leaves the container
 *   running, and anything it sent after the checkpoint, or a FIN when it is deleted, would break
 *   its clients' connections; taking the link down instead would flush its routes and static
 *   ARP entries), then checkpoint through the kubelet API;
 * - rewrite: the sockets' addresses in the archive, natively;
 * - restore: a checkpoint image into the cluster's storage, and a pod from it, without the
 *   workload label so the Deployment's ReplicaSet leaves it alone until the switch has moved;
 * - cleanup: the ReplicaSet adopts the new pod (label added) and the source goes (deletion
 *   cost lowest, then deleted without grace); rollback: the new pod goes, the source is heard
 *   again, and the switch never moved.
 *
 * @module
 */
import { icmpUnlimitedArgv } from "../net/icmp_unlimited.ts";
import { rewriteArchiveAddresses } from "../criu/archive.ts";
import type { Host, Lab } from "../lab/types.ts";
import { runDirOf } from "../lab/paths.ts";
import { labNamespace } from "../kubernetes/namespace.ts";
import { type KubeApi, type Pod, podFailure, podReady } from "../kubernetes/api.ts";
import type { ClusterAccess, ClusterClients } from "../kubernetes/access.ts";
import {
  buildCheckpointImage,
  checkpointContainer,
  restoredPod,
} from "../kubernetes/checkpoint.ts";
import { readAllocations, releaseReservation, reserveSlot } from "../kubernetes/cni/state.ts";
import { WORKLOAD_LABEL } from "../kubernetes/workloads.ts";
import { defaultShell, type Shell } from "../shell.ts";
import { SegmentTap } from "../net/segment_tap.ts";
import { deleteNftTable } from "../net/nft_table.ts";
import type { MigrationDriver } from "./run.ts";

export interface PodDriverOptions {
  shell?: Shell;
  /** Full rights in the lab's namespace. */
  api: KubeApi;
  /** Allowed the checkpoint API (the node proxy). */
  checkpointApi: KubeApi;
  access: ClusterAccess;
  runDir: string;
  labId: string;
  namespace: string;
  /** The pod to move and its container (named after the workload). */
  pod: string;
  container: string;
  from: Host;
  to: Host;
  /** Directory for the archives (0700, kept for inspection unless `lab down` removes it). */
  checkpointDir: string;
  /** How long the restored pod may take to become Ready (default 60 s). */
  readyTimeoutMs?: number;
  /** The restored pod's name (default: a new one); a recovery passes the journaled one. */
  newPod?: string;
  /**
   * TCP ports whose refused segments are handed to the restored pod after the switch update
   * (lib/net/segment_tap.ts): the service port. None: no hand-over.
   */
  ports?: readonly number[];
}

/** What a recovery finds of an interrupted pod migration's two pods. */
export interface PodPair {
  /** The pod that was moving still exists (silenced or not). */
  source: boolean;
  /** The pod restored from it: absent, created but not Ready, or Ready. */
  target: "absent" | "created" | "ready";
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The driver moving `pod` of a Kubernetes lab's workload (a migration's, or a recovery's). */
export function labPodDriver(
  lab: Lab,
  clients: ClusterClients,
  o: Pick<PodDriverOptions, "shell" | "pod" | "from" | "to" | "checkpointDir" | "newPod"> & {
    workload: string;
  },
): PodDriver {
  return new PodDriver({
    shell: o.shell,
    api: clients.api,
    checkpointApi: clients.checkpointApi,
    access: clients.access,
    runDir: runDirOf(lab),
    labId: lab.id!,
    namespace: labNamespace(lab),
    pod: o.pod,
    container: o.workload,
    from: o.from,
    to: o.to,
    checkpointDir: o.checkpointDir,
    newPod: o.newPod,
    ports: lab.loadBalancer ? [lab.loadBalancer.servicePort] : [],
  });
}

/** The nftables table that silences the source pod (in its own network namespace). */
export const SILENCE_TABLE = "p4cf_silence";

/**
 * nft argv silencing a namespace, before conntrack (pure): nothing leaves but the ICMP errors
 * refusing arriving TCP segments, everything else arriving is dropped. The errors make Linux
 * clients revert their retransmission backoff (RFC 6069, see lib/criu/port_lock.ts): they retry
 * every minimum RTO while the pod moves instead of ever more rarely.
 */
export function silenceArgv(): string[] {
  const t = `inet ${SILENCE_TABLE}`;
  return [
    "nft",
    [
      `add table ${t}`,
      `add chain ${t} in { type filter hook prerouting priority -300; policy drop; }`,
      `add rule ${t} in meta l4proto tcp reject with icmpx type host-unreachable`,
      `add chain ${t} out { type filter hook output priority -300; policy drop; }`,
      `add rule ${t} out icmp type destination-unreachable accept`,
    ].join("; "),
  ];
}

/** Lowest pod-deletion-cost: the ReplicaSet removes this pod first when it has one too many. */
const DELETE_FIRST = String(-(2 ** 31));

export class PodDriver implements MigrationDriver {
  readonly #o: PodDriverOptions;
  readonly #shell: Shell;
  #source?: Pod;
  #sourceNetns = "";
  #created = false;
  /** Holds the segments the silence refuses, for the restored pod (see `ports`). */
  #tap?: SegmentTap;
  readonly newPod: string;

  constructor(options: PodDriverOptions) {
    this.#o = options;
    this.#shell = options.shell ?? defaultShell;
    // Deployment pods end in -<hash>-<rand>; ours in -m<time>: the CNI plugin still sees the
    // workload's prefix.
    this.newPod = options.newPod ?? `${options.container}-m${Date.now().toString(36)}`;
  }

  get sourceArchive(): string {
    return `${this.#o.checkpointDir}/checkpoint.tar`;
  }

  get targetArchive(): string {
    return `${this.#o.checkpointDir}/target.tar`;
  }

  #podPath(name: string): string {
    return `/api/v1/namespaces/${this.#o.namespace}/pods/${name}`;
  }

  #inSource(argv: string[]): string[] {
    return ["nsenter", `--net=${this.#sourceNetns}`, "--", ...argv];
  }

  async prepare(): Promise<string> {
    const slot = await this.#readSource();
    await reserveSlot(this.#o.runDir, this.newPod, this.#o.to.name);
    const ports = this.#o.ports ?? [];
    if (ports.length) {
      this.#tap = await SegmentTap.start({
        shell: this.#shell,
        netnsPath: this.#sourceNetns,
        ports,
        dir: this.#o.checkpointDir,
      });
    }
    return `${this.#o.pod} on ${slot}; ${this.newPod} reserved ${this.#o.to.name}`;
  }

  /** Reads the source pod and the slot (namespace) it holds; returns the slot's host. */
  async #readSource(): Promise<string> {
    this.#source = await this.#o.api.get<Pod>(this.#podPath(this.#o.pod));
    const held = Object.entries(await readAllocations(this.#o.runDir)).find(([, a]) =>
      a.pod === this.#o.pod
    );
    if (!held) throw new Error(`Pod ${this.#o.pod} holds no slot of the lab`);
    this.#sourceNetns = held[1].netns;
    return held[0];
  }

  /**
   * For a recovery (lib/migrate/pod_recovery.ts): what exists of the two pods, and the source's
   * details read again (its slot, its labels) so that the rollback and cleanup steps work.
   */
  async inspectPair(): Promise<PodPair> {
    const source = await this.#readSource().then(() => true, () => false);
    const target = await this.#o.api.get<Pod>(this.#podPath(this.newPod)).catch(() => undefined);
    this.#created = target !== undefined;
    return {
      source,
      target: !target ? "absent" : podReady(target) ? "ready" : "created",
    };
  }

  async dump(): Promise<string> {
    let archive: string;
    try {
      await this.#shell.run(this.#inSource(icmpUnlimitedArgv()));
      this.#tap?.record();
      await this.#shell.run(this.#inSource(silenceArgv()));
      archive = await checkpointContainer(
        this.#o.checkpointApi,
        this.#o.access.node,
        this.#o.namespace,
        this.#o.pod,
        this.#o.container,
      );
    } catch (err) {
      // The source keeps serving: it never stopped, it was only not heard. Nothing restores
      // after a failed dump, so the target slot is free again now.
      this.#dropTap();
      await this.#unsilence();
      await releaseReservation(this.#o.runDir, this.newPod);
      throw err;
    }
    await Deno.copyFile(archive, this.sourceArchive);
    // The kubelet's copy holds the server's whole memory too; ours is in a 0700 directory.
    await Deno.remove(archive).catch(() => {});
    const { size } = await Deno.stat(this.sourceArchive);
    return `${(size / 1024).toFixed(0)} KiB`;
  }

  async transfer(): Promise<void> {
    await Deno.copyFile(this.sourceArchive, this.targetArchive);
  }

  async rewrite(): Promise<string> {
    const changed = await rewriteArchiveAddresses(this.targetArchive, {
      from: this.#o.from.ip,
      to: this.#o.to.ip,
    });
    return `${changed} sockets`;
  }

  async restore(): Promise<string> {
    const tag = `localhost/p4cf-checkpoint-${this.#o.labId}-${this.newPod}:latest`;
    const t0 = performance.now();
    await buildCheckpointImage(
      this.#shell,
      this.#o.access.podman,
      this.targetArchive,
      tag,
      this.#o.container,
    );
    const built = performance.now() - t0;
    this.#created = true;
    await this.#o.api.create(
      `/api/v1/namespaces/${this.#o.namespace}/pods`,
      restoredPod(this.#source!, this.newPod, tag, [WORKLOAD_LABEL]),
    );
    const deadline = Date.now() + (this.#o.readyTimeoutMs ?? 60_000);
    let pod: Pod | undefined;
    while (Date.now() < deadline) {
      pod = await this.#o.api.get<Pod>(this.#podPath(this.newPod));
      if (podReady(pod)) {
        return `${this.newPod} at ${pod.status?.podIP} (${this.#o.to.name}); image ${
          built.toFixed(0)
        } ms, pod ${(performance.now() - t0 - built).toFixed(0)} ms`;
      }
      // A failed restore shows at once: the source is silent meanwhile, and its clients give up
      // after their own timeouts.
      const failure = podFailure(pod);
      if (failure) throw new Error(`Restoring ${this.newPod} failed: ${failure}`);
      await sleep(50);
    }
    throw new Error(
      `Restored pod ${this.newPod} did not become Ready (phase ${pod?.status?.phase ?? "?"})`,
    );
  }

  /**
   * Right after the switch update: hands the segments the silence refused to the restored pod,
   * which then answers them at once instead of after its clients' retransmission timers.
   */
  async resume(): Promise<void> {
    if (!this.#tap || !this.#created) return;
    const target = await this.#replayTarget().catch(() => undefined);
    // Without the new pod's namespace nothing can be handed over; finish() says so.
    if (target) await this.#tap.replay(target);
  }

  /** Where the tap's segments go: the restored pod's namespace. */
  async #replayTarget() {
    const held = Object.values(await readAllocations(this.#o.runDir)).find((a) =>
      a.pod === this.newPod
    );
    if (!held) throw new Error(`${this.newPod} holds no slot`);
    return { netnsPath: held.netns, from: this.#o.from.ip, to: this.#o.to.ip };
  }

  #dropTap(): void {
    this.#tap?.close();
    this.#tap = undefined;
  }

  async restoreOnSource(): Promise<string> {
    this.#dropTap();
    if (this.#created) {
      await this.#o.api.delete(this.#podPath(this.newPod), { gracePeriodSeconds: 0 });
    }
    await releaseReservation(this.#o.runDir, this.newPod);
    await this.#unsilence();
    return `${this.#o.pod} serves again`;
  }

  async #unsilence(): Promise<void> {
    if (!this.#sourceNetns) return;
    // Not silenced (yet) is fine: a recovery may roll back a migration killed before its dump.
    await deleteNftTable(
      this.#shell,
      this.#inSource(["nft", "delete", "table", "inet", SILENCE_TABLE]),
      `Cannot unsilence pod ${this.#o.pod}`,
    );
  }

  async cleanupSource(): Promise<string> {
    // Before the source pod goes: what reaches it meanwhile would be reset by its kernel.
    const tap = this.#tap;
    this.#tap = undefined;
    let replayed: string | undefined;
    if (tap) {
      const target = await this.#replayTarget().catch(() => undefined);
      if (target) replayed = await tap.finish(target);
      else tap.close();
    }
    const api = this.#o.api;
    // A recovery that found the source gone still knows the label: it is the workload's name.
    const label = this.#source?.metadata.labels?.[WORKLOAD_LABEL] ?? this.#o.container;
    await api.patch(this.#podPath(this.#o.pod), {
      metadata: { annotations: { "controller.kubernetes.io/pod-deletion-cost": DELETE_FIRST } },
    }).catch(() => {});
    if (label) {
      // Its ReplicaSet adopts it (the labels are the template's) and has one pod too many.
      await api.patch(this.#podPath(this.newPod), {
        metadata: { labels: { [WORKLOAD_LABEL]: label } },
      });
    }
    await api.delete(this.#podPath(this.#o.pod), { gracePeriodSeconds: 0 });
    await releaseReservation(this.#o.runDir, this.newPod);
    // Done once the old pod's slot is free again (its sandbox gone, the CNI plugin's DEL run):
    // a next migration may want it.
    const deadline = Date.now() + 15_000;
    let freed = false;
    while (!freed && Date.now() < deadline) {
      const held = Object.values(await readAllocations(this.#o.runDir));
      freed = !held.some((a) => a.pod === this.#o.pod);
      if (!freed) await sleep(50);
    }
    return `${this.#o.pod} deleted${freed ? ", its slot free" : " (its slot not yet free)"}, ` +
      `${this.newPod} ${label ? "adopted" : "kept"}${replayed ? `; ${replayed}` : ""}`;
  }
}
