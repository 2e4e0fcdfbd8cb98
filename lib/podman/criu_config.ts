/**
 * A per-container CRIU configuration file, which is how a Podman migration reaches CRIU options
 * that neither Podman nor runc expose.
 *
 * runc hands CRIU the file named by the container's `org.criu.config` annotation, and CRIU lets
 * that file override what runc asked for over RPC. The lab sets the annotation when it starts a
 * container workload; the migration rewrites the file's content before each Podman call.
 *
 * Why each option, all measured here on a small server (Podman 4.3, runc 1.1, CRIU 4.2, a hybrid
 * cgroup layout):
 * - `network-lock nftables`: the default iptables lock runs up to six `iptables-restore`
 *   processes between unlocking the network and resuming the tasks (~95 ms of the frozen
 *   window); nftables does it in-process (~12 ms).
 * - `action-script` with {@link criuHookScript}: CRIU freezes the container's cgroup and, if the
 *   first read says FREEZING, polls it in 100 ms steps; a busy server made that 0 or 100 ms at
 *   random. The hook freezes the cgroup in 1 ms steps at CRIU's `pre-dump` point, and CRIU then
 *   finds it frozen and skips its own wait. It then waits {@link FREEZE_SETTLE_MS} before CRIU
 *   locks the connections (~5 ms later): a request a client sent just before the freeze is
 *   queued in the socket meanwhile, dumped and answered after the restore, where one reaching
 *   the lock would be dropped and wait for the client's retransmission (>= 200 ms). Freezing
 *   there rather than before `podman container checkpoint` starts keeps the ~90 ms Podman, runc
 *   and CRIU need to get there out of the outage. When a dump fails after the freeze, CRIU leaves
 *   the cgroup frozen, so the caller thaws it through the hook ({@link THAW_ACTION}).
 * - `leave-stopped` (only for the restore of a migration): the restored server stays stopped
 *   until the switch points at it, as a migrated process does. A server that answered its
 *   queued requests first would have its client's next request sent to the old, locked address
 *   and retransmitted 200 ms or more later. The hook writes the restored pid to a file at
 *   `pre-resume`, so the caller knows whom to SIGCONT without asking Podman (~30 ms).
 * - `cgroup-root` (only for a restore into another pod on a pure cgroup v2 machine): the
 *   container's new cgroup, which runc 1.1 does not get across to CRIU there
 *   (lib/podman/cgroup_root.ts); without it the next checkpoint fails.
 *
 * @module
 */
import { shellQuote } from "../shell.ts";

/** The annotation runc reads the CRIU configuration file's path from. */
export const CRIU_CONFIG_ANNOTATION = "org.criu.config";

/** Where a lab keeps a container workload's CRIU configuration file. */
export function criuConfigPath(runDir: string, workload: string): string {
  return `${runDir}/criu/${workload}.conf`;
}

/** The action script that goes with a configuration file (one per file, beside it). */
export function criuHookPath(configPath: string): string {
  return configPath.replace(/\.conf$/, "") + "-hook.sh";
}

/** Where the action script records the pid of the last restored task. */
export function restoredPidPath(configPath: string): string {
  return configPath.replace(/\.conf$/, "") + ".restored-pid";
}

/**
 * Where the action script records, at CRIU's `post-dump` point, the pid of the task it dumped:
 * every image is written then, so a migration can restore from them while Podman and runc are
 * still finishing the checkpoint (unmounting, exporting).
 */
export function dumpedPidPath(configPath: string): string {
  return configPath.replace(/\.conf$/, "") + ".dumped-pid";
}

export interface CriuConfigOptions {
  /** Path of the action script ({@link criuHookScript}). */
  actionScript: string;
  /** Leave restored tasks stopped; the caller sends SIGCONT. */
  leaveStopped?: boolean;
  /**
   * The restored container's cgroup, for a restore into another pod on a pure cgroup v2
   * machine, where runc's own root does not reach CRIU (see lib/podman/cgroup_root.ts).
   */
  cgroupRoot?: string;
}

/** The configuration file's text (CRIU's format: one long option per line, no dashes). */
export function criuConfigText(options: CriuConfigOptions): string {
  const lines = [
    "# Written by P4ContainerFlow for a lab container; see lib/podman/criu_config.ts.",
    "network-lock nftables",
    `action-script ${options.actionScript}`,
  ];
  if (options.leaveStopped) lines.push("leave-stopped");
  if (options.cgroupRoot) lines.push(`cgroup-root ${options.cgroupRoot}`);
  return lines.join("\n") + "\n";
}

