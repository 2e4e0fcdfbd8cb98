/**
 * The objects a lab creates on the machine (network namespaces, interfaces, pods, containers,
 * processes), how each is removed, and an inventory of what currently exists.
 *
 * @module
 */
import { LAB_LABEL } from "../lab/naming.ts";
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
  | { kind: "process"; name: string; pidFile: string; comm: string };

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
  const [netns, links] = await Promise.all([
    shell.run(["ip", "netns", "list"], { check: false }),
    shell.run(["ip", "-o", "link", "show"], { check: false }),
  ]);
  const inv: Inventory = {
    netns: parseNetnsList(netns.stdout),
    links: parseLinkList(links.stdout),
    pods: new Map(),
    podIds: new Map(),
    containers: new Map(),
    networks: new Set(),
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

/** The pid in a pid file when that process is alive and still runs `comm`, else undefined. */
export function livePid(pidFile: string, comm: string): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(Deno.readTextFileSync(pidFile).trim(), 10);
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
    return actual === comm.slice(0, 15) ? pid : undefined;
  } catch {
    return undefined;
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
  }
}
