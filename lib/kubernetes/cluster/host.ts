/**
 * What the cluster changes on the machine outside its run directory, each change written down in
 * the run directory before it is made so `down` can undo exactly that (also after `kill -9`):
 * sysctls the kubelet and CNI rewrite, /etc/criu/runc.conf, directories the kubelet, CRI-O and
 * libcni create at hard-wired places, and the node address device.
 *
 * @module
 */
import type { Progress } from "../../progress.ts";
import type { Shell } from "../../shell.ts";
import type { NodeIdentity } from "./config.ts";
import type { ClusterPaths } from "./paths.ts";

/**
 * Sysctls the kubelet sets (it needs `protectKernelDefaults: false` to start here) and CNI
 * bridges turn on (forwarding); restored by `down`. Absent ones (br_netfilter not loaded) are
 * skipped.
 */
export const TOUCHED_SYSCTLS = [
  "vm.overcommit_memory",
  "vm.panic_on_oom",
  "kernel.panic",
  "kernel.panic_on_oops",
  "kernel.keys.root_maxkeys",
  "kernel.keys.root_maxbytes",
  "net.ipv4.ip_forward",
  "net.ipv4.conf.all.forwarding",
  "net.bridge.bridge-nf-call-iptables",
  "net.bridge.bridge-nf-call-ip6tables",
] as const;

/** Directories the kubelet, CRI-O and libcni use whatever their configuration says. */
export const HARDWIRED_DIRS = ["/var/lib/kubelet", "/var/log/containers", "/var/lib/cni"] as const;

/** CRIU's configuration file runc reads on every checkpoint and restore. */
export const CRIU_RUNC_CONF = "/etc/criu/runc.conf";
/** Its content: keep established TCP connections (the migration's whole point). */
export const CRIU_RUNC_CONF_TEXT = "tcp-established\n";

const sysctlFile = (name: string) => `/proc/sys/${name.replaceAll(".", "/")}`;

/** Current values of the sysctls that exist. */
export function readSysctls(names: readonly string[] = TOUCHED_SYSCTLS): Record<string, string> {
  const values: Record<string, string> = {};
  for (const name of names) {
    try {
      values[name] = Deno.readTextFileSync(sysctlFile(name)).trim();
    } catch {
      // Not on this kernel (or module not loaded).
    }
  }
  return values;
}

/** Saves the sysctls once: a second `up` must not take the kubelet's values for the originals. */
export async function snapshotSysctls(paths: ClusterPaths): Promise<void> {
  try {
    await Deno.writeTextFile(paths.sysctlSnapshot, JSON.stringify(readSysctls()) + "\n", {
      createNew: true,
    });
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
  }
}

/** The sysctls that differ from the snapshot, as [name, original] (pure). */
export function sysctlChanges(
  snapshot: Record<string, string>,
  current: Record<string, string>,
): [string, string][] {
  return Object.entries(snapshot).filter(([name, value]) =>
    current[name] !== undefined && current[name] !== value
  );
}

/** Writes back the sysctls that changed since the snapshot; returns what it restored. */
export async function restoreSysctls(paths: ClusterPaths, progress: Progress): Promise<string[]> {
  let snapshot: Record<string, string>;
  try {
    snapshot = JSON.parse(await Deno.readTextFile(paths.sysctlSnapshot));
  } catch {
    return [];
  }
  const restored: string[] = [];
  for (const [name, value] of sysctlChanges(snapshot, readSysctls(Object.keys(snapshot)))) {
    try {
      await Deno.writeTextFile(sysctlFile(name), `${value}\n`);
      restored.push(`${name}=${value}`);
    } catch (err) {
      progress.warn(`could not restore ${name}=${value}: ${(err as Error).message}`);
    }
  }
  return restored;
}

/** Paths outside the run directory the cluster created, as recorded. */
export async function readCreated(paths: ClusterPaths): Promise<string[]> {
  try {
    const list = JSON.parse(await Deno.readTextFile(paths.createdPaths));
    return Array.isArray(list) ? list.filter((p) => typeof p === "string") : [];
  } catch {
    return [];
  }
}