/**
 * How long the hook keeps the frozen container unlocked before CRIU goes on, ms: one request
 * interval of the labs' client (10 ms) plus a round trip through BMv2 and some slack, so the
 * request a stop-and-wait client sent after the last answer arrives before the lock.
 */
export const FREEZE_SETTLE_MS = 15;

/** The action the hook takes outside CRIU: thaw the cgroup of `CRTOOLS_INIT_PID`. */
export const THAW_ACTION = "p4cf-thaw";

/**
 * CRIU action script. At `pre-dump` it freezes the dumped task's cgroup (v1 freezer or v2
 * cgroup.freeze), waits for it in 1 ms steps, then `settleMs` more (see {@link FREEZE_SETTLE_MS});
 * from the freeze on it checks with shell builtins only, as each process it started would add
 * 1-10 ms to the frozen window;
 * if freezing takes over a second it thaws the cgroup and leaves freezing to CRIU. At
 * `pre-resume` it writes the restored pid to `pidFile`, and at `post-dump` the dumped one to
 * `dumpedFile` (when given; see {@link dumpedPidPath}). The migration also runs it itself
 * ({@link hookArgv}) with {@link THAW_ACTION} after a failed dump, so the cgroup is found in one
 * place.
 */
export function criuHookScript(
  pidFile: string,
  settleMs = FREEZE_SETTLE_MS,
  dumpedFile?: string,
): string {
  const settle = settleMs > 0 ? `sleep ${(settleMs / 1000).toFixed(3)}; ` : "";
  const dumped = dumpedFile
    ? `\n  post-dump) echo "$CRTOOLS_INIT_PID" > ${shellQuote(dumpedFile)}; exit 0 ;;`
    : "";
  return `#!/bin/sh
# Written by P4ContainerFlow (lib/podman/criu_config.ts); CRIU runs it at each action point.
case "$CRTOOLS_SCRIPT_ACTION" in
  pre-resume) echo "$CRTOOLS_INIT_PID" > ${shellQuote(pidFile)}; exit 0 ;;${dumped}
  pre-dump) thaw= ;;
  ${THAW_ACTION}) thaw=1 ;;
  *) exit 0 ;;
esac
cgroups=/proc/$CRTOOLS_INIT_PID/cgroup
v1=$(sed -n 's/^[0-9]*:freezer://p' "$cgroups")
if [ -n "$v1" ]; then
  f=/sys/fs/cgroup/freezer$v1/freezer.state
  [ -w "$f" ] || exit 0
  [ -n "$thaw" ] && { echo THAWED > "$f"; exit 0; }
  echo FROZEN > "$f"
  i=0
  while [ $i -lt 1000 ]; do
    read -r s < "$f"; [ "$s" = FROZEN ] && { ${settle}exit 0; }; sleep 0.001; i=$((i + 1))
  done
  echo THAWED > "$f"
else
  d=/sys/fs/cgroup$(sed -n 's/^0:://p' "$cgroups")
  [ -w "$d/cgroup.freeze" ] || exit 0
  [ -n "$thaw" ] && { echo 0 > "$d/cgroup.freeze"; exit 0; }
  echo 1 > "$d/cgroup.freeze"
  i=0
  while [ $i -lt 1000 ]; do
    while read -r k v; do
      [ "$k $v" = "frozen 1" ] && { ${settle}exit 0; }
    done < "$d/cgroup.events"
    sleep 0.001; i=$((i + 1))
  done
  echo 0 > "$d/cgroup.freeze"
fi
exit 0
`;
}

/** Runs the configuration's hook for `action` on process `pid`, as CRIU would. */
export function hookArgv(configPath: string, action: string, pid: number): string[] {
  return [
    "env",
    `CRTOOLS_SCRIPT_ACTION=${action}`,
    `CRTOOLS_INIT_PID=${pid}`,
    criuHookPath(configPath),
  ];
}

/** Writes the hook (once) and the configuration file with the given options. */
export async function writeCriuConfig(
  configPath: string,
  options: { leaveStopped?: boolean; cgroupRoot?: string } = {},
): Promise<void> {
  const hook = criuHookPath(configPath);
  await Deno.mkdir(configPath.slice(0, configPath.lastIndexOf("/")), { recursive: true });
  const script = criuHookScript(
    restoredPidPath(configPath),
    FREEZE_SETTLE_MS,
    dumpedPidPath(configPath),
  );
  await Deno.writeTextFile(hook, script, { mode: 0o755 });
  await Deno.writeTextFile(
    configPath,
    criuConfigText({
      actionScript: hook,
      leaveStopped: options.leaveStopped,
      cgroupRoot: options.cgroupRoot,
    }),
  );
}
