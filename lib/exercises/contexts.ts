/**
 * What the exercise checks hand to the student's code: the signatures students implement in
 * `lab/exercises/<n>-<slug>/` and the contexts they receive. Their files import these types.
 *
 * @module
 */
import type { ControllerApi } from "../controller/api_client.ts";
import type { KubeApi } from "../kubernetes/api.ts";
import type { Lab } from "../lab/types.ts";
import type { P4RuntimeClient } from "../p4runtime/client.ts";
import type { Shell } from "../shell.ts";

export type { AddBackend } from "./pool_judge.ts";

/** Exercise 2: writes the load balancer's entries through a connected, primary client. */
export type ProgramLoadBalancer = (sw: P4RuntimeClient, lab: Lab) => Promise<void>;

/** A host taking part in a migration. */
export interface MigrationHost {
  name: string;
  ip: string;
  /** Its network namespace (`/run/netns/<netns>`). */
  netns: string;
  /** Its Podman pod (container hosts). */
  pod?: string;
}

/** Everything exercise 3's `migrateServer` needs. */
export interface ProcessMigration {
  /** Pid of the server process, running in `source.netns`. */
  pid: number;
  source: MigrationHost;
  target: MigrationHost;
  /** An empty directory for the checkpoint. */
  imagesDir: string;
  /** The lab's controller (it owns the switch). */
  controller: ControllerApi;
  shell: Shell;
  /** Prints a line under the check's progress. */
  log(message: string): void;
}

/**
 * Exercise 3: moves the server; returns the pid of the process that holds its connections on
 * the target.
 */
export type MigrateServer = (m: ProcessMigration) => Promise<number>;

/** Everything exercise 4's `migrateContainer` needs. */
export interface ContainerMigration {
  /** Name of the server container, running in `source.pod`. */
  container: string;
  /** Pid (on this machine) of the server process inside the container, before the move. */
  pid: number;
  /**
   * The CRIU configuration file runc hands to CRIU for this container (its `org.criu.config`
   * annotation): lib/podman/criu_config.ts writes it and says what it can do.
   */
  criuConfig: string;
  source: MigrationHost & { pod: string };
  target: MigrationHost & { pod: string };
  /** An empty directory for the checkpoint archives. */
  dir: string;
  controller: ControllerApi;
  shell: Shell;
  log(message: string): void;
}

/**
 * Exercise 4: moves the container into the target pod; returns the pid (on this machine) of the
 * server process that holds its connections there.
 */
export type MigrateContainer = (m: ContainerMigration) => Promise<number>;

/** A slot of a Kubernetes lab: a switch port with its address, which a pod takes. */
export interface PodSlot {
  /** The slot's host name in the lab file (`h3`). */
  name: string;
  ip: string;
}

/** Everything exercise 6's `migratePod` needs. */
export interface PodMigration {
  /** The server pod to move (its Deployment's), and its container (named after the workload). */
  pod: string;
  container: string;
  /** The lab's Kubernetes namespace. */
  namespace: string;
  /** The node the pods run on (the kubelet checkpoint API is addressed through it). */
  node: string;
  /**
   * The slot the pod holds; `netns` is the path of the pod's network namespace (for
   * `nsenter --net=<netns>`: lib/shell.ts inNetnsPath).
   */
  source: PodSlot & { netns: string };
  /** The free slot the pod moves to. */
  target: PodSlot;
  /** The lab's Kubernetes API with full rights in `namespace` (lib/kubernetes/api.ts). */
  api: KubeApi;
  /** The Kubernetes API allowed only the kubelet checkpoint call (through the node proxy). */
  checkpointApi: KubeApi;
  /** The podman command that builds images into the cluster's own image storage. */
  podman: string[];
  /** The lab's run directory: its CNI plugin's slot reservations live there. */
  runDir: string;
  /** The lab's id (a prefix for the names of what you create). */
  labId: string;
  /** An empty directory (0700) for the checkpoint archives. */
  dir: string;
  /** The lab's controller (it owns the switch). */
  controller: ControllerApi;
  shell: Shell;
  /** Prints a line under the check's progress. */
  log(message: string): void;
}

/**
 * Exercise 6: moves the server pod to a new pod on `m.target`; returns the new pod's name. When
 * a step fails, it puts everything back as it was and throws.
 */
export type MigratePod = (m: PodMigration) => Promise<string>;
