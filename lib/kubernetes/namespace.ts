/**
 * The Kubernetes namespace of a lab's pods: its name (one derivation for the cluster, the
 * workloads, the follower and the migration) and the object that creates it.
 *
 * @module
 */

/** Label on the objects the project creates in a cluster. */
export const MANAGED_BY_LABELS = { "app.kubernetes.io/managed-by": "p4containerflow" } as const;

/** Namespace of a lab's objects: `p4cf-<lab id>`. */
export function labNamespace(lab: { id?: string }): string {
  return `p4cf-${lab.id}`;
}

/** The namespace object of a lab. */
export function namespaceObject(name: string) {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels: MANAGED_BY_LABELS } };
}
