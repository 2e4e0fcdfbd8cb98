/**
 * A four-namespace network for exercising CRIU migration without the P4 switch: a client, a
 * router running the nft-stand-in load balancer, and a source and a target host on their own
 * subnets (so the server's address really changes). Used by the self-check and the CRIU tests.
 *
 * ```
 *  client 10.99.1.2 ── 10.99.1.1 router 10.99.2.1 ── 10.99.2.2 source
 *                         (VIP 10.99.9.9)  10.99.3.1 ── 10.99.3.2 target
 * ```
 *
 * The addresses live inside the rig's own namespaces, so parallel rigs never collide; only the
 * namespace names carry the unique prefix. Interfaces are created directly inside their
 * namespaces, never on the host.
 *
 * With `pods`, the source and the target are Podman pods (for container migration), wired the
 * way a lab wires `pod` hosts: each pod is created with `--network none` and its infra
 * container's namespace is attached under the host's netns name (Podman 4.3 pods cannot join an
 * existing namespace), so everything else treats both kinds alike.
 *
 * @module
 */
import { defaultShell, inNetns, pidAlive, type Shell, spawnDetached } from "../shell.ts";
import { buildWorkloads, type WorkloadPaths } from "../workloads/build.ts";
import { type ClientRecord, parseClientLog } from "../workloads/client_log.ts";
import { removePodCgroups } from "../topology/pod_cgroups.ts";
import { applyStandIn, type StandInConfig } from "./nft_standin.ts";

export interface RigHost {
  netns: string;
  /** Interface inside the host's namespace. */
  iface: string;
  ip: string;
  /** The router's address on this host's link. */
  gateway: string;
  /** The router-side interface of this host's link. */
  routerIface: string;
  /** Podman pod owning this host's namespace (pod rigs only; same name as `netns`). */
  pod?: string;
}

export interface RigPlan {
  prefix: string;
  router: string;
  client: RigHost;
  source: RigHost;
  target: RigHost;
  vip: string;
  port: number;
  standInTable: string;
}

export type RigRole = "source" | "target";

/**
 * The rig's names and addresses for a unique prefix (at most 10 characters). With `pods`, the
 * source and the target are Podman pods named like their namespaces.
 */
export function planRig(prefix: string, port = 7000, options: { pods?: boolean } = {}): RigPlan {
  if (!/^[a-z0-9]{1,10}$/.test(prefix)) {
    throw new Error(`rig prefix "${prefix}" must be 1-10 lower-case letters or digits`);
  }
  const host = (
    name: string,
    subnet: number,
    iface: string,
    routerIface: string,
    pod = false,
  ): RigHost => ({
    netns: `${prefix}-${name}`,
    iface,
    ip: `10.99.${subnet}.2`,
    gateway: `10.99.${subnet}.1`,
    routerIface,
    ...(pod ? { pod: `${prefix}-${name}` } : {}),
  });
  const pods = options.pods ?? false;
  return {
    prefix,
    router: `${prefix}-rtr`,
    client: host("cli", 1, "eth0", "to-cli"),
    source: host("src", 2, "eth0", "to-src", pods),
    target: host("dst", 3, "eth0", "to-dst", pods),
    vip: "10.99.9.9",
    port,
    standInTable: `${prefix}_lb`,
  };
}

/** The rig's pod hosts (none unless planned with `pods`). */
export function rigPodHosts(plan: RigPlan): RigHost[] {
  return [plan.source, plan.target].filter((h) => h.pod !== undefined);
}

/** Infra container of a rig pod. */
export function rigInfraName(pod: string): string {
  return `${pod}-infra`;
}

/**
 * Argvs creating and starting the rig's pods, before {@link rigSetupArgvs}; each pod's
 * namespace must then be attached under its host's netns name (`ip netns attach`, which needs
 * the infra container's pid).
 */
export function rigPodArgvs(plan: RigPlan): string[][] {
  return rigPodHosts(plan).flatMap((h) => [
    [
      "podman",
      "pod",
      "create",
      "--name",
      h.pod!,
      "--infra-name",
      rigInfraName(h.pod!),
      "--network",
      "none",
      "--hostname",
      h.netns,
    ],
    ["podman", "pod", "start", h.pod!],
  ]);
}

