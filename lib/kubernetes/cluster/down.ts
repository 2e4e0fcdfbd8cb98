/**
 * `clusterDown`: removes a lab's cluster using only what is written in its run directory, so it
 * works after a crash or a `kill -9` of `up` as well as on a healthy cluster, and twice. Pods go
 * first, through CRI-O (CNI DEL hands the lab's slot interfaces back to their parking
 * namespaces), then the kubelet's cgroups, the node (CRI-O and its mount namespace), the control
 * plane, and the machine-wide changes. Every step logs and carries on.
 *
 * ```ts
 * const { failed } = await clusterDown(".run/labs/kubernetes", { shell, progress });
 * ```
 *
 * @module
 */
import { readState } from "../../topology/state.ts";
import { killPids } from "../../topology/teardown.ts";
import { type Progress, silentProgress } from "../../progress.ts";
import { defaultShell, type Shell } from "../../shell.ts";
import { findProgram } from "./binaries.ts";
import { type NodeIdentity, nodeIdentity } from "./config.ts";
import { removeCreated, restoreSysctls } from "./host.ts";
import { runningNodeProcess } from "./prepare.ts";
import { type ClusterPaths, clusterPaths, type Component } from "./paths.ts";
import { type ComponentProcess, processPid, readProcesses } from "./processes.ts";

export interface ClusterDownOptions {
  shell?: Shell;
  progress?: Progress;
}

export interface ClusterDownResult {
  /** What was removed or stopped, one line each. */
  removed: string[];
  /** Steps that failed (each also reported through progress.warn). */
  failed: string[];
  totalMs: number;
}

/**
 * Removes the cgroup tree `$1` from every hierarchy visible here, and from the hugetlb one
 * mounted at `$2` when given (in a throwaway mount namespace: the machine may not mount it).
 * Deepest first; members must be gone already. Exits 1 while some of the tree is left.
 */
export const CGROUP_RMDIR_SCRIPT = `root=$1 tmp=\${2:-} left=0
if [ -n "$tmp" ]; then mkdir -p "$tmp" && mount -t cgroup -o hugetlb p4cf-hugetlb "$tmp" || exit 0; fi
for h in /sys/fs/cgroup /sys/fs/cgroup/*/ $tmp; do
  d="\${h%/}$root"
  [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  [ -d "$d" ] && left=1
done
[ -z "$tmp" ] || umount "$tmp"
exit $left
`;

/** Pids of every process in the cgroup tree `root` of the hierarchies the machine mounts. */
export function cgroupPids(root: string): number[] {
  const pids = new Set<number>();
  const walk = (dir: string) => {
    try {
      for (const e of Deno.readDirSync(dir)) if (e.isDirectory) walk(`${dir}/${e.name}`);
      for (const line of Deno.readTextFileSync(`${dir}/cgroup.procs`).split("\n")) {
        if (Number(line) > 0) pids.add(Number(line));
      }
    } catch {
      // Gone meanwhile, or not a cgroup directory.
    }
  };
  walk(`/sys/fs/cgroup${root}`);
  try {
    for (const h of Deno.readDirSync("/sys/fs/cgroup")) walk(`/sys/fs/cgroup/${h.name}${root}`);
  } catch {
    // No cgroup filesystem.
  }
  return [...pids];
}

/** The hugetlb line of /proc/cgroups: its v1 hierarchy (0: none) and number of cgroups. */
export function hugetlbHierarchy(): { id: number; cgroups: number } {
  try {
    const line = Deno.readTextFileSync("/proc/cgroups").split("\n").find((l) =>
      l.startsWith("hugetlb\t")
    );
    const f = line?.split("\t") ?? [];
    return { id: Number(f[1] ?? 0), cgroups: Number(f[2] ?? 0) };
  } catch {
    return { id: 0, cgroups: 0 };
  }
}

/**
 * Removes the kubelet's cgroup tree everywhere once its processes are gone. Processes killed
 * after their runtime died may stay zombies until PID 1 reaps them, keeping their cgroups (and a
 * v1 hugetlb hierarchy only the node mounted) alive: retried for a while. A hugetlb hierarchy
 * left with no cgroup but its root is mounted and unmounted once more, which releases it (the
 * controller goes back to cgroup v2) unless someone else mounts it.
 */
