/**
 * Empty cgroups Podman leaves behind when it removes a pod.
 *
 * Podman 4.3 with the cgroupfs manager on a hybrid cgroup layout (v1 controllers plus the
 * `unified` v2 tree and the named `systemd` v1 tree) removes a pod's cgroup from the v1
 * controllers only: `libpod_parent/<pod id>` stays, empty, in the other two. That is two
 * directories per pod on every `lab down`, accumulating for as long as the machine runs.
 *
 * @module
 */

/** Where Podman's cgroupfs manager puts pods: `libpod_parent` in each hierarchy. */
function podParents(root: string): string[] {
  const parents = [`${root}/libpod_parent`]; // a cgroup v2 only machine
  try {
    for (const entry of Deno.readDirSync(root)) {
      if (entry.isDirectory) parents.push(`${root}/${entry.name}/libpod_parent`);
    }
  } catch {
    // No cgroup filesystem here.
  }
  return parents;
}

/** Removes a cgroup and the cgroups below it, deepest first; false when one is still busy. */
function removeCgroupTree(dir: string): boolean {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return true; // already gone
  }
  let ok = true;
  for (const entry of entries) {
    if (entry.isDirectory) ok = removeCgroupTree(`${dir}/${entry.name}`) && ok;
  }
  try {
    // A cgroup directory holds only its control files, which rmdir(2) takes with it; it fails
    // (EBUSY) while a process is still in it, which we leave alone.
    Deno.removeSync(dir);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) ok = false;
  }
  return ok;
}

/**
 * Removes the cgroups left of removed pods (`libpod_parent/<id>` in every hierarchy under
 * `root`). Cgroups that still hold a process are kept. Returns the directories removed.
 */
export function removePodCgroups(podIds: Iterable<string>, root = "/sys/fs/cgroup"): string[] {
  const removed: string[] = [];
  const ids = [...podIds].filter((id) => /^[0-9a-f]{64}$/.test(id));
  if (!ids.length) return removed;
  for (const parent of podParents(root)) {
    for (const id of ids) {
      const dir = `${parent}/${id}`;
      try {
        Deno.statSync(dir);
      } catch {
        continue;
      }
      if (removeCgroupTree(dir)) removed.push(dir);
    }
  }
  return removed;
}
