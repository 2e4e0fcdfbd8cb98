/**
 * Runs a lab switch as a BMv2 `simple_switch_grpc` process: the argv (pure) and a start/stop
 * helper that waits until the P4Runtime gRPC port accepts connections.
 *
 * @module
 */
import { waitForPort } from "../net/port.ts";
import { loopbackOnlyEnv } from "./loopback_shim.ts";
import { setEgressQueueDepth } from "./thrift.ts";
import { UserError } from "../errors.ts";
import { describeOwner, portInUse, portOwners } from "../net/port_owner.ts";
import type { Switch } from "../lab/types.ts";
import { defaultShell, pidAlive, type Shell, signalProcess, spawnDetached } from "../shell.ts";
import { toolCommand } from "../tools.ts";

export type Bmv2LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "off";

export interface Bmv2Options {
  /** Directory for the switch's log, pid and pcap files (created by {@link startSwitch}). */
  runDir: string;
  /** BMv2 JSON to load at start; without it the switch waits for SetForwardingPipelineConfig. */
  bmv2Json?: string;
  /** BMv2 event log level (default "info"; "trace" logs every table lookup). */
  logLevel?: Bmv2LogLevel;
  /** Write a pcap per port into `<runDir>/pcap`. */
  pcap?: boolean;
  /** CPU port for packet-in/out (none by default: the program does not use one). */
  cpuPort?: number;
  /**
   * Executable (default in {@link bmv2Argv}: `simple_switch_grpc`; {@link startSwitch} runs the
   * one lib/tools.ts finds, e.g. through P4CF_BMV2).
   */
  binary?: string;
}

/** Files the switch writes under the run directory. */
export function switchFiles(sw: Switch, runDir: string) {
  const base = `${runDir.replace(/\/+$/, "")}/${sw.name}`;
  return {
    /** BMv2's event log (packets, table hits) as given to --log-file. */
    eventLog: `${base}.log`,
    /** stdout and stderr of the process. */
    output: `${base}.out`,
    pidFile: `${base}.pid`,
    pcapDir: `${base}-pcap`,
    /** nanomsg socket for notifications; BMv2's default /tmp/bmv2-<device-id>-... collides
     * between parallel labs that reuse device ids. */
    notifications: `${base}-notifications.ipc`,
  };
}

/** The simple_switch_grpc argv for a lab switch (pure). */
export function bmv2Argv(sw: Switch, options: Bmv2Options): string[] {
  const files = switchFiles(sw, options.runDir);
  const argv = [options.binary ?? "simple_switch_grpc", "--device-id", String(sw.deviceId)];
  for (const p of [...sw.ports].sort((a, b) => a.port - b.port)) {
    argv.push("-i", `${p.port}@${p.iface}`);
  }
  argv.push("--thrift-port", String(sw.thriftPort));
  argv.push("--notifications-addr", `ipc://${files.notifications}`);
  argv.push("--log-file", files.eventLog, "--log-level", options.logLevel ?? "info", "--log-flush");
  // --pcap takes an optional value, so it must be attached with '='.
  if (options.pcap) argv.push(`--pcap=${files.pcapDir}`);
  argv.push(options.bmv2Json ?? "--no-p4");
  argv.push("--", "--grpc-server-addr", `127.0.0.1:${sw.grpcPort}`);
  if (options.cpuPort !== undefined) argv.push("--cpu-port", String(options.cpuPort));
  return argv;
}

/**
 * Throws when the switch's gRPC or Thrift port is taken: BMv2 would fail to bind but keep
 * running, and whoever holds the port (another lab's switch) would get this lab's pipeline.
 */
export function assertSwitchPortsFree(sw: Switch, labName?: string): void {
  for (const [key, port] of [["grpc_port", sw.grpcPort], ["thrift_port", sw.thriftPort]] as const) {
    if (!portInUse(port)) continue;
    const owners = portOwners(port).map(describeOwner).join(", ") || "another network user";
    throw new UserError(
      `Cannot start switch ${sw.name}${labName ? ` of lab ${labName}` : ""}: port ${port} ` +
        `(${key}) is in use by ${owners}`,
      {
        hint: `take down the lab using it, or give ${sw.name} another ${key} in the lab file`,
      },
    );
  }
}

/** A switch process started by {@link startSwitch}. */
export interface RunningSwitch {
  name: string;
  pid: number;
  /** `127.0.0.1:<port>` of its P4Runtime server. */
  grpcAddress: string;
  files: ReturnType<typeof switchFiles>;
}

export interface StartSwitchOptions extends Bmv2Options {
  shell?: Shell;
  /** How long to wait for the gRPC port (default 15 s). */
  timeoutMs?: number;
}

/**
 * Starts simple_switch_grpc detached and resolves once its gRPC port accepts a TCP connection.
 * Throws (after stopping it) if the process exits or the port stays closed past the timeout.
 */
export async function startSwitch(sw: Switch, options: StartSwitchOptions): Promise<RunningSwitch> {
  const files = switchFiles(sw, options.runDir);
  assertSwitchPortsFree(sw);
  await Deno.mkdir(options.runDir, { recursive: true });
  if (options.pcap) await Deno.mkdir(files.pcapDir, { recursive: true });
  const argv = bmv2Argv(sw, { ...options, binary: options.binary ?? toolCommand("bmv2") });
  const pid = await spawnDetached(options.shell ?? defaultShell, argv, {
    logFile: files.output,
    pidFile: files.pidFile,
    env: await loopbackOnlyEnv(),
  });
  const running = { name: sw.name, pid, grpcAddress: `127.0.0.1:${sw.grpcPort}`, files };
  const ready = await waitForPort(sw.grpcPort, {
    timeoutMs: options.timeoutMs ?? 15_000,
    stillRunning: () => pidAlive(pid),
  });
  if (ready) {
    try {
      await setEgressQueueDepth(sw.thriftPort, sw.queueDepth);
    } catch (err) {
      await stopSwitch(running);
      throw err;
    }
    return running;
  }
  if (!pidAlive(pid)) {
    throw new Error(`Switch ${sw.name} exited during start-up: ${await logTail(files.output)}`);
  }
  await stopSwitch(running);
  throw new Error(
    `Switch ${sw.name} did not open gRPC port ${sw.grpcPort} within ` +
      `${options.timeoutMs ?? 15_000} ms: ${await logTail(files.output)}`,
  );
}

/** Stops a switch: SIGTERM, then SIGKILL if it is still there after `timeoutMs` (default 3 s). */
export async function stopSwitch(
  running: Pick<RunningSwitch, "pid">,
  options: { timeoutMs?: number } = {},
): Promise<void> {
  if (!pidAlive(running.pid)) return;
  signalProcess(running.pid, "SIGTERM");
  const deadline = Date.now() + (options.timeoutMs ?? 3000);
  while (Date.now() < deadline) {
    if (!pidAlive(running.pid)) return;
    await sleep(50);
  }
  signalProcess(running.pid, "SIGKILL");
  const killDeadline = Date.now() + 2000;
  while (pidAlive(running.pid) && Date.now() < killDeadline) await sleep(50);
}

/** The last lines of a switch's output file, for error messages. */
export async function logTail(path: string): Promise<string> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.trim().split("\n").slice(-8).join("\n") || "(no output)";
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