async function removeCgroupTree(shell: Shell, paths: ClusterPaths, root: string): Promise<void> {
  const script = (
    extra: string[] = [],
  ) => ["bash", "-c", CGROUP_RMDIR_SCRIPT, "p4cf-rmdir", root, ...extra];
  const inTempNs = (argv: string[]) => ["unshare", "--mount", "--propagation", "private", ...argv];
  await Deno.mkdir(paths.cgroupfsDir, { recursive: true });
  const deadline = Date.now() + 10_000;
  for (;;) {
    await killPids(shell, cgroupPids(root), 0);
    let clean = (await shell.run(script(), { check: false })).code === 0;
    if (hugetlbHierarchy().id !== 0) {
      clean =
        (await shell.run(inTempNs(script([paths.cgroupfsDir])), { check: false })).code === 0 &&
        clean;
    }
    if (clean) break;
    if (Date.now() > deadline) throw new Error(`cgroups ${root} are still in use`);
    await new Promise((r) => setTimeout(r, 250));
  }
  // Another cluster's node mounts hugetlb itself: nothing to release then.
  if (otherKubeletRunning([])) return;
  // Dying cgroups (of unreaped zombies) still pin the hierarchy: wait for them, then release it.
  while (hugetlbHierarchy().id !== 0 && hugetlbHierarchy().cgroups > 1 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
  }
  if (hugetlbHierarchy().id !== 0 && hugetlbHierarchy().cgroups === 1) {
    await shell.run(inTempNs(script([paths.cgroupfsDir])), { check: false });
  }
}

/** Pids of the processes in the mount namespace `nsId` (`mnt:[inode]`). */
export function namespacePids(nsId: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      if (Deno.readLinkSync(`/proc/${e.name}/ns/mnt`) === nsId) pids.push(Number(e.name));
    } catch {
      // Exited meanwhile.
    }
  }
  return pids;
}

/** Mount points at or under `dir`, deepest first, from `findmnt -rn -o TARGET` output (pure). */
export function mountsUnder(findmntOutput: string, dir: string): string[] {
  const unescape = (s: string) =>
    s.replace(/\\x([0-9a-f]{2})/gi, (_, h) => String.fromCharCode(Number.parseInt(h, 16)));
  return findmntOutput.split("\n").map((l) => unescape(l.trim())).filter((t) =>
    t === dir || t.startsWith(`${dir}/`)
  ).sort((a, b) => b.length - a.length);
}

/** CNI network names of the configurations in `confDir` (libcni caches results by them). */
async function networkNames(confDir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(confDir)) {
      try {
        const name = JSON.parse(await Deno.readTextFile(`${confDir}/${e.name}`)).name;
        if (typeof name === "string" && /^[\w.-]+$/.test(name)) names.push(name);
      } catch {
        // Not a configuration.
      }
    }
  } catch {
    // No directory.
  }
  return names;
}

async function readIdentity(
  paths: ClusterPaths,
  runDir: string,
): Promise<NodeIdentity | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(paths.identity)) as NodeIdentity;
  } catch {
    const id = (await readState(runDir).catch(() => undefined))?.id;
    return id ? nodeIdentity(id) : undefined;
  }
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

