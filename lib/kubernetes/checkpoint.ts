/**
 * Checkpoints through the kubelet checkpoint API and restores through CRI-O: the API call (via
 * the API server's node proxy), the checkpoint image CRI-O restores a container from (the
 * archive added FROM scratch, annotated with the container's name: no registry needed, it goes
 * straight into the cluster's image storage), and the pod that restores it.
 *
 * @module
 */
import type { Shell } from "../shell.ts";
import type { KubeApi, Pod } from "./api.ts";

/** Annotation telling CRI-O which container of a checkpoint image it holds. */
export const CHECKPOINT_NAME_ANNOTATION = "io.kubernetes.cri-o.annotations.checkpoint.name";

/** Annotation on a restored pod naming the pod it was migrated from. */
export const MIGRATED_FROM_ANNOTATION = "p4cf.migrated-from";

/** API path of the kubelet checkpoint call through the node proxy. */
export function checkpointApiPath(node: string, ns: string, pod: string, container: string) {
  const e = encodeURIComponent;
  return `/api/v1/nodes/${e(node)}/proxy/checkpoint/${e(ns)}/${e(pod)}/${e(container)}`;
}

/**
 * Checkpoints a running container (the kubelet leaves it running) and returns the archive's path
 * on the node.
 */
export async function checkpointContainer(
  api: KubeApi,
  node: string,
  ns: string,
  pod: string,
  container: string,
): Promise<string> {
  const out = await api.request<{ items?: string[] }>(
    "POST",
    `${checkpointApiPath(node, ns, pod, container)}?timeout=60`,
    { body: {}, timeoutMs: 90_000 },
  );
  const archive = out?.items?.[0];
  if (!archive) throw new Error(`The kubelet checkpointed ${pod} but named no archive`);
  return archive;
}

/** The Containerfile of a checkpoint image (the archive is unpacked into it by ADD). */
export const CHECKPOINT_CONTAINERFILE = "FROM scratch\nADD checkpoint.tar /\n";

/** The podman build argv of a checkpoint image from a context holding `checkpoint.tar`. */
export function checkpointImageArgv(
  podman: readonly string[],
  contextDir: string,
  tag: string,
  container: string,
): string[] {
  return [
    ...podman,
    "build",
    "--quiet",
    "--annotation",
    `${CHECKPOINT_NAME_ANNOTATION}=${container}`,
    "--tag",
    tag,
    contextDir,
  ];
}

/** Builds the checkpoint image from an archive; returns its tag. */
export async function buildCheckpointImage(
  shell: Shell,
  podman: readonly string[],
  archive: string,
  tag: string,
  container: string,
): Promise<string> {
  const ctx = await Deno.makeTempDir({ prefix: "p4cf-ckpt-" });
  try {
    await Deno.copyFile(archive, `${ctx}/checkpoint.tar`);
    await Deno.writeTextFile(`${ctx}/Containerfile`, CHECKPOINT_CONTAINERFILE);
    await shell.run(checkpointImageArgv(podman, ctx, tag, container));
  } finally {
    await Deno.remove(ctx, { recursive: true }).catch(() => {});
  }
  return tag;
}

/**
 * The pod that restores `source` from a checkpoint image: the same spec and labels, but without
 * the labels in `withhold` (so the source's ReplicaSet does not adopt it before the switch has
 * moved to it) and without an owner.
 */
export function restoredPod(
  source: Pod,
  name: string,
  image: string,
  withhold: readonly string[],
): Record<string, unknown> {
  const labels = Object.fromEntries(
    Object.entries(source.metadata.labels ?? {}).filter(([k]) => !withhold.includes(k)),
  );
  // deno-lint-ignore no-explicit-any
  const spec = structuredClone(source.spec) as any;
  for (const c of spec.containers) {
    c.image = image;
    c.imagePullPolicy = "Never";
  }
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: source.metadata.namespace,
      labels,
      annotations: { [MIGRATED_FROM_ANNOTATION]: source.metadata.name },
    },
    spec,
  };
}