/** Argvs creating the rig's namespaces (pods' are attached already) and links, in order. */
export function rigSetupArgvs(plan: RigPlan): string[][] {
  const hosts = [plan.client, plan.source, plan.target];
  const argvs: string[][] = [];
  for (const ns of [plan.router, ...hosts.map((h) => h.netns)]) {
    if (!hosts.some((h) => h.netns === ns && h.pod)) argvs.push(["ip", "netns", "add", ns]);
    argvs.push(["ip", "-n", ns, "link", "set", "lo", "up"]);
  }
  for (const h of hosts) {
    argvs.push(
      // Created inside the host's namespace: `ip link add eth0 netns X ...` first makes `eth0`
      // here, which fails on kernels (Debian 12's 6.1) where this machine has an eth0 itself.
      [
        "ip",
        "-n",
        h.netns,
        "link",
        "add",
        h.iface,
        "type",
        "veth",
        "peer",
        "name",
        h.routerIface,
        "netns",
        plan.router,
      ],
      ["ip", "-n", h.netns, "addr", "add", `${h.ip}/24`, "dev", h.iface],
      ["ip", "-n", h.netns, "link", "set", h.iface, "up"],
      ["ip", "-n", h.netns, "route", "add", "default", "via", h.gateway],
      ["ip", "-n", plan.router, "addr", "add", `${h.gateway}/24`, "dev", h.routerIface],
      ["ip", "-n", plan.router, "link", "set", h.routerIface, "up"],
    );
  }
  argvs.push(inNetns(plan.router, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]));
  return argvs;
}

/**
 * Argvs deleting the rig's pods (with their containers) and namespaces (their links and nft
 * tables go with them).
 */
export function rigTeardownArgvs(plan: RigPlan): string[][] {
  return [
    ...rigPodHosts(plan).map((h) => ["podman", "pod", "rm", "--force", "--time", "0", h.pod!]),
    ...[plan.router, plan.client.netns, plan.source.netns, plan.target.netns]
      .map((ns) => ["ip", "netns", "del", ns]),
  ];
}

