/**
 * Watching a student's pod migration (exercise 6) from the outside, as migration_watch.ts does
 * for processes and containers: the grader judges what the cluster, the switch and the old pod
 * did, and in which order, not what the code looks like.
 *
 * - The Kubernetes API clients handed to the student are {@link ObservedKubeApi}s: each
 *   checkpoint request and each pod creation, deletion or change is noted with its time, and the
 *   checkpoint and the deletions with how many packets the old pod had sent until then.
 * - The controller handed to the student observes with {@link lookAtPods}: the pods, which slot
 *   each holds, and the servers (with the client's connections) on the target slot.
 * - {@link countSent} counts the TCP packets the old pod sends from the service port, after
 *   every other rule: a silenced pod sends nothing, whatever silenced it.
 *
 * @module
 */
import {
  KubeApi,
  type KubeCredentials,
  type Pod,
  podFailure,
  podReady,
} from "../kubernetes/api.ts";
import { readAllocations, readReservations } from "../kubernetes/cni/state.ts";
import type { Reservations } from "../kubernetes/cni/allocate.ts";
import { WORKLOAD_LABEL } from "../kubernetes/workloads.ts";
import { inNetnsPath, type Shell } from "../shell.ts";
import type { PodSlot } from "./contexts.ts";
import { serversAt, type ServerView } from "./migration_watch.ts";

/** What the grader notes of a Kubernetes API call. */
export type KubeCallKind = "checkpoint" | "create-pod" | "delete-pod" | "patch-pod";

/** One noted API call of the student's code. */
export interface KubeCall {
  kind: KubeCallKind;
  /** The pod it is about. */
  pod: string;
  /** When the call reached the API object, and when it was answered (unix ms). */
  at: number;
  doneAt?: number;
  error?: string;
  /** TCP packets the old pod had sent when the call was made (checkpoint and deletions). */
  sourceTx?: number;
}

/**
 * Which noted call a request is (pure): the kubelet checkpoint through the node proxy, or a pod
 * created, deleted or patched in `namespace`; undefined for anything else (reads, lists).
 */
export function classifyKubeCall(
  method: string,
  path: string,
  namespace: string,
  body?: unknown,
): { kind: KubeCallKind; pod: string } | undefined {
  const p = path.split("?")[0];
  const checkpoint = /^\/api\/v1\/nodes\/[^/]+\/proxy\/checkpoint\/([^/]+)\/([^/]+)\/[^/]+$/.exec(
    p,
  );
  if (checkpoint && method === "POST") {
    return { kind: "checkpoint", pod: decodeURIComponent(checkpoint[2]) };
  }
  const pods = `/api/v1/namespaces/${namespace}/pods`;
  if (p === pods && method === "POST") {
    // deno-lint-ignore no-explicit-any
    const name = (body as any)?.metadata?.name;
    return { kind: "create-pod", pod: typeof name === "string" ? name : "?" };
  }
  const one = p.startsWith(`${pods}/`) ? p.slice(pods.length + 1) : undefined;
  if (one && !one.includes("/")) {
    if (method === "DELETE") return { kind: "delete-pod", pod: one };
    if (method === "PATCH") return { kind: "patch-pod", pod: one };
  }
  return undefined;
}

/** A Kubernetes API client that notes the student's calls (shared list) before making them. */
export class ObservedKubeApi extends KubeApi {
  readonly #calls: KubeCall[];
  readonly #namespace: string;
  readonly #sourceTx: () => Promise<number | undefined>;

  constructor(
    creds: KubeCredentials,
    options: {
      namespace: string;
      calls: KubeCall[];
      sourceTx: () => Promise<number | undefined>;
    },
  ) {
    super(creds);
    this.#calls = options.calls;
    this.#namespace = options.namespace;
    this.#sourceTx = options.sourceTx;
  }

