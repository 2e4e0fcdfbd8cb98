/**
 * The objects a lab creates on the machine (network namespaces, interfaces, pods, containers,
 * processes), how each is removed, and an inventory of what currently exists.
 *
 * @module
 */
import { LAB_LABEL } from "../lab/naming.ts";
import { parseNftTables, portGuardRemovalArgv, portGuardTable } from "../net/port_guard.ts";
import type { Shell } from "../shell.ts";

/** Something `lab up` created and `lab down` removes; recorded in the state file first. */
export type LabObject =
  /** A named network namespace (`/run/netns/<name>`); `pod` set when it is a pod's, attached. */
  | { kind: "netns"; name: string; pod?: string }
  /** An interface in the machine's namespace; deleting it deletes its veth peer too. */
  | { kind: "link"; name: string; peer?: string }
  /** A Podman pod (removed with its containers, infra included). */
  | { kind: "pod"; name: string }
  /** A Podman container outside any pod (e.g. a containerised switch). */
  | { kind: "container"; name: string }
  /** A detached process whose pid is written to `pidFile`; `comm` guards against pid reuse. */
  | { kind: "process"; name: string; pidFile: string; comm: string }
  /** An nftables table (family inet), e.g. the guard of the switch ports. */
  | { kind: "nft-table"; name: string };

/** Argv that removes an object (processes are signalled by pid; see {@link removeObject}). */
export function removalArgv(obj: LabObject): string[][] {
  switch (obj.kind) {
    case "netns":
      return [["ip", "netns", "del", obj.name]];
    case "link":
      return [["ip", "link", "del", "dev", obj.name]];
    case "pod":
      return [["podman", "pod", "rm", "--force", "--time", "0", obj.name]];
    case "container":
      return [["podman", "rm", "--force", "--time", "0", obj.name]];
    case "process":
      return [["kill", "-TERM", `{pidfile:${obj.pidFile}}`]];
    case "nft-table":
      return [portGuardRemovalArgv(obj.name)];
  }
}

/** A one-line description: `netns pm-h1`, `process s1 (pid file ...)`. */
export function describeObject(obj: LabObject): string {
  return obj.kind === "process" ? `process ${obj.name}` : `${obj.kind} ${obj.name}`;
}

/** What exists right now, gathered with a handful of commands. */
export interface Inventory {
  netns: Set<string>;
  /** Interfaces in the machine's namespace. */
  links: Set<string>;
  /** Pods labelled with the lab, by name -> status (Running, Exited, ...). */
  pods: Map<string, string>;
  /** The same pods, by name -> full id (what their cgroups are named after). */
  podIds: Map<string, string>;
  /** Containers labelled with the lab (infra included), by name -> state. */
  containers: Map<string, string>;
  /** Podman networks labelled with the lab. */
  networks: Set<string>;
  /** nftables tables of family inet. */
  nftTables: Set<string>;
}

/** Parses `ip netns list` (`name` or `name (id: 3)` per line). */
export function parseNetnsList(out: string): Set<string> {
  return new Set(out.split("\n").map((l) => l.trim().split(/\s+/)[0]).filter((s) => s));
}

/** Parses `ip -o link show` (`23: name@peer: <...> ...` per line). */
export function parseLinkList(out: string): Set<string> {
  const names = new Set<string>();
  for (const line of out.split("\n")) {
    const m = /^\d+:\s+([^:@\s]+)[@:]/.exec(line);
    if (m) names.add(m[1]);
  }
  return names;
}

/** Parses `podman pod ls --format json`: pod name -> status (Running, Exited, ...). */
export function parsePodList(out: string): Map<string, string> {
  return new Map(parseJsonList(out).map((p) => [String(p.Name ?? ""), String(p.Status ?? "")]));
}

/** Parses `podman pod ls --format json`: pod name -> full id. */
export function parsePodIds(out: string): Map<string, string> {
  return new Map(
    parseJsonList(out).filter((p) => p.Id).map((p) => [String(p.Name ?? ""), String(p.Id)]),
  );
}

/** Parses `podman ps -a --format json`: container name -> state (running, exited, ...). */
export function parseContainerList(out: string): Map<string, string> {
  return new Map(
    parseJsonList(out).map((c) => {
      const names = c.Names;
      return [String(Array.isArray(names) ? names[0] : names ?? ""), String(c.State ?? "")];
    }),
  );
}

function parseJsonList(out: string): Record<string, unknown>[] {
  try {
    const value = JSON.parse(out.trim() || "[]");
    return Array.isArray(value) ? value.filter((v) => typeof v === "object" && v !== null) : [];
  } catch {
    return [];
  }
}

/**
 * Lists netns, root-namespace links and the lab's Podman objects. Podman is only asked when
 * `podman` is true (it costs ~50 ms per call and may not be installed).
 */