/** The stand-in's configuration with `active` receiving the VIP's traffic. */
export function rigStandIn(plan: RigPlan, active: RigRole): StandInConfig {
  return {
    table: plan.standInTable,
    vip: plan.vip,
    port: plan.port,
    backends: [plan.source.ip, plan.target.ip],
    active: plan[active].ip,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * How long the rig's client waits for an answer before it declares the connection broken, ms.
 * A connection that is really lost still fails waitForAnswers at its own deadline.
 */
export const RIG_CLIENT_TIMEOUT_MS = 120_000;

/** A live rig: owns its namespaces, processes and temporary directory until {@link dispose}. */
export class MigrationRig {
  private readonly pids = new Set<number>();
  clientPid?: number;

  private constructor(
    readonly plan: RigPlan,
    /** Temporary directory for logs and images. */
    readonly dir: string,
    readonly bin: WorkloadPaths,
    private readonly shell: Shell,
  ) {}

  /**
   * Builds the workloads, creates the namespaces (with `pods`, the source's and the target's
   * are Podman pods') and points the stand-in at the source.
   */
  static async create(
    options: { prefix?: string; port?: number; shell?: Shell; pods?: boolean } = {},
  ): Promise<MigrationRig> {
    const shell = options.shell ?? defaultShell;
    const prefix = options.prefix ?? `p4r${crypto.randomUUID().slice(0, 6)}`;
    const bin = await buildWorkloads();
    const plan = planRig(prefix, options.port, { pods: options.pods });
    const dir = await Deno.makeTempDir({ prefix: `${prefix}-` });
    const rig = new MigrationRig(plan, dir, bin, shell);
    try {
      for (const argv of rigPodArgvs(plan)) await shell.run(argv);
      for (const h of rigPodHosts(plan)) {
        const infra = rigInfraName(h.pod!);
        const out = await shell.run(["podman", "inspect", "--format", "{{.State.Pid}}", infra]);
        const pid = Number(out.stdout.trim());
        if (!(pid > 0)) throw new Error(`pod ${h.pod}: infra container ${infra} is not running`);
        await shell.run(["ip", "netns", "attach", h.netns, String(pid)]);
      }
      for (const argv of rigSetupArgvs(plan)) await shell.run(argv);
      await applyStandIn(plan.router, rigStandIn(plan, "source"), shell);
    } catch (err) {
      await rig.dispose();
      throw err;
    }
    return rig;
  }

  /**
   * Starts counter_server on a host, bound to its address; resolves once it listens.
   * `ballastMb` gives it that much memory to carry (see lab/workloads/counter_server.c).
   */
  async startServer(
    role: RigRole = "source",
    options: { ballastMb?: number } = {},
  ): Promise<number> {
    const host = this.plan[role];
    const logFile = `${this.dir}/server-${role}.log`;
    const ballast = options.ballastMb ? [String(options.ballastMb)] : [];
    const pid = await spawnDetached(
      this.shell,
      [this.bin.counter_server, String(this.plan.port), host.ip, ...ballast],
      { netns: host.netns, logFile, pidFile: `${this.dir}/server-${role}.pid` },
    );
    this.pids.add(pid);
    // Writing a large ballast first takes a while (minutes under emulation).
    for (let i = 0; i < 500 + (options.ballastMb ?? 0) * 20; i++) {
      const log = await Deno.readTextFile(logFile).catch(() => "");
      if (log.includes("listening")) return pid;
      if (!pidAlive(pid)) throw new Error(`counter_server exited: ${log.trim()}`);
      await sleep(10);
    }
    throw new Error(`counter_server did not start listening (see ${logFile})`);
  }

  /** Where the client writes its JSON lines. */
  get clientLog(): string {
    return `${this.dir}/client.jsonl`;
  }

  /** Starts counter_client in the client namespace, talking to the VIP. */
  async startClient(conns = 2, intervalMs = 10): Promise<number> {
    const pid = await spawnDetached(
      this.shell,
      [
        this.bin.counter_client,
        "-H",
        this.plan.vip,
        "-p",
        String(this.plan.port),
        "-c",
        String(conns),
        "-i",
        String(intervalMs),
        // Not the client's 20 s: a rolled-back migration (a failed restore, then one on the
        // source) holds the server frozen longer than that in an emulated VM (~22 s measured).
        "-t",
        String(RIG_CLIENT_TIMEOUT_MS),
        "-o",
        this.clientLog,
      ],
      {
        netns: this.plan.client.netns,
        logFile: `${this.dir}/client.stderr`,
        pidFile: `${this.dir}/client.pid`,
      },
    );
    this.pids.add(pid);
    this.clientPid = pid;
    return pid;
  }

  /** Registers a process (e.g. a restored server) to be killed by {@link dispose}. */
  track(pid: number): void {
    this.pids.add(pid);
  }

  /** Points the VIP at the source or the target. */
  async flip(to: RigRole): Promise<void> {
    await applyStandIn(this.plan.router, rigStandIn(this.plan, to), this.shell);
  }

  /** The client's records so far. */
  async clientRecords(): Promise<ClientRecord[]> {
    return parseClientLog(await Deno.readTextFile(this.clientLog).catch(() => ""), this.clientLog);
  }

  /**
   * Waits until every one of `conns` connections has `count` answers that arrived after
   * `sinceMs` (unix ms). Fails early when a connection breaks.
   */
  async waitForAnswers(conns: number, count: number, sinceMs = 0, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const records = await this.clientRecords();
      const broken = records.find((r) => r.kind === "event");
      if (broken) {
        throw new Error(`client connection ${broken.conn} broke: ${JSON.stringify(broken)}`);
      }
      const per = new Array(conns).fill(0);
      for (const r of records) if (r.kind === "answer" && r.at > sinceMs) per[r.conn]++;
      if (per.every((n) => n >= count)) return;
      if (Date.now() > deadline) {
        throw new Error(`client answers after ${sinceMs}: ${per.join(", ")}; wanted ${count} each`);
      }
      await sleep(10);
    }
  }

  /** Stops the client (SIGTERM) and waits for it to exit. */
  async stopClient(): Promise<void> {
    if (this.clientPid === undefined) return;
    await this.stop(this.clientPid);
  }

  /** Stops one of the rig's processes: SIGTERM, then SIGKILL after a second. */
  async stop(pid: number): Promise<void> {
    if (!this.isOurs(pid)) return;
    try {
      Deno.kill(pid, "SIGTERM");
    } catch { /* already gone */ }
    for (let i = 0; i < 100 && pidAlive(pid); i++) await sleep(10);
    if (pidAlive(pid)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* already gone */ }
    }
  }

  /** True when `pid` is alive and still one of our workload binaries (not a reused pid). */
  private isOurs(pid: number): boolean {
    if (!pidAlive(pid)) return false;
    try {
      const exe = Deno.readLinkSync(`/proc/${pid}/exe`);
      return exe === this.bin.counter_server || exe === this.bin.counter_client;
    } catch {
      return false;
    }
  }

  /**
   * Kills every process of the rig, removes its pods (with their containers and the cgroups
   * Podman leaves of them), deletes its namespaces and its temporary directory.
   */
  async dispose(options: { keepDir?: boolean } = {}): Promise<void> {
    for (const pid of this.pids) await this.stop(pid);
    const podIds: string[] = [];
    for (const h of rigPodHosts(this.plan)) {
      const out = await this.shell.run(
        ["podman", "pod", "inspect", "--format", "{{.Id}}", h.pod!],
        { check: false },
      );
      if (out.code === 0) podIds.push(out.stdout.trim());
    }
    for (const argv of rigTeardownArgvs(this.plan)) {
      await this.shell.run(argv, { check: false });
    }
    removePodCgroups(podIds);
    if (!options.keepDir) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