/** Removes the lab's cluster (see the module doc). Nothing to do when it has no cluster. */
export async function clusterDown(
  runDir: string,
  options: ClusterDownOptions = {},
): Promise<ClusterDownResult> {
  const shell = options.shell ?? defaultShell;
  const progress = options.progress ?? silentProgress;
  const t0 = performance.now();
  const paths = clusterPaths(runDir);
  const result: ClusterDownResult = { removed: [], failed: [], totalMs: 0 };
  if (!(await exists(paths.root)) && !(await exists(paths.shortDir))) return result;
  const node = await readIdentity(paths, runDir);
  const procs = await readProcesses(paths);
  const pidOf = (name: Component) => {
    const p = procs.find((x) => x.name === name);
    return p ? processPid(p) : undefined;
  };
  const step = async (title: string, fn: () => Promise<string | void>) => {
    const done = progress.step(`cluster down: ${title}`);
    try {
      const note = await fn();
      if (note) result.removed.push(note);
      done(note || undefined);
    } catch (err) {
      result.failed.push(title);
      const lines = (err as Error).message.trim().split("\n");
      progress.warn(`${title}: ${lines[0]}${lines.length > 1 ? ` (${lines.at(-1)})` : ""}`);
      done("failed");
    }
  };
  const stop = async (names: Component[], graceMs: number) => {
    const live = names.map((n) => [n, pidOf(n)] as const).filter(([, p]) => p !== undefined);
    await killPids(shell, live.map(([, p]) => p!), graceMs);
    return live.length ? `stopped ${live.map(([n, p]) => `${n} (${p})`).join(", ")}` : "";
  };
  // The node's mount namespace, when one of our processes still proves it is ours.
  const nsId = await Deno.readTextFile(paths.nodeNsId).then((s) => s.trim(), () => "");
  const nsOurs = nsId !== "" &&
    (["node-ns", "crio", "kubelet"] as const).some((n) => {
      const pid = pidOf(n);
      try {
        return pid !== undefined && Deno.readLinkSync(`/proc/${pid}/ns/mnt`) === nsId;
      } catch {
        return false;
      }
    });
  const nsEnter = (argv: string[]) => {
    const pid = nsOurs ? namespacePids(nsId)[0] : undefined;
    return pid ? ["nsenter", `--mount=/proc/${pid}/ns/mnt`, "--", ...argv] : undefined;
  };

  await step("kubelet", () => stop(["kubelet"], 5000));
  await step("pods", async () => {
    const crictl = findProgram("crictl");
    if (!crictl || pidOf("crio") === undefined) return;
    // No socket yet: CRI-O was still starting, so no pod can exist.
    if (!(await exists(paths.crioSocket))) return;
    const c = [crictl, "--runtime-endpoint", `unix://${paths.crioSocket}`, "--timeout", "30s"];
    let list = await shell.run([...c, "pods", "-q"], { check: false });
    for (let i = 0; i < 25 && list.code !== 0 && pidOf("crio") !== undefined; i++) {
      await new Promise((r) => setTimeout(r, 200)); // CRI-O may be starting up
      list = await shell.run([...c, "pods", "-q"], { check: false });
    }
    // CRI-O died meanwhile: its pods go with their cgroups below (without CNI DEL).
    if (list.code !== 0 && pidOf("crio") === undefined) return "";
    if (list.code !== 0) throw new Error(`crictl pods: ${list.stderr.trim().split("\n").pop()}`);
    const pods = list.stdout.split("\n").filter((s) => s);
    for (const pod of pods) {
      // Stopping runs the CNI DEL that gives the slot's interface back to its parking namespace.
      await shell.run([...c, "stopp", pod], { check: false });
      await shell.run([...c, "rmp", "-f", pod], { check: false });
    }
    return pods.length ? `removed ${pods.length} pod(s)` : "";
  });
  if (node) {
    await step("pod cgroups", async () => {
      await killPids(shell, cgroupPids(node.cgroupRoot), 0);
      // Inside, hugetlb is mounted too: the whole tree goes while the namespace lives.
      const inside = nsEnter(["bash", "-c", CGROUP_RMDIR_SCRIPT, "p4cf-rmdir", node.cgroupRoot]);
      if (inside) await shell.run(inside, { check: false });
    });
  }
  await step("node (CRI-O, mount namespace)", async () => {
    const note = await stop(["crio", "node-ns"], 10_000);
    if (nsOurs) await killPids(shell, namespacePids(nsId), 2000);
    return note;
  });
  // Its state is thrown away: no waiting for graceful shutdowns (the API server's takes seconds).
  await step(
    "control plane",
    () => stop(["kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"], 1000),
  );
  if (node) {
    await step("leftover cgroups", () => removeCgroupTree(shell, paths, node.cgroupRoot));
  }
  await step("sysctls", async () => {
    const restored = await restoreSysctls(paths, progress);
    return restored.length ? `restored ${restored.join(" ")}` : "";
  });
  if (node) {
    await step(`node address device ${node.device}`, async () => {
      const r = await shell.run(["ip", "link", "del", "dev", node.device], { check: false });
      return r.code === 0 ? `link ${node.device}` : "";
    });
  }
  await step("CNI result cache", async () => {
    let n = 0;
    for (const name of await networkNames(paths.cniConfDir)) {
      try {
        for await (const e of Deno.readDir("/var/lib/cni/results")) {
          if (e.name.startsWith(`${name}-`)) {
            await Deno.remove(`/var/lib/cni/results/${e.name}`);
            n++;
          }
        }
      } catch {
        // No cache.
      }
    }
    return n ? `${n} cached CNI result(s)` : "";
  });
  await step("files outside the run directory", async () => {
    const others = otherKubeletRunning(procs);
    const removed = await removeCreated(paths, progress, others);
    return removed.length ? removed.join(", ") : "";
  });
  await step("mounts and state directory", async () => {
    const dirs = [paths.root, paths.shortDir];
    const mounts = async () => {
      const out = (await shell.run(["findmnt", "-rn", "-o", "TARGET"], { check: false })).stdout;
      return dirs.flatMap((d) => mountsUnder(out, d));
    };
    for (const target of await mounts()) {
      const r = await shell.run(["umount", target], { check: false });
      if (r.code !== 0) await shell.run(["umount", "-l", target], { check: false });
    }
    const left = await mounts();
    if (left.length) throw new Error(`still mounted: ${left.join(", ")}; left ${dirs.join(", ")}`);
    // --one-file-system: never reach through a mount into what it shows. Retried: a process
    // that was just killed may still be closing (or creating) a file in there.
    const rm = ["rm", "-rf", "--one-file-system", ...dirs];
    for (let i = 0; i < 5; i++) {
      const r = await shell.run(rm, { check: false });
      if (r.code === 0) return dirs.join(", ");
      progress.info(`retrying: ${r.stderr.trim().split("\n").pop()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await shell.run(rm);
    return dirs.join(", ");
  });
  result.totalMs = performance.now() - t0;
  return result;
}

/** True when a kubelet or CRI-O that is not this cluster's runs (its files may be in /var). */
function otherKubeletRunning(ours: ComponentProcess[]): boolean {
  const mine = new Set(ours.map(processPid).filter((p) => p !== undefined));
  return runningNodeProcess(mine) !== undefined;
}