export async function takeInventory(
  shell: Shell,
  labName: string,
  podman: boolean,
): Promise<Inventory> {
  const label = `label=${LAB_LABEL}=${labName}`;
  const [netns, links, nft] = await Promise.all([
    shell.run(["ip", "netns", "list"], { check: false }),
    shell.run(["ip", "-o", "link", "show"], { check: false }),
    shell.run(["nft", "list", "tables"], { check: false }),
  ]);
  const inv: Inventory = {
    netns: parseNetnsList(netns.stdout),
    links: parseLinkList(links.stdout),
    pods: new Map(),
    podIds: new Map(),
    containers: new Map(),
    networks: new Set(),
    nftTables: parseNftTables(nft.stdout),
  };
  if (podman) {
    const [pods, ctrs, nets] = await Promise.all([
      shell.run(["podman", "pod", "ls", "--filter", label, "--format", "json"], { check: false }),
      shell.run(["podman", "ps", "-a", "--filter", label, "--format", "json"], { check: false }),
      shell.run(["podman", "network", "ls", "--filter", label, "--format", "{{.Name}}"], {
        check: false,
      }),
    ]);
    inv.pods = parsePodList(pods.stdout);
    inv.podIds = parsePodIds(pods.stdout);
    inv.containers = parseContainerList(ctrs.stdout);
    inv.networks = new Set(nets.stdout.split("\n").map((s) => s.trim()).filter((s) => s));
  }
  return inv;
}

/** Seconds since the epoch at which a process started (from /proc), or undefined. */
export function processStartEpochS(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Field 22 (starttime, clock ticks since boot) is the 20th after the command name.
    const ticks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    const btime = Number(/^btime (\d+)$/m.exec(Deno.readTextFileSync("/proc/stat"))?.[1]);
    // USER_HZ is 100 on every Linux architecture we run on.
    return Number.isFinite(ticks) && btime > 0 ? btime + ticks / 100 : undefined;
  } catch {
    return undefined;
  }
}

/** How much later than its pid file a process may have started and still be the one written. */
const PID_FILE_SLACK_S = 5;

/**
 * The pid in a pid file when that process is alive, still runs `comm` and started no later than
 * the pid file was written (a pid reused by a later process is not ours), else undefined.
 */
export function livePid(pidFile: string, comm: string): number | undefined {
  let pid: number;
  let writtenS: number;
  try {
    pid = Number.parseInt(Deno.readTextFileSync(pidFile).trim(), 10);
    writtenS = (Deno.statSync(pidFile).mtime?.getTime() ?? 0) / 1000;
  } catch {
    return undefined;
  }
  if (!(pid > 0)) return undefined;
  try {
    // comm is cut to 15 characters by the kernel.
    const actual = Deno.readTextFileSync(`/proc/${pid}/comm`).trim();
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "Z" || state === "X") return undefined;
    if (actual !== comm.slice(0, 15)) return undefined;
    const started = processStartEpochS(pid);
    if (started !== undefined && started > writtenS + PID_FILE_SLACK_S) return undefined;
    return pid;
  } catch {
    return undefined;
  }
}

/**
 * Why a recorded object is not one this lab can have created (a forged or corrupt state file),
 * or undefined when it is plausibly the lab's: names carry the lab's prefix, pid files live in
 * its run directory.
 */
export function foreignReason(obj: LabObject, labId: string, runDir: string): string | undefined {
  const prefixed = (name: string) => name.startsWith(`${labId}-`);
  switch (obj.kind) {
    case "netns":
    case "pod":
    case "container":
    case "link":
      return prefixed(obj.name) ? undefined : `${obj.name} lacks the lab's prefix "${labId}-"`;
    case "nft-table":
      return obj.name === portGuardTable(labId) ? undefined : `${obj.name} is not the lab's table`;
    case "process": {
      const dir = runDir.replace(/\/+$/, "");
      const normal = obj.pidFile.split("/").filter((p) => p && p !== ".").join("/");
      return obj.pidFile.startsWith(`${dir}/`) && !normal.split("/").includes("..")
        ? undefined
        : `pid file ${obj.pidFile} is outside the run directory ${dir}`;
    }
  }
}

/** True when the object is present according to the inventory (processes: pid file + /proc). */
export function objectExists(obj: LabObject, inv: Inventory): boolean {
  switch (obj.kind) {
    case "netns":
      return inv.netns.has(obj.name);
    case "link":
      return inv.links.has(obj.name);
    case "pod":
      return inv.pods.has(obj.name);
    case "container":
      return inv.containers.has(obj.name);
    case "process":
      return livePid(obj.pidFile, obj.comm) !== undefined;
    case "nft-table":
      return inv.nftTables.has(obj.name);
  }
}
