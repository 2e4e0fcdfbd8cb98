/**
 * The hook through which `up` starts switches. The topology code does not know how BMv2 is
 * configured (P4 program, log options, readiness); the switch module does. `up` calls a
 * {@link StartSwitch} for each switch after the topology exists, having recorded beforehand what
 * `down` must remove: the pid file (kind `bmv2`) or the container name (kind `bmv2-container`).
 *
 * {@link switchStarter} adapts a function that builds the `simple_switch_grpc` argv into a
 * {@link StartSwitch} that runs it as a detached process or in the BMv2 container.
 *
 * @module
 */
import { loopbackOnlyEnv } from "../bmv2/loopback_shim.ts";
import { setEgressQueueDepth } from "../bmv2/thrift.ts";
import { assertSwitchPortsFree, logTail } from "../bmv2/switch.ts";
import { waitForPort } from "../net/port.ts";
import { LAB_LABEL } from "../lab/naming.ts";
import type { Lab, Switch } from "../lab/types.ts";
import { type Progress, silentProgress } from "../progress.ts";
import { type Shell, spawnDetached } from "../shell.ts";
import { ensureBmv2Image } from "./bmv2_image.ts";
import { withToolCommand } from "../tools.ts";

/** What a switch starter gets. */
export interface SwitchStartContext {
  lab: Lab;
  switch: Switch;
  shell: Shell;
  progress: Progress;
  /** The lab's run directory (exists). */
  runDir: string;
  /** Where the switch's output should go. */
  logFile: string;
  /**
   * Kind `bmv2`: the starter MUST write the switch's pid here (as `spawnDetached` does); `down`
   * kills that pid if it still runs `simple_switch_grpc`.
   */
  pidFile: string;
  /** A directory for pcaps (exists). */
  pcapDir: string;
  /** Kind `bmv2-container`: the starter MUST name the container this (`down` removes it). */
  containerName: string;
  /** Labels the starter must put on any container it creates. */
  labels: Record<string, string>;
}

/** Starts one switch; resolves once it runs (ideally once its gRPC port accepts connections). */
export type StartSwitch = (ctx: SwitchStartContext) => Promise<void>;

/** Builds the full `simple_switch_grpc` argv (argv[0] included) for a switch. */
export type SwitchArgvBuilder = (ctx: SwitchStartContext) => string[] | Promise<string[]>;

/** Directories of absolute paths in argv (also in `--opt=/path`), to bind-mount into a container. */
export function pathDirs(argv: readonly string[]): string[] {
  const dirs = new Set<string>();
  for (const arg of argv.slice(1)) {
    const m = /(?:^|=)(\/[^\s,]*)$/.exec(arg);
    if (!m) continue;
    const path = m[1];
    dirs.add(path.endsWith("/") ? path.slice(0, -1) || "/" : path.replace(/\/[^/]*$/, "") || "/");
  }
  // A directory inside another one is covered by the outer mount.
  const sorted = [...dirs].sort();
  return sorted.filter((d) => !sorted.some((o) => o !== d && (o === "/" || d.startsWith(`${o}/`))));
}

/**
 * `podman run` argv for a containerised switch: the host's network (BMv2 opens the switch-side
 * interfaces and listens on 127.0.0.1), privileged (raw sockets, promiscuous mode), the
 * directories of every path in the argv mounted at the same place, output to the log file.
 */
export function switchContainerArgv(
  ctx: SwitchStartContext,
  image: string,
  switchArgv: readonly string[],
  env: Record<string, string> = {},
): string[] {
  const envDirs = Object.values(env).filter((v) => v.startsWith("/")).map((v) =>
    v.slice(0, v.lastIndexOf("/")) || "/"
  );
  const mounts = [...new Set([...pathDirs(switchArgv), ...envDirs, ctx.runDir])]
    .sort()
    .filter((d, _i, all) => !all.some((o) => o !== d && d.startsWith(`${o}/`)));
  return [
    "podman",
    "run",
    "--detach",
    "--name",
    ctx.containerName,
    ...Object.entries(ctx.labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]),
    "--network",
    "host",
    "--privileged",
    "--log-driver",
    "k8s-file",
    "--log-opt",
    `path=${ctx.logFile}`,
    ...mounts.flatMap((d) => ["--volume", `${d}:${d}`]),
    ...Object.entries(env).flatMap(([k, v]) => ["--env", `${k}=${v}`]),
    image,
    ...switchArgv.slice(1),
  ];
}

export interface SwitchStarterOptions {
  /** Wait for the gRPC port to accept connections (default true). */
  waitReady?: boolean;
  readyTimeoutMs?: number;
}

/**
 * A {@link StartSwitch} running the argv from `argvFor`: detached (kind `bmv2`) or in the BMv2
 * image, built on first use (kind `bmv2-container`).
 */
export function switchStarter(
  argvFor: SwitchArgvBuilder,
  options: SwitchStarterOptions = {},
): StartSwitch {
  return async (ctx) => {
    assertSwitchPortsFree(ctx.switch, ctx.lab.name);
    // A bare `simple_switch_grpc` is the BMv2 lib/tools.ts finds (P4CF_BMV2, PATH, /usr/local/…).
    const argv = withToolCommand(await argvFor(ctx));
    // BMv2's Thrift server listens on every address unless the shim binds it to loopback.
    const env = await loopbackOnlyEnv();
    if (ctx.switch.kind === "bmv2-container") {
      const image = await ensureBmv2Image(ctx.shell, ctx.progress ?? silentProgress);
      await ctx.shell.run(switchContainerArgv(ctx, image, argv, env));
    } else {
      await spawnDetached(ctx.shell, argv, { logFile: ctx.logFile, pidFile: ctx.pidFile, env });
    }
    // As long as lib/bmv2/switch.ts waits: a loaded 2-core machine needs more than 10 s at times.
    const timeoutMs = options.readyTimeoutMs ?? 15_000;
    if (options.waitReady === false) return;
    if (!(await waitForPort(ctx.switch.grpcPort, { timeoutMs }))) {
      throw new Error(
        `Switch ${ctx.switch.name} did not open gRPC port ${ctx.switch.grpcPort} within ` +
          `${timeoutMs} ms (${ctx.logFile}): ${await logTail(ctx.logFile)}`,
      );
    }
    await setEgressQueueDepth(ctx.switch.thriftPort, ctx.switch.queueDepth);
  };
}

/** The labels every container of a lab carries. */
export function labLabels(lab: Lab): Record<string, string> {
  return { [LAB_LABEL]: lab.name };
}
