/**
 * The cgroup a container restored into another pod must get, for CRIU's `cgroup-root` option.
 *
 * runc tells CRIU where the restored container's cgroups are (`--cgroup-root` over RPC, one per
 * controller). On a pure cgroup v2 machine (Debian 12, Ubuntu 22.04+) runc 1.1 names the
 * unified hierarchy's controller "", which CRIU 4.2 does not apply to it: CRIU then puts the
 * restored tasks back at the path they were dumped from, under the *source* pod's cgroup, and
 * recreates it there. The restore succeeds, but runc's container lives in the target pod's
 * cgroup, so the next checkpoint fails: CRIU finds no `cgroup.freeze` where runc says the
 * container is (`criu failed: type NOTIFY errno 0`; dump.log: "Neither a cgroupv1
 * (freezer.state) or cgroupv2 (cgroup.freeze) control file found"). A root without a
 * controller in the container's CRIU configuration file applies to every hierarchy. On cgroup
 * v1 and hybrid layouts runc's per-controller roots work, and nothing is added.
 *
 * ```ts
 * const id = "c".repeat(64);
 * restoredCgroupRoot("machine.slice/machine-libpod_pod_ab12.slice", id);
 * // `/machine.slice/machine-libpod_pod_ab12.slice/libpod-${id}.scope`
 * ```
 *
 * @module
 */

/** Whether this machine mounts only the unified (v2) cgroup hierarchy at /sys/fs/cgroup. */
export function unifiedCgroups(root = "/sys/fs/cgroup"): boolean {
  try {
    Deno.statSync(`${root}/cgroup.controllers`);
    return true;
  } catch {
    return false;
  }
}

/**
 * A pod's cgroup (as `podman pod inspect --format {{.CgroupPath}}` says, but without a Podman
 * call) where Podman puts it by default: a slice under machine.slice (its systemd manager) or a
 * directory under libpod_parent (its cgroupfs manager, see lib/topology/pod_cgroups.ts).
 * Undefined for a pod made with its own `--cgroup-parent`.
 */
export function podCgroup(podId: string, root = "/sys/fs/cgroup"): string | undefined {
  for (
    const path of [`/machine.slice/machine-libpod_pod_${podId}.slice`, `/libpod_parent/${podId}`]
  ) {
    try {
      if (Deno.statSync(`${root}${path}`).isDirectory) return path;
    } catch {
      // Not this manager's.
    }
  }
  return undefined;
}

/**
 * The cgroup runc gives a container of a pod, from the pod's cgroup ({@link podCgroup}) and the
 * container's id: Podman's systemd manager makes the
 * container a scope `libpod-<id>.scope` inside the pod's slice, its cgroupfs manager a
 * directory `libpod-<id>` inside the pod's cgroup.
 *
 * @throws {RangeError} for an empty pod cgroup or a container id that is not 64 hex digits.
 */
export function restoredCgroupRoot(podCgroup: string, containerId: string): string {
  const pod = podCgroup.trim().replace(/^\/*/, "/").replace(/\/+$/, "");
  if (pod === "") throw new RangeError(`pod cgroup "${podCgroup}" is empty`);
  if (!/^[0-9a-f]{64}$/.test(containerId)) {
    throw new RangeError(`"${containerId}" is not a 64-hex container id`);
  }
  const leaf = pod.endsWith(".slice") ? `libpod-${containerId}.scope` : `libpod-${containerId}`;
  return `${pod}/${leaf}`;
}
