/**
 * The plug-in interface of a lab runtime: what `lab up` and `lab down` ask of each kind of lab
 * (local namespaces and pods, a Kubernetes cluster, ...). The session (`session.ts`) does what
 * every kind shares — ownership, capability checks, the controller, proving clients reach the
 * VIP — and a kind only builds its hosts and switches, starts its workloads and removes it all.
 *
 * @module
 */
import type { Capability } from "../capabilities.ts";
import type { Lab, LabRuntime } from "../lab/types.ts";
import type { Progress } from "../progress.ts";
import type { Shell } from "../shell.ts";
import type { UpResult } from "../topology/apply.ts";
import type { LabObject } from "../topology/objects.ts";
import type { DownResult } from "../topology/teardown.ts";
import type { WorkloadPlacement } from "../workloads/start.ts";

/** What a kind gets from the session. */
export interface KindContext {
  shell: Shell;
  progress: Progress;
  /** Records objects in the lab's state file before they are created (for `down`). */
  record(objects: LabObject[]): Promise<void>;
}

export interface KindUpOptions {
  /** Hosts and links only: no switches, cluster or workloads. */
  topologyOnly?: boolean;
  /** Capture a pcap per switch port. */
  pcap?: boolean;
  /** Kind-specific settings from the command line (e.g. Kubernetes' `kubeconfig`). */
  settings?: Record<string, string>;
}

export interface KindDownOptions {
  shell?: Shell;
  progress?: Progress;
}

/** One kind of lab. */
export interface RuntimeKind {
  readonly name: LabRuntime;
  /** What the machine needs for `up` beyond root and BMv2 (tested before anything is created). */
  requires(lab: Lab, options: KindUpOptions): Capability[];
  /** Hosts, links and switches (and a cluster): everything the controller needs. */
  up(lab: Lab, ctx: KindContext, options: KindUpOptions): Promise<UpResult>;
  /** Starts the workloads that do not run yet; returns where every workload runs. */
  startWorkloads(lab: Lab, ctx: KindContext): Promise<WorkloadPlacement[]>;
  /** Removes everything the lab created (safe twice, also after a crash). */
  down(lab: Lab | string, options: KindDownOptions): Promise<DownResult>;
  /**
   * The network namespace (a path for `nsenter --net=`) where a host's interface is now: its
   * own, or the pod's that took the slot. Undefined when no namespace has it.
   */
  netnsOf(lab: Lab, host: string): Promise<string | undefined>;
}