async function recordCreated(paths: ClusterPaths, path: string): Promise<void> {
  const list = await readCreated(paths);
  if (list.includes(path)) return;
  const tmp = `${paths.createdPaths}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify([...list, path]) + "\n");
  await Deno.rename(tmp, paths.createdPaths);
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Records which hard-wired directories do not exist yet (the node will create them). */
export async function recordHardwiredDirs(paths: ClusterPaths): Promise<void> {
  for (const dir of HARDWIRED_DIRS) if (!exists(dir)) await recordCreated(paths, dir);
}

/** Writes /etc/criu/runc.conf unless the machine has one (which then is left as it is). */
export async function ensureCriuRuncConf(paths: ClusterPaths): Promise<void> {
  if (exists(CRIU_RUNC_CONF)) return;
  const dir = CRIU_RUNC_CONF.slice(0, CRIU_RUNC_CONF.lastIndexOf("/"));
  if (!exists(dir)) {
    await recordCreated(paths, dir);
    await Deno.mkdir(dir, { recursive: true });
  }
  await recordCreated(paths, CRIU_RUNC_CONF);
  await Deno.writeTextFile(CRIU_RUNC_CONF, CRIU_RUNC_CONF_TEXT, { createNew: true });
}

/** Where `ip netns` keeps named network namespaces (slots' parking namespaces among them). */
export const NETNS_DIR = "/run/netns";

/**
 * Makes `dir` a shared mount point (a bind mount on itself), as `ip netns add` does with
 * /run/netns on its first use: the node's mount namespace keeps it shared with the machine's
 * (see components.ts). A no-op when it already is one.
 */
export async function ensureSharedMount(shell: Shell, dir: string): Promise<void> {
  const prop = await shell.run(["findmnt", "-n", "-o", "PROPAGATION", "--mountpoint", dir], {
    check: false,
  });
  if (prop.stdout.trim().split(",").includes("shared")) return;
  await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
  if (prop.code !== 0) await shell.run(["mount", "--bind", dir, dir]);
  await shell.run(["mount", "--make-shared", dir]);
}

/** Argv creating the node address device: a port-less bridge (no `dummy` driver needed). */
export function nodeDeviceArgv(node: NodeIdentity): string[][] {
  return [
    ["ip", "link", "add", node.device, "type", "bridge"],
    ["ip", "addr", "add", `${node.nodeIp}/32`, "dev", node.device],
    ["ip", "link", "set", node.device, "up"],
  ];
}

/** Creates the node address device unless it is there with its address. */
export async function ensureNodeDevice(shell: Shell, node: NodeIdentity): Promise<void> {
  const show = await shell.run(["ip", "-o", "-4", "addr", "show", "dev", node.device], {
    check: false,
  });
  if (show.code === 0 && show.stdout.includes(` ${node.nodeIp}/32 `)) return;
  if (show.code === 0) await shell.run(["ip", "link", "del", "dev", node.device], { check: false });
  for (const argv of nodeDeviceArgv(node)) await shell.run(argv);
}

/**
 * Removes what `up` created outside the run directory: /etc/criu/runc.conf (only while it still
 * holds what we wrote), and the hard-wired directories (only when no other kubelet or CRI-O
 * runs, whose files they could then hold; else only when empty).
 */
export async function removeCreated(
  paths: ClusterPaths,
  progress: Progress,
  othersRunning: boolean,
): Promise<string[]> {
  const removed: string[] = [];
  const created = await readCreated(paths);
  for (const path of [...created].reverse()) {
    if (!exists(path)) continue;
    try {
      if (path === CRIU_RUNC_CONF) {
        if ((await Deno.readTextFile(path)) !== CRIU_RUNC_CONF_TEXT) {
          progress.warn(`left ${path} alone: it was changed since the cluster wrote it`);
          continue;
        }
        await Deno.remove(path);
      } else if ((HARDWIRED_DIRS as readonly string[]).includes(path) && !othersRunning) {
        await Deno.remove(path, { recursive: true });
      } else {
        await Deno.remove(path); // a directory: only when empty
      }
      removed.push(path);
    } catch (err) {
      progress.warn(`left ${path}: ${(err as Error).message}`);
    }
  }
  return removed;
}