  override async request<T>(
    method: string,
    path: string,
    options: { body?: unknown; contentType?: string; timeoutMs?: number } = {},
  ): Promise<T> {
    const kind = classifyKubeCall(method, path, this.#namespace, options.body);
    if (!kind) return await super.request<T>(method, path, options);
    const call: KubeCall = { ...kind, at: Date.now() };
    if (kind.kind === "checkpoint" || kind.kind === "delete-pod") {
      call.sourceTx = await this.#sourceTx();
    }
    this.#calls.push(call);
    try {
      const result = await super.request<T>(method, path, options);
      call.doneAt = Date.now();
      return result;
    } catch (err) {
      call.error = (err as Error).message;
      throw err;
    }
  }
}

/** The grader's nftables table in the old pod's namespace: it only counts. */
export const SENT_TABLE = "p4cf_check_sent";

/**
 * nft argv counting the TCP packets a namespace sends from `port` once they have passed every
 * other rule (postrouting, last): what really leaves, whatever the student used to silence it.
 */
export function sentCounterArgv(port: number): string[] {
  const t = `inet ${SENT_TABLE}`;
  return [
    "nft",
    [
      `add table ${t}`,
      `add chain ${t} sent { type filter hook postrouting priority 500; policy accept; }`,
      `add rule ${t} sent tcp sport ${port} counter`,
    ].join("; "),
  ];
}

/** nft argv listing the counter's table as JSON. */
export function sentListArgv(): string[] {
  return ["nft", "-j", "list", "table", "inet", SENT_TABLE];
}

/** The packets counted in `nft -j list table` output (pure); undefined without a counter. */
export function parseSentCounter(json: string): number | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return undefined;
  }
  // deno-lint-ignore no-explicit-any
  const items: any[] = Array.isArray((doc as any)?.nftables) ? (doc as any).nftables : [];
  for (const item of items) {
    // deno-lint-ignore no-explicit-any
    const counter = item?.rule?.expr?.find((e: any) => e?.counter)?.counter;
    if (typeof counter?.packets === "number") return counter.packets;
  }
  return undefined;
}

/** Starts counting what the namespace at `netns` (a path) sends from `port`. */
export async function countSent(shell: Shell, netns: string, port: number): Promise<void> {
  await shell.run(inNetnsPath(netns, sentCounterArgv(port)));
}

/**
 * TCP packets the namespace at `netns` sent from the counted port; undefined when the namespace
 * (or the counter) is gone.
 */
export async function sentPackets(shell: Shell, netns: string): Promise<number | undefined> {
  const r = await shell.run(inNetnsPath(netns, sentListArgv()), { check: false });
  return r.code === 0 ? parseSentCounter(r.stdout) : undefined;
}

/** A pod as the grader saw it. */
export interface PodView {
  name: string;
  ready: boolean;
  phase?: string;
  ip?: string;
  /** Why its container cannot run (a failed restore), if it cannot. */
  failure?: string;
  /** Its workload label (a Deployment's selector matches it), if it has one. */
  workload?: string;
  /** Its owners' kinds (`ReplicaSet` for a Deployment's pod). */
  owners: string[];
  deleting: boolean;
}

/** The lab's cluster as the grader saw it at one moment. */
export interface PodLook {
  at: number;
  pods: PodView[];
  /** Slot -> pod holding it (the CNI plugin's allocations). */
  slots: Record<string, string>;
  reservations: Reservations;
  /** Servers listening in the namespace of the pod holding the target slot. */
  target: ServerView[];
}

/** A pod's view (pure). */
export function viewPod(pod: Pod): PodView {
  return {
    name: pod.metadata.name,
    ready: podReady(pod),
    phase: pod.status?.phase,
    ip: pod.status?.podIP,
    failure: podFailure(pod),
    workload: pod.metadata.labels?.[WORKLOAD_LABEL],
    owners: (pod.metadata.ownerReferences ?? []).map((o) => o.kind),
    deleting: pod.metadata.deletionTimestamp !== undefined,
  };
}

/** What a look at the cluster needs. */
export interface PodLookTarget {
  shell: Shell;
  /** A client with full rights in the namespace (not the student's: its reads are not noted). */
  api: KubeApi;
  namespace: string;
  runDir: string;
  target: PodSlot;
  port: number;
  clientIp: string;
}

/** Takes a look: the pods, the slots, the reservations, the servers on the target slot. */
export async function lookAtPods(t: PodLookTarget): Promise<PodLook> {
  const at = Date.now();
  const [list, allocations, reservations] = await Promise.all([
    t.api.list<Pod>(`/api/v1/namespaces/${t.namespace}/pods`),
    readAllocations(t.runDir),
    readReservations(t.runDir),
  ]);
  const held = allocations[t.target.name];
  const target = held
    ? await serversAt(t.shell, (argv) => inNetnsPath(held.netns, argv), t.port, t.clientIp)
    : [];
  return {
    at,
    pods: list.items.map(viewPod),
    slots: Object.fromEntries(Object.entries(allocations).map(([slot, a]) => [slot, a.pod])),
    reservations,
    target,
  };
}

/**
 * The slot the lab's CNI plugin gave each pod of `namespace`, from its log (`cni/cni.log`, lines
 * `<time> ADD pod=<ns>/<pod> container=<id> slot=<host> ok <ms>`), latest last (pure).
 */
export function slotsFromCniLog(text: string, namespace: string): Record<string, string> {
  const slots: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = / ADD pod=([^/\s]+)\/(\S+) .*\bslot=(\S+) ok\b/.exec(line);
    if (m && m[1] === namespace) slots[m[2]] = m[3];
  }
  return slots;
}
