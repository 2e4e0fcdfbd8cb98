/**
 * `status`: what of a lab exists right now: hosts with their actual addresses and processes,
 * switch ports, switch processes or containers, pods, and any problems.
 *
 * @module
 */
import { which } from "../capabilities.ts";
import { migrateLockPath } from "../lab/paths.ts";
import type { HostKind, Lab, SwitchKind } from "../lab/types.ts";
import { lockOwner } from "../pid_lock.ts";
import { defaultShell, inNetns, type Shell } from "../shell.ts";
import { livePid, takeInventory } from "./objects.ts";
import { switchPidFile } from "./plan.ts";
import { type LabPhase, readState } from "./state.ts";
import { findProblems } from "./verify.ts";

export interface ProcessInfo {
  pid: number;
  /** Command line, arguments joined by spaces. */
  command: string;
}

export interface HostStatus {
  name: string;
  kind: HostKind;
  netns: string;
  /** The namespace exists. */
  present: boolean;
  ip: string;
  prefix: number;
  mac: string;
  iface: string;
  /** IPv4 addresses actually on the interface (`a.b.c.d/len`). */
  addresses: string[];
  pod?: { name: string; status?: string };
  /** Processes running in the host's namespace. */
  processes: ProcessInfo[];
}

export interface PortStatus {
  port: number;
  iface: string;
  present: boolean;
  up: boolean;
  /** `host h1` or `switch s2:2`. */
  peer: string;
}

export interface SwitchStatus {
  name: string;
  kind: SwitchKind;
  deviceId: number;
  grpcPort: number;
  thriftPort: number;
  ports: PortStatus[];
  running: boolean;
  pid?: number;
  container?: { name: string; state?: string };
}

export interface LabStatus {
  lab: string;
  id: string;
  /** `down` when there is no state file. */
  phase: LabPhase | "down";
  since?: string;
  hosts: HostStatus[];
  switches: SwitchStatus[];
  /** Recorded objects that are missing or broken (empty when all is well or the lab is down). */
  problems: string[];
  /** Steps `up` skipped (switches without a starter). */
  skipped: string[];
  /**
   * Pid of a migration running in the lab. Podman is then not asked (and problems are not
   * looked for): Podman 4.3 deadlocks `pod ls` against a `restore --pod` into a pod, and the
   * migration's restore would wait until the listing gave up (measured: 8 s of downtime).
   */
  migrationPid?: number;
}

function cmdline(pid: number): string {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").filter((s) => s).join(" ");
  } catch {
    return "";
  }
}

interface IpLink {
  ifname: string;
  flags?: string[];
}

interface IpAddr {
  ifname: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

function parseJson<T>(text: string): T[] {
  try {
    const value = JSON.parse(text || "[]");
    return Array.isArray(value) ? value as T[] : [];
  } catch {
    return [];
  }
}

/** The lab's current state on this machine. */
export async function status(lab: Lab, options: { shell?: Shell } = {}): Promise<LabStatus> {
  const shell = options.shell ?? defaultShell;
  const runDir = lab.runDir ?? `.run/labs/${lab.name}`;
  const state = await readState(runDir);
  const migrationPid = await lockOwner(migrateLockPath(runDir));
  const podman = migrationPid === undefined && which("podman") !== undefined &&
    (lab.hosts.some((h) => h.kind === "pod") ||
      lab.switches.some((s) => s.kind === "bmv2-container"));
  const inv = await takeInventory(shell, lab.name, podman);
  const links = new Map(
    parseJson<IpLink>((await shell.run(["ip", "-j", "link", "show"], { check: false })).stdout)
      .map((l) => [l.ifname, l]),
  );

  const hosts: HostStatus[] = [];
  for (const h of lab.hosts) {
    const netns = h.netns ?? `${lab.id}-${h.name}`;
    const present = inv.netns.has(netns);
    let addresses: string[] = [];
    let processes: ProcessInfo[] = [];
    if (present) {
      const addr = await shell.run(inNetns(netns, ["ip", "-j", "addr", "show", "dev", h.iface]), {
        check: false,
      });
      addresses = parseJson<IpAddr>(addr.stdout).flatMap((a) =>
        (a.addr_info ?? []).filter((i) => i.family === "inet").map((i) =>
          `${i.local}/${i.prefixlen}`
        )
      );
      const pids = await shell.run(["ip", "netns", "pids", netns], { check: false });
      processes = pids.stdout.split(/\s+/).map(Number).filter((p) => p > 0)
        .map((pid) => ({ pid, command: cmdline(pid) }));
    }
    hosts.push({
      name: h.name,
      kind: h.kind,
      netns,
      present,
      ip: h.ip,
      prefix: h.prefix,
      mac: h.mac,
      iface: h.iface,
      addresses,
      processes,
      ...(h.pod ? { pod: { name: h.pod, status: inv.pods.get(h.pod) } } : {}),
    });
  }

  const switches: SwitchStatus[] = lab.switches.map((sw) => {
    const ports = sw.ports.map((p) => ({
      port: p.port,
      iface: p.iface,
      present: inv.links.has(p.iface),
      up: links.get(p.iface)?.flags?.includes("UP") ?? false,
      peer: p.peer.kind === "host"
        ? `host ${p.peer.host}`
        : `switch ${p.peer.switch}:${p.peer.port}`,
    }));
    const base = {
      name: sw.name,
      kind: sw.kind,
      deviceId: sw.deviceId,
      grpcPort: sw.grpcPort,
      thriftPort: sw.thriftPort,
      ports,
    };
    if (sw.kind === "bmv2-container") {
      const name = sw.container ?? `${lab.id}-${sw.name}`;
      const cstate = inv.containers.get(name);
      return {
        ...base,
        running: /^running$/i.test(cstate ?? ""),
        container: { name, state: cstate },
      };
    }
    const pid = livePid(switchPidFile(runDir, sw.name), "simple_switch_grpc");
    return { ...base, running: pid !== undefined, ...(pid ? { pid } : {}) };
  });

  return {
    lab: lab.name,
    id: lab.id ?? "",
    phase: state?.phase ?? "down",
    ...(state ? { since: state.startedAt } : {}),
    hosts,
    switches,
    problems: state && migrationPid === undefined ? await findProblems(shell, state, inv) : [],
    skipped: state?.skipped ?? [],
    ...(migrationPid ? { migrationPid } : {}),
  };
}
